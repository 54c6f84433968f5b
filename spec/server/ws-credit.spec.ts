/**
 * Upload credit on the WebSocket endpoint, over raw sockets: the uploads of one socket share
 * `WS_UPLOAD_WINDOW` (so what a chat frame can wait behind does not grow with their number), no upload
 * gets less than `WS_MIN_UPLOAD_WINDOW`, and a client that sends exactly up to each `ack`'s limit is
 * always acknowledged again, whatever its frame sizes, until the upload completes.
 */
import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startServer, type FerryServer } from '../../src/server/server.js';
import { encodeData, WS_MIN_UPLOAD_WINDOW, WS_UPLOAD_WINDOW } from '../../src/protocol/ws-frames.js';
import { fcOptions } from '../properties/support.js';
import { type Raw, raw } from './ws-raw.js';

interface Ack {
  readonly offset: number;
  readonly limit: number;
}

describe('upload credit on the WebSocket endpoint', () => {
  let server: FerryServer;
  beforeAll(async () => {
    // The credit property leaves hundreds of idle uploads of one user unfinished: the per-user upload
    // limits are not what it tests, so they are raised here.
    server = await startServer({ port: 0, limits: { unfinishedUploads: 1_000_000, storedBytes: 1024 ** 4 } });
  });
  afterAll(async () => {
    await server.close();
  });

  let calls = 0;
  const call = async (socket: Raw, body: Record<string, unknown>): Promise<void> => {
    socket.ws.send(JSON.stringify({ type: 'call', id: ++calls, ...body }));
  };
  const loggedIn = async (userId: string): Promise<Raw> => {
    const socket = await raw(server.wsUrl);
    socket.ws.send(JSON.stringify({ type: 'hello', version: 1, userId, token: server.issueToken(userId) }));
    await socket.next('welcome');
    return socket;
  };
  const created = async (socket: Raw, size: number): Promise<string> => {
    await call(socket, { op: 'createUpload', size, fileName: 'f.bin' });
    return ((await socket.next('result')).value as { uploadId: string }).uploadId;
  };
  const nextAck = async (socket: Raw, transfer: number): Promise<Ack> => {
    for (;;) {
      const frame = await socket.next('ack');
      if (frame.transfer === transfer) return frame as unknown as Ack;
    }
  };

  it('shares the window among the uploads of a socket, never below the minimum', async () => {
    const socket = await loggedIn('sharer');
    const count = Math.ceil(WS_UPLOAD_WINDOW / WS_MIN_UPLOAD_WINDOW) + 2;
    const ids: string[] = [];
    for (let i = 0; i < count; i++) ids.push(await created(socket, 10 * 1024 * 1024));
    const credits: number[] = [];
    for (const [i, uploadId] of ids.entries()) {
      await call(socket, { op: 'append', transfer: i + 1, uploadId, offset: 0 });
      const first = await nextAck(socket, i + 1);
      expect(first.offset).toBe(0);
      credits.push(first.limit);
    }
    // The k-th upload to start shares with the k − 1 still running.
    expect(credits).toEqual(credits.map((_, i) => Math.max(WS_MIN_UPLOAD_WINDOW, Math.floor(WS_UPLOAD_WINDOW / (i + 1)))));
    socket.ws.close();
  });

  it('acknowledges a client that sends only within its credit until the upload completes, as its share changes', async () => {
    const socket = await loggedIn('within');
    let transfers = 0;
    await fc.assert(
      fc.asyncProperty(
        fc.integer({ min: 1, max: 2 * WS_UPLOAD_WINDOW + 1 }),
        // Frames of at least 1 KiB: smaller ones may pass the server's queued-frame bound (documented).
        fc.integer({ min: 1_024, max: 65_536 }),
        // Idle uploads sharing the socket when this one starts, cancelled after its first ack: its share
        // then grows, and the next ack must still come from what it was allowed to send.
        // (More than four share makes the first credit less than a quarter of the whole window.)
        fc.integer({ min: 0, max: 8 }),
        async (size, frameSize, idle) => {
          const others: number[] = [];
          for (let i = 0; i < idle; i++) {
            const other = await created(socket, WS_UPLOAD_WINDOW);
            others.push(++transfers);
            await call(socket, { op: 'append', transfer: transfers, uploadId: other, offset: 0 });
            await nextAck(socket, transfers);
          }
          const uploadId = await created(socket, size);
          const transfer = ++transfers;
          await call(socket, { op: 'append', transfer, uploadId, offset: 0 });
          const bytes = new Uint8Array(frameSize).fill(7);
          let limit = (await nextAck(socket, transfer)).limit;
          for (const other of others) socket.ws.send(JSON.stringify({ type: 'cancel', transfer: other }));
          // Their calls are answered once they stopped: from then on this upload has the whole window.
          for (const _ of others) expect((await socket.next('error')).failure?._tag).toBe('Interrupted');
          let acked = 0;
          for (let at = 0; at < size; ) {
            while (at >= limit) {
              const ack = await nextAck(socket, transfer);
              expect(ack.offset).toBeGreaterThan(acked);
              acked = ack.offset;
              limit = Math.max(limit, ack.limit);
            }
            const length = Math.min(frameSize, size - at, limit - at);
            socket.ws.send(encodeData(transfer, at, bytes.subarray(0, length)));
            at += length;
          }
          let result = await socket.next('result');
          while ((result.value as { uploadId?: string } | undefined)?.uploadId !== uploadId) result = await socket.next('result');
          expect(result.value).toMatchObject({ uploadId, offset: size, complete: true });
        },
      ),
      fcOptions(6),
    );
    socket.ws.close();
  });
});
