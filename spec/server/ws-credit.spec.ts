/**
 * Upload credit on the WebSocket endpoint, over raw sockets: the uploads of one socket share
 * `WS_UPLOAD_WINDOW` by age (so what a chat frame can wait behind does not grow with their number, and
 * they end one after another: decision 133), no upload gets less than `WS_MIN_UPLOAD_WINDOW`, and a
 * client that sends exactly up to each `ack`'s limit is always acknowledged again, whatever its frame
 * sizes, until the upload completes.
 */
import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startServer, type FerryServer } from '../../src/server/server.js';
import { encodeData, uploadCredit, WS_MIN_UPLOAD_WINDOW, WS_UPLOAD_WINDOW } from '../../src/protocol/ws-frames.js';
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

  it('shares: a minimum each, the rest by halves of age, adding up to the window (or the minimums), non-increasing', () => {
    fc.assert(
      fc.property(fc.integer({ min: 1, max: 64 }), (count) => {
        const shares = Array.from({ length: count }, (_, rank) => uploadCredit(rank, count));
        const beyond = Math.max(0, WS_UPLOAD_WINDOW - count * WS_MIN_UPLOAD_WINDOW);
        expect(shares[0]).toBe(count === 1 ? WS_UPLOAD_WINDOW : WS_MIN_UPLOAD_WINDOW + Math.floor(beyond / 2));
        for (const [rank, share] of shares.entries()) {
          expect(share).toBeGreaterThanOrEqual(WS_MIN_UPLOAD_WINDOW);
          if (rank > 0) expect(share).toBeLessThanOrEqual(shares[rank - 1] as number);
        }
        // What a chat frame can wait behind: the window, or the minimums when they are more (less rounding).
        const sum = shares.reduce((a, b) => a + b, 0);
        const whole = Math.max(WS_UPLOAD_WINDOW, count * WS_MIN_UPLOAD_WINDOW);
        expect(sum).toBeLessThanOrEqual(whole);
        expect(sum).toBeGreaterThan(whole - count);
      }),
      fcOptions(200),
    );
  });

  it('gives each upload of a socket its share by age, the oldest the most, as uploads come and go', async () => {
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
    // The k-th upload to start is the youngest of k.
    expect(credits).toEqual(credits.map((_, i) => uploadCredit(i, i + 1)));
    // The oldest, sending up to its first credit, is acknowledged with its share of all of them now...
    const chunk = new Uint8Array(64 * 1024).fill(1);
    for (let at = 0; at < (credits[0] as number); at += chunk.length) socket.ws.send(encodeData(1, at, chunk));
    let ack = await nextAck(socket, 1);
    while (ack.offset < (credits[0] as number)) ack = await nextAck(socket, 1);
    expect(ack.limit - ack.offset).toBe(uploadCredit(0, count));
    // ...and the youngest, once all but it ended, has the whole window.
    for (let i = 1; i < count; i++) socket.ws.send(JSON.stringify({ type: 'cancel', transfer: i }));
    for (let i = 1; i < count; i++) expect((await socket.next('error')).failure?._tag).toBe('Interrupted');
    // Its first quarter kept (its credit was the minimum) is acknowledged with what it has now.
    socket.ws.send(encodeData(count, 0, chunk.subarray(0, WS_MIN_UPLOAD_WINDOW / 4)));
    ack = await nextAck(socket, count);
    expect(ack.offset).toBe(WS_MIN_UPLOAD_WINDOW / 4);
    expect(ack.limit - ack.offset).toBe(WS_UPLOAD_WINDOW);
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
