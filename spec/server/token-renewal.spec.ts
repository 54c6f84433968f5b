/**
 * Token renewal against the real server, on a virtual clock shared by the server's hub and the client
 * (the transports' own reconnect timers run on real time): the issue's acceptance over HTTP (a 3 s
 * token renewed at 1 s still uploads at 5 s; without renewal the session ends TOKEN_EXPIRED and the
 * upload fails 102), and over HTTP and WebSocket a renewed token is the one a fresh login uses after a
 * server restart, past the first token's expiry.
 */
import { describe, expect, it } from 'vitest';
import { type Client, type ConnectionChange, createClient, textMessage, virtualClock, type VirtualClock } from '../../src/index.js';
import type { FerryServer } from '../../src/server/server.js';
import { httpTransport } from '../../transports/http.js';
import type { Transport } from '../../transports/transport.js';
import { wsTransport } from '../../transports/ws.js';
import { bearer, delay, eventually, newDataDir, send, start, tus } from './http-support.js';

const SECRET = 'token renewal spec';
const reconnectDelays = [0, 50, 100];

interface Watched {
  readonly client: Client;
  readonly changes: ConnectionChange[];
  readonly warned: number[];
  readonly expired: number[];
}

const watch = async (server: FerryServer, clock: VirtualClock, transport: Transport, token: string): Promise<Watched> => {
  const client = createClient({ transport, clock });
  const watched: Watched = { client, changes: [], warned: [], expired: [] };
  client.connectionChange$.subscribe((change) => watched.changes.push(change));
  client.tokenWillExpire$.subscribe(() => watched.warned.push(clock.now()));
  client.tokenExpired$.subscribe(() => watched.expired.push(clock.now()));
  await client.login({ userId: 'alice', token });
  return watched;
};
const last = (changes: readonly ConnectionChange[]): string => {
  const change = changes.at(-1);
  return change ? `${change.state}/${change.reason}` : 'none';
};
/** Moves the shared clock, then lets the server's and the client's I/O settle. */
const advance = async (clock: VirtualClock, ms: number): Promise<void> => {
  clock.advance(ms);
  await delay(30);
};

describe('token renewal over HTTP (the issue’s acceptance)', () => {
  it('a client that logged in with a 3-second token and renewed it at 1 s still uploads at 5 s', async () => {
    const clock = virtualClock(Date.UTC(2026, 11, 1));
    const t0 = clock.now();
    const server = await start({ clock, secret: SECRET });
    const alice = await watch(server, clock, httpTransport({ url: server.url, reconnectDelays }), server.issueToken('alice', 3_000));
    await advance(clock, 1_000);
    await alice.client.renewToken(server.issueToken('alice', 10_000));
    await advance(clock, 4_000);
    const { mediaId } = await alice.client.createFileMessageByUploading(new Uint8Array(1_000).fill(7)).result;
    expect(mediaId).toMatch(/^[\w-]{22,}$/);
    expect(last(alice.changes)).toBe('CONNECTED/LOGIN_SUCCESS');
    // The first token's warning (due at 1.5 s) was cancelled by the renewal; the new one's is due at
    // 11 s − min(30 s, 10 s / 2) = 6 s.
    expect(alice.warned).toEqual([]);
    await advance(clock, 1_000);
    expect(alice.warned).toEqual([t0 + 6_000]);
    expect(alice.expired).toEqual([]);
    await alice.client.logout();
  });

  it('without renewal the session ends at 3 s with ABORTED/TOKEN_EXPIRED, and the upload at 5 s fails with 102', async () => {
    const clock = virtualClock(Date.UTC(2026, 11, 1));
    const t0 = clock.now();
    const server = await start({ clock, secret: SECRET });
    const token = server.issueToken('alice', 3_000);
    const alice = await watch(server, clock, httpTransport({ url: server.url, reconnectDelays }), token);
    await advance(clock, 1_500);
    expect(alice.warned).toEqual([t0 + 1_500]);
    await advance(clock, 1_500);
    await eventually(() => last(alice.changes) === 'ABORTED/TOKEN_EXPIRED');
    expect(alice.expired).toEqual([t0 + 3_000]);
    await advance(clock, 2_000);
    const error = await alice.client.createFileMessageByUploading(new Uint8Array(1_000)).result.catch((e: unknown) => e);
    expect(error).toMatchObject({ name: 'UploadError', code: 102 });
    // The server says why to anyone still holding the old token.
    const raw = await send(server.uploadsUrl, { method: 'POST', headers: tus(token, { 'Upload-Length': '10' }) });
    expect(raw.status).toBe(401);
    expect(raw.failure()._tag).toBe('TokenExpired');
    // And renewing now is too late: the session is gone.
    expect(await alice.client.renewToken(server.issueToken('alice')).catch((e: unknown) => e)).toMatchObject({ name: 'RenewTokenError', code: 102 });
  });

  it('answers PUT /v1/sessions/<id>/token with the new expiry, and refuses another user’s token with 403 Rejected', async () => {
    const clock = virtualClock(Date.UTC(2026, 11, 1));
    const server = await start({ clock, secret: SECRET });
    const token = server.issueToken('alice', 3_000);
    const created = await send(`${server.url}/v1/sessions`, {
      method: 'POST',
      headers: { ...bearer(token), 'Content-Type': 'application/json' },
      body: Buffer.from('{"userId":"alice"}'),
    });
    const { sessionId, expiresAt } = JSON.parse(created.body.toString()) as { sessionId: string; expiresAt: number };
    expect(expiresAt).toBe(clock.now() + 3_000);
    const renewed = await send(`${server.url}/v1/sessions/${sessionId}/token`, { method: 'PUT', headers: bearer(server.issueToken('alice', 60_000)) });
    expect(renewed.status).toBe(200);
    expect(JSON.parse(renewed.body.toString())).toEqual({ expiresAt: clock.now() + 60_000 });
    const mallory = await send(`${server.url}/v1/sessions/${sessionId}/token`, { method: 'PUT', headers: bearer(server.issueToken('mallory')) });
    expect(mallory.status).toBe(403);
    expect(mallory.failure()._tag).toBe('Rejected');
  });
});

describe.each([
  ['http', (server: FerryServer) => httpTransport({ url: server.url, reconnectDelays })],
  ['ws', (server: FerryServer) => wsTransport({ url: server.wsUrl, reconnectDelays })],
] as const)('token renewal over %s', (_name, transportTo) => {
  it('keeps the session past the first token, and a fresh login after a server restart uses the renewed token', async () => {
    const clock = virtualClock(Date.UTC(2026, 11, 1));
    const dataDir = newDataDir();
    const first = await start({ clock, dataDir, secret: SECRET }, { keep: true });
    const alice = await watch(first, clock, transportTo(first), first.issueToken('alice', 3_000));
    const bob = createClient({ transport: transportTo(first), clock });
    let bobState = '';
    bob.connectionState$.subscribe((state) => {
      bobState = state;
    });
    await bob.login({ userId: 'bob', token: first.issueToken('bob', 3_600_000) });
    await advance(clock, 1_000);
    await alice.client.renewToken(first.issueToken('alice', 60_000));
    await advance(clock, 4_000);
    expect(last(alice.changes)).toBe('CONNECTED/LOGIN_SUCCESS');

    await first.close();
    await eventually(() => last(alice.changes) === 'RECONNECTING/INTERRUPTED');
    const second = await start({ clock, dataDir, secret: SECRET, port: Number(new URL(first.url).port) });
    // The first token expired 2 s ago: only the renewed one can log in again.
    await eventually(() => last(alice.changes) === 'CONNECTED/LOGIN_SUCCESS' && bobState === 'CONNECTED', 10_000);
    const heard: string[] = [];
    alice.client.peerMessages$.subscribe(({ message }) => heard.push(message.messageType === 'TEXT' ? message.text : '?'));
    await bob.sendMessageToPeer('alice', textMessage('renewed'));
    await eventually(() => heard.length === 1);
    expect(heard).toEqual(['renewed']);
    expect(alice.expired).toEqual([]);
    await Promise.allSettled([alice.client.logout(), bob.logout()]);
    await second.close();
  });
});
