/**
 * Issue 12, found by a review of the guard work and fixed: an event stream ended while its reader was
 * behind crashed the process at its next heartbeat; creates batched in one WebSocket frame all passed the
 * same limit check; downloads a client never credits held a file each without bound.
 */
import { connect, Socket } from 'node:net';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import * as E from 'fp-ts/lib/Either.js';
import { afterEach, describe, expect, it } from 'vitest';
import { createClient, createHub, textMessage } from '../../src/index.js';
import { httpTransport } from '../../transports/http.js';
import { sessionsRoute } from '../../src/server/sessions.js';
import { bytesOf, delay, start } from './http-support.js';
import { type Raw, type RawFrame, rawLoggedIn } from './ws-raw.js';
import type { FerryServer } from '../../src/server/server.js';

describe('an event stream ended while its reader is behind', () => {
  let http: Server | undefined;
  afterEach(async () => {
    http?.closeAllConnections();
    await new Promise((resolve) => (http ? http.close(resolve) : resolve(undefined)));
    http = undefined;
  });

  it('is cut, and its heartbeat never writes to it after the end (that was an uncaught error: the process exited)', async () => {
    const hub = createHub({ limits: { messageRate: { limit: Infinity, windowMs: 1_000 } } });
    // A replay as long as the flood, so the stalled reader is not cut for falling behind it: bytes stay unsent.
    const route = sessionsRoute({ hub, prefix: '/v1/sessions', heartbeatMs: 20, replayBytes: 256 * 1024 * 1024, replayEvents: 10_000 });
    http = createServer((req, res) => {
      const segments = (req.url ?? '/').split('?')[0]?.slice('/v1/sessions'.length).split('/').filter((s) => s !== '') ?? [];
      void route.handle({ req, res, method: req.method ?? 'GET', segments, signal: new AbortController().signal });
    });
    await new Promise<void>((resolve) => http?.listen(0, '127.0.0.1', resolve));
    const { port } = http.address() as AddressInfo;
    const token = hub.issueToken('slow');
    const login = await fetch(`http://127.0.0.1:${port}/v1/sessions`, {
      method: 'POST',
      headers: { Authorization: `Bearer ${token}`, 'Content-Type': 'application/json' },
      body: JSON.stringify({ userId: 'slow' }),
    });
    const { sessionId } = (await login.json()) as { sessionId: string };
    const events = (): Socket => {
      const socket = connect(port, '127.0.0.1');
      socket.write(`GET /v1/sessions/${sessionId}/events HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer ${token}\r\n\r\n`);
      socket.on('error', () => undefined);
      return socket;
    };
    const stalled = events();
    stalled.pause();
    await delay(50);
    // Fill the kernel's buffers (a few MiB on loopback) and leave bytes unsent in the response itself.
    const sender = await hub.login('sender', hub.issueToken('sender'));
    if (E.isLeft(sender)) throw new Error('login failed');
    for (let i = 0; i < 1_000; i++) await hub.sendToPeer(sender.right, 'slow', { messageType: 'TEXT', text: 'x'.repeat(30_000) });
    await delay(50);
    // The client reconnects (a half-open link): the old stream is replaced while bytes are stuck in it.
    const fresh = events();
    const began = Date.now();
    const closed = new Promise((resolve) => stalled.once('close', resolve));
    stalled.resume();
    await closed;
    // Cut at once, not after its 30 MB were read.
    expect(Date.now() - began).toBeLessThan(3_000);
    // Several heartbeats later the process is still here, and the new stream still serves.
    await delay(120);
    let received = '';
    fresh.on('data', (chunk: Buffer) => (received += chunk.toString('latin1')));
    await hub.sendToPeer(sender.right, 'slow', { messageType: 'TEXT', text: 'after' });
    await expect.poll(() => received.includes('after'), { timeout: 5_000 }).toBe(true);
    fresh.destroy();
    route.close();
    hub.close();
  });
});

/** Media of 10 bytes created by alice's raw socket (call id 1) and completed through the hub. */
const tenBytesOf = async (server: FerryServer, socket: Raw): Promise<string> => {
  socket.ws.send(JSON.stringify({ type: 'call', id: 1, op: 'createUpload', size: 10, fileName: 'f' }));
  const { uploadId } = (await socket.next('result')).value as { uploadId: string };
  await server.hub.appendUpload('alice', uploadId, 0, (async function* () {
    yield bytesOf(10, 1);
  })());
  return uploadId;
};

describe('limits under a batch of calls in one WebSocket frame', () => {
  it('checks creates one after the other: of 60 in one frame, 20 are created and 40 refused', async () => {
    const server = await start();
    const socket = await rawLoggedIn(server.wsUrl, 'alice', server.issueToken('alice'));
    const calls = Array.from({ length: 60 }, (_, i) => ({ type: 'call', id: i + 1, op: 'createUpload', size: 30 * 1024 * 1024, fileName: 'f' }));
    socket.ws.send(JSON.stringify(calls));
    const answers = (): RawFrame[] => socket.frames.filter((f) => f.type === 'result' || f.type === 'error');
    await expect.poll(() => answers().length, { timeout: 10_000 }).toBe(60);
    const all = answers();
    expect(all.filter((f) => f.type === 'result')).toHaveLength(20);
    expect(all.filter((f) => f.type === 'error' && f.failure?._tag === 'LimitExceeded')).toHaveLength(40);
    socket.ws.close();
  });

  it('refuses the 33rd WebSocket transfer of a user at once with LimitExceeded, and never opens a file for a read without credit', async () => {
    const server = await start();
    const token = server.issueToken('alice');
    const socket = await rawLoggedIn(server.wsUrl, 'alice', token);
    const uploadId = await tenBytesOf(server, socket);
    for (let transfer = 1; transfer <= 33; transfer++) {
      socket.ws.send(JSON.stringify({ type: 'call', id: 100 + transfer, op: 'read', transfer, mediaId: uploadId, offset: 0, limit: 0 }));
    }
    expect(await socket.next('error')).toMatchObject({ id: 133, failure: { _tag: 'LimitExceeded', limit: 32 } });
    // None of the 32 got a byte: no credit, no read.
    await delay(50);
    expect(socket.frames.filter((f) => f.type === 'result' || f.type === 'error')).toHaveLength(0);
    socket.ws.close();
  });
});

describe('an event stream with nothing to say', () => {
  it('is kept alive by heartbeats under a short idle timeout, and still delivers', async () => {
    const server = await start({ idleTimeoutMs: 1_000 });
    const client = createClient({ transport: httpTransport({ url: server.url }) });
    const states: string[] = [];
    client.connectionState$.subscribe((state) => states.push(state));
    await client.login({ userId: 'quiet', token: server.issueToken('quiet') });
    const received = new Promise((resolve) => client.peerMessages$.subscribe(resolve));
    await delay(2_500);
    const sender = createClient({ transport: httpTransport({ url: server.url }) });
    await sender.login({ userId: 'loud', token: server.issueToken('loud') });
    await sender.sendMessageToPeer('quiet', textMessage('still there?'));
    await received;
    // Never dropped: the heartbeat came twice per idle timeout.
    expect(states).toEqual(['DISCONNECTED', 'CONNECTING', 'CONNECTED']);
    await sender.logout();
    await client.logout();
  });
});

describe('found by the second review', () => {
  it('survives an upgrade to a wrong path whose client resets at once (an unhandled socket error ended the process)', async () => {
    const server = await start();
    const { port } = new URL(server.url);
    for (let i = 0; i < 5; i++) {
      const socket = connect(Number(port), '127.0.0.1');
      socket.on('error', () => undefined);
      await new Promise((resolve) => socket.once('connect', resolve));
      socket.write('GET /nope HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n');
      socket.resetAndDestroy();
    }
    await delay(200);
    expect((await fetch(`${server.url}/healthz`)).status).toBe(200);
  });

  it('answers a WebSocket read at the end of the media at once, and a re-append to complete media does not delete it at logout', async () => {
    const server = await start({ limits: { transfersPerUser: 2 } });
    const socket = await rawLoggedIn(server.wsUrl, 'alice', server.issueToken('alice'));
    const uploadId = await tenBytesOf(server, socket);
    for (let transfer = 1; transfer <= 3; transfer++) {
      socket.ws.send(JSON.stringify({ type: 'call', id: 10 + transfer, op: 'read', transfer, mediaId: uploadId, offset: 10, limit: 10 }));
      expect(await socket.next('result')).toMatchObject({ id: 10 + transfer, value: { size: 10 } });
    }
    // A client that lost the answer of its last append and sends it again is refused, and that is all.
    socket.ws.send(JSON.stringify({ type: 'call', id: 20, op: 'append', transfer: 4, uploadId, offset: 0 }));
    expect(await socket.next('error')).toMatchObject({ id: 20, failure: { _tag: 'Conflict' } });
    socket.ws.send(JSON.stringify({ type: 'call', id: 21, op: 'logout' }));
    await socket.closed;
    await delay(100);
    expect((await server.hub.mediaInfo(uploadId)).size).toBe(10);
  });
});
