/**
 * A WebSocket download's data frames, server side (decision 135): the file store reads each chunk into
 * the frame being filled, and a frame is filled again only once the socket has written it. Raw sockets
 * against a real server with its durable file store: a client that grants credit in odd steps gets
 * frames that start where the last ended and never pass its credit, and a client that stops reading for
 * a while (the server's writes back up behind the kernel's buffers) still gets every byte as stored.
 */
import { randomBytes } from 'node:crypto';
import * as E from 'fp-ts/lib/Either.js';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { createClient } from '../../src/index.js';
import { decodeData, WS_LARGE_CHUNK_SIZE, WS_PROTOCOL_VERSION } from '../../src/protocol/ws-frames.js';
import { type FerryServer, startServer } from '../../src/server/server.js';
import { wsTransport } from '../../transports/ws.js';
import { type Raw, raw, type RawFrame } from './ws-raw.js';

/** A raw socket of this protocol version that said hello; its data frames decoded, its answers by call ID. */
const reader = async (server: FerryServer, userId: string) => {
  const socket: Raw = await raw(server.wsUrl);
  const frames: { offset: number; bytes: Uint8Array; at: number }[] = [];
  const answers = new Map<number, (frame: RawFrame) => void>();
  socket.ws.on('message', (data, isBinary) => {
    if (isBinary) {
      const decoded = decodeData(data as Buffer, WS_LARGE_CHUNK_SIZE);
      if (E.isLeft(decoded)) throw new Error(`bad data frame: ${decoded.left._tag}`);
      frames.push({ offset: decoded.right.offset, bytes: Uint8Array.from(decoded.right.chunk), at: frames.length });
      return;
    }
    const parsed = JSON.parse(String(data)) as RawFrame | RawFrame[];
    for (const frame of Array.isArray(parsed) ? parsed : [parsed]) if (frame.id !== undefined) answers.get(frame.id)?.(frame);
  });
  socket.ws.send(JSON.stringify({ type: 'hello', version: WS_PROTOCOL_VERSION, userId, token: server.issueToken(userId) }));
  await socket.next('welcome');
  const read = (id: number, mediaId: string, offset: number, limit: number): Promise<RawFrame> => {
    const answer = new Promise<RawFrame>((resolve) => answers.set(id, resolve));
    socket.ws.send(JSON.stringify({ type: 'call', id, op: 'read', transfer: id, mediaId, offset, limit }));
    return answer;
  };
  const credit = (transfer: number, limit: number): void => socket.ws.send(JSON.stringify({ type: 'credit', transfer, limit }));
  return { socket, frames, read, credit };
};

/** Waits (at most ten seconds) until `check` holds. */
const until = (check: () => boolean, what: string): Promise<void> =>
  vi.waitFor(
    () => {
      if (!check()) throw new Error(`waiting for ${what}`);
    },
    { timeout: 10_000, interval: 5 },
  );

describe('a WebSocket download from the file store', () => {
  let server: FerryServer;
  const media = randomBytes(12 * 1024 * 1024 + 4321);
  let mediaId = '';
  beforeAll(async () => {
    server = await startServer({ port: 0 });
    const client = createClient({ transport: wsTransport({ url: server.wsUrl }) });
    await client.login({ userId: 'alice', token: server.issueToken('alice') });
    ({ mediaId } = await client.createFileMessageByUploading(media).result);
    await client.logout();
  });
  afterAll(async () => {
    await server.close();
  });

  it('sends frames that follow each other from the offset asked, each within the credit granted before it, in steps of any size down to a byte', async () => {
    const { socket, frames, read, credit } = await reader(server, 'bob');
    const offset = 777;
    const size = 2 * 1024 * 1024 + 999;
    /** The credit granted when each frame arrived: a frame may not pass what was granted before it. */
    const granted: number[] = [];
    let limit = offset + 1_000;
    const answer = read(1, mediaId, offset, limit);
    // Credit in odd steps, each once the frames have caught up with the last (a window smaller than a frame).
    for (let step = 0; limit < media.length; step++) {
      await until(() => (frames.at(-1)?.offset ?? offset) + (frames.at(-1)?.bytes.length ?? 0) >= limit, `the frames up to ${limit}`);
      while (granted.length < frames.length) granted.push(limit);
      // Steps of a few bytes (frames cut from a chunk read once), then larger ones (read into the frames).
      limit = Math.min(media.length, limit + ([1, 3, 1, 70_001, size][step % 5] ?? size));
      credit(1, limit);
    }
    expect((await answer).type).toBe('result');
    while (granted.length < frames.length) granted.push(limit);
    let next = offset;
    for (const frame of frames) {
      expect(frame.offset).toBe(next);
      expect(frame.bytes.length).toBeGreaterThan(0);
      expect(frame.bytes.length).toBeLessThanOrEqual(WS_LARGE_CHUNK_SIZE);
      expect(frame.offset + frame.bytes.length).toBeLessThanOrEqual(granted[frame.at] as number);
      next += frame.bytes.length;
    }
    expect(next).toBe(media.length);
    expect(Buffer.concat(frames.map((frame) => frame.bytes)).equals(media.subarray(offset))).toBe(true);
    socket.ws.close();
  });

  it('gives a reader that stops reading, then reads on, every byte as stored: no frame is filled again before it was written', async () => {
    const { socket, frames, read } = await reader(server, 'carol');
    const tcp = (socket.ws as unknown as { _socket: { pause(): void; resume(): void } })._socket;
    const answer = read(1, mediaId, 0, media.length);
    // Not reading: the kernel's buffers fill, and the server's writes wait with frames handed to the socket.
    await until(() => frames.length > 0, 'the first frame');
    tcp.pause();
    await new Promise((resolve) => setTimeout(resolve, 300));
    tcp.resume();
    expect((await answer).type).toBe('result');
    expect(frames.length).toBeGreaterThan(1);
    expect(Buffer.concat(frames.map((frame) => frame.bytes)).equals(media)).toBe(true);
    socket.ws.close();
  });
});
