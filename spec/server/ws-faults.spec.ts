/**
 * Faults on a real WebSocket: the socket is reset after N bytes (N chosen by fast-check) under an upload
 * and under a download — the client reconnects, resumes its session and the transfer, and the SHA-256
 * matches; messages sent while reconnecting arrive once; a session the server forgot is logged in afresh
 * with its channels rejoined; a link that stays down fails the transfer with 3.
 */
import { createHash } from 'node:crypto';
import fc from 'fast-check';
import { firstValueFrom, filter, take, toArray } from 'rxjs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type Client, createClient, textMessage } from '../../src/index.js';
import { startServer, type FerryServer } from '../../src/server/server.js';
import { wsTransport } from '../../transports/ws.js';
import { fcOptions } from '../properties/support.js';
import { cuttingProxy } from './cutting-proxy.js';

const SIZE = 700_000;
const bytes = (seed: number, size = SIZE): Uint8Array => {
  const out = new Uint8Array(size);
  let x = seed;
  for (let i = 0; i < size; i++) {
    x = (x * 1103515245 + 12345) >>> 0;
    out[i] = x >>> 24;
  }
  return out;
};
const sha = (data: Uint8Array): string => createHash('sha256').update(data).digest('hex');
const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

describe('faults: the WebSocket reset mid-transfer', () => {
  let server: FerryServer;
  let proxy: Awaited<ReturnType<typeof cuttingProxy>>;
  const clients: Client[] = [];
  beforeAll(async () => {
    server = await startServer({ port: 0, wsGraceMs: 300 });
    proxy = await cuttingProxy(server.url);
  });
  afterAll(async () => {
    await Promise.allSettled(clients.map((c) => c.logout()));
    await proxy.close();
    await server.close();
  });

  const client = async (userId: string, idleTimeoutMs = 20_000): Promise<Client> => {
    const url = `${proxy.url.replace(/^http/, 'ws')}/v1/ws`;
    // A short request timeout bounds the cleanup of a transfer that failed while the link is down.
    const c = createClient({ transport: wsTransport({ url, reconnectDelays: [0, 50] }), retryDelays: [0, 50], idleTimeoutMs, requestTimeoutMs: 1_000 });
    await c.login({ userId, token: server.issueToken(userId) });
    clients.push(c);
    return c;
  };

  it('an upload cut after any number of bytes resumes from the server offset and the media hashes right', async () => {
    const alice = await client('alice');
    const states: string[] = [];
    alice.connectionState$.subscribe((s) => states.push(s));
    await fc.assert(
      fc.asyncProperty(fc.integer({ min: 400, max: SIZE }), fc.integer({ min: 1, max: 1_000_000 }), async (cutAt, seed) => {
        const data = bytes(seed);
        const before = proxy.cuts;
        proxy.arm(cutAt, 'up');
        const message = await alice.createFileMessageByUploading(data).result;
        expect(proxy.cuts).toBe(before + 1);
        expect((await server.hub.mediaInfo(message.mediaId)).sha256).toBe(sha(data));
      }),
      fcOptions(20),
    );
    expect(states.filter((s) => s === 'RECONNECTING').length).toBe(20);
    expect(states.at(-1)).toBe('CONNECTED');
  }, 120_000);

  it('a download cut after any number of bytes resumes from the bytes received and hashes right', async () => {
    const bob = await client('bob');
    const data = bytes(42);
    const { mediaId } = await bob.createFileMessageByUploading(data).result;
    await fc.assert(
      fc.asyncProperty(fc.integer({ min: 400, max: SIZE }), async (cutAt) => {
        const before = proxy.cuts;
        proxy.arm(cutAt, 'down');
        const got = await bob.downloadMediaToMemory(mediaId).result;
        expect(proxy.cuts).toBe(before + 1);
        expect(sha(got)).toBe(sha(data));
      }),
      fcOptions(20),
    );
  }, 120_000);

  it('delivers each message sent while reconnecting exactly once, and the events missed meanwhile', async () => {
    const carol = await client('carol');
    const dave = await client('dave');
    const toDave = firstValueFrom(dave.peerMessages$.pipe(take(20), toArray()));
    const toCarol = firstValueFrom(carol.peerMessages$.pipe(take(10), toArray()));
    proxy.arm(0, 'up');
    // The next bytes carol sends cut her socket: these go out while she reconnects.
    const sends = Array.from({ length: 20 }, (_, i) => carol.sendMessageToPeer('dave', textMessage(`m${i}`)));
    for (let i = 0; i < 10; i++) await dave.sendMessageToPeer('carol', textMessage(`r${i}`));
    await Promise.all(sends);
    expect((await toDave).map((e) => (e.message as { text: string }).text)).toEqual(Array.from({ length: 20 }, (_, i) => `m${i}`));
    expect((await toCarol).map((e) => (e.message as { text: string }).text)).toEqual(Array.from({ length: 10 }, (_, i) => `r${i}`));
    await sleep(100);
    const again: unknown[] = [];
    const sub = dave.peerMessages$.subscribe((e) => again.push(e));
    await sleep(50);
    sub.unsubscribe();
    expect(again).toEqual([]);
  }, 30_000);

  it('logs in afresh and rejoins its channels when the server forgot the session', async () => {
    const erin = await client('erin');
    const frank = await client('frank');
    const erinsRoom = erin.createChannel('lobby');
    await erinsRoom.join();
    const room = frank.createChannel('lobby');
    await room.join();
    // Each join asks for the members in the background (for `memberCount$`); a call behind it on the same
    // socket is answered after it, so the links are idle before the next bytes up cut one.
    expect(await erinsRoom.getMembers()).toEqual(['erin', 'frank']);
    expect(await room.getMembers()).toEqual(['erin', 'frank']);
    proxy.setDown(true);
    proxy.arm(0, 'up');
    void erin.sendMessageToPeer('frank', textMessage('cut')).catch(() => undefined);
    // Longer than the server's grace (300 ms): erin's session is forgotten, she left the channel.
    await sleep(600);
    expect(await room.getMembers()).toEqual(['frank']);
    proxy.setDown(false);
    const back = firstValueFrom(erin.connectionState$.pipe(filter((s) => s === 'CONNECTED')));
    await back;
    for (let i = 0; i < 50 && (await room.getMembers()).length < 2; i++) await sleep(20);
    expect(await room.getMembers()).toEqual(['erin', 'frank']);
    const heard = firstValueFrom(erin.createChannel('lobby').messages$);
    await room.sendMessage(textMessage('welcome back'));
    expect(await heard).toMatchObject({ memberId: 'frank', message: { text: 'welcome back' } });
  }, 30_000);

  it('fails a transfer with TIMEOUT (3) when the server stays out of reach past the idle timeout', async () => {
    const gina = await client('gina', 400);
    proxy.setDown(true);
    proxy.arm(1_000, 'up');
    const up = gina.createFileMessageByUploading(bytes(7));
    await expect(up.result).rejects.toMatchObject({ name: 'UploadError', code: 3 });
    proxy.setDown(false);
  }, 30_000);
});
