/**
 * Protocol versions on the WebSocket endpoint (decision 110): a client of version 1 is still answered,
 * with the data frames of version 1 (64 KiB of media at most, either way), a client of version 2 gets
 * frames of `WS_LARGE_CHUNK_SIZE`, a frame over its socket's limit closes the socket with 1009, and an
 * unknown version is refused with an error frame naming the versions and 1008. Raw sockets, so each
 * version is spoken exactly as an older or newer client speaks it.
 */
import { randomBytes } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startServer, type FerryServer } from '../../src/server/server.js';
import { createClient } from '../../src/index.js';
import { wsTransport } from '../../transports/ws.js';
import { DATA_HEADER_SIZE, encodeData, WS_CHUNK_SIZE, WS_LARGE_CHUNK_SIZE, WS_PROTOCOL_VERSION } from '../../src/protocol/ws-frames.js';
import { type Raw, raw, type RawFrame } from './ws-raw.js';

describe('WebSocket protocol versions', () => {
  let server: FerryServer;
  beforeAll(async () => {
    server = await startServer({ port: 0 });
  });
  afterAll(async () => {
    await server.close();
  });

  /** Answers (result or error) by call ID, per socket. */
  const answers = new WeakMap<Raw, Map<number, (frame: RawFrame) => void>>();
  /** A raw socket that said `hello` with `version`; its welcome. */
  const helloWith = async (version: number, userId: string): Promise<{ socket: Raw; binary: Buffer[]; welcome: RawFrame }> => {
    const socket = await raw(server.wsUrl);
    const binary: Buffer[] = [];
    const waiting = new Map<number, (frame: RawFrame) => void>();
    answers.set(socket, waiting);
    socket.ws.on('message', (data, isBinary) => {
      if (isBinary) return void binary.push(data as Buffer);
      const parsed = JSON.parse(String(data)) as RawFrame | RawFrame[];
      for (const frame of Array.isArray(parsed) ? parsed : [parsed]) {
        if ((frame.type === 'result' || frame.type === 'error') && frame.id !== undefined) waiting.get(frame.id)?.(frame);
      }
    });
    socket.ws.send(JSON.stringify({ type: 'hello', version, userId, token: server.issueToken(userId) }));
    return { socket, binary, welcome: await socket.next('welcome') };
  };
  let calls = 0;
  /** Sends a call and waits for its answer (result or error). */
  const ask = (socket: Raw, body: Record<string, unknown>): Promise<RawFrame> => {
    const id = ++calls;
    const answer = answered(socket, id);
    socket.ws.send(JSON.stringify({ type: 'call', id, ...body }));
    return answer;
  };
  const answered = (socket: Raw, id: number): Promise<RawFrame> => new Promise((resolve) => answers.get(socket)?.set(id, resolve));
  /** Uploads `bytes` over `socket` in data frames of `frameSize`, within the server's credit; the final answer. */
  const upload = async (socket: Raw, bytes: Uint8Array, frameSize: number): Promise<{ answer: RawFrame; mediaId: string }> => {
    const created = await ask(socket, { op: 'createUpload', size: bytes.length, fileName: 'v.bin' });
    const { uploadId } = created.value as { uploadId: string };
    const transfer = ++calls;
    const id = ++calls;
    const answer = answered(socket, id);
    socket.ws.send(JSON.stringify({ type: 'call', id, op: 'append', transfer, uploadId, offset: 0 }));
    let limit = 0;
    for (let at = 0; at < bytes.length; ) {
      while (at >= limit) limit = Math.max(limit, ((await socket.next('ack')) as unknown as { limit: number }).limit);
      const end = Math.min(bytes.length, at + frameSize, limit);
      socket.ws.send(encodeData(transfer, at, bytes.subarray(at, end)));
      at = end;
    }
    const frame = await answer;
    return { answer: frame, mediaId: uploadId };
  };
  /** Reads `mediaId` over `socket`, granting credit for all of it at once; the data frames' sizes and the bytes. */
  const download = async (socket: Raw, binary: Buffer[], mediaId: string, size: number): Promise<{ frameSizes: number[]; bytes: Buffer }> => {
    binary.length = 0;
    const answer = await ask(socket, { op: 'read', transfer: ++calls, mediaId, offset: 0, limit: size });
    expect(answer.type).toBe('result');
    const frameSizes = binary.map((frame) => frame.length);
    return { frameSizes, bytes: Buffer.concat(binary.map((frame) => frame.subarray(DATA_HEADER_SIZE))) };
  };

  it('still answers a client of version 1, with data frames of version 1 both ways', async () => {
    const { socket, binary, welcome } = await helloWith(1, 'old');
    expect(welcome.chunkSize).toBe(WS_CHUNK_SIZE);
    const bytes = randomBytes(3 * WS_CHUNK_SIZE + 17);
    const { answer, mediaId } = await upload(socket, bytes, WS_CHUNK_SIZE);
    expect(answer.type).toBe('result');
    const { frameSizes, bytes: read } = await download(socket, binary, mediaId, bytes.length);
    expect(read.equals(bytes)).toBe(true);
    expect(Math.max(...frameSizes)).toBe(WS_CHUNK_SIZE + DATA_HEADER_SIZE);
    socket.ws.close();
  });

  it('closes a socket of version 1 that sends a data frame of version 2 with 1009', async () => {
    const { socket } = await helloWith(1, 'old-big');
    const created = await ask(socket, { op: 'createUpload', size: WS_LARGE_CHUNK_SIZE, fileName: 'v.bin' });
    const { uploadId } = created.value as { uploadId: string };
    socket.ws.send(JSON.stringify({ type: 'call', id: ++calls, op: 'append', transfer: 1, uploadId, offset: 0 }));
    await socket.next('ack');
    socket.ws.send(encodeData(1, 0, new Uint8Array(WS_CHUNK_SIZE + 1)));
    expect((await socket.closed).code).toBe(1009);
  });

  it('sends and takes data frames of up to WS_LARGE_CHUNK_SIZE with a client of version 2', async () => {
    expect(WS_PROTOCOL_VERSION).toBe(2);
    const { socket, binary, welcome } = await helloWith(2, 'new');
    expect(welcome.chunkSize).toBe(WS_LARGE_CHUNK_SIZE);
    const bytes = randomBytes(2 * WS_LARGE_CHUNK_SIZE + 5);
    const { answer, mediaId } = await upload(socket, bytes, WS_LARGE_CHUNK_SIZE);
    expect(answer.type).toBe('result');
    const { frameSizes, bytes: read } = await download(socket, binary, mediaId, bytes.length);
    expect(read.equals(bytes)).toBe(true);
    // The store's chunks are gathered: full frames, then the rest.
    expect(frameSizes).toEqual([WS_LARGE_CHUNK_SIZE + DATA_HEADER_SIZE, WS_LARGE_CHUNK_SIZE + DATA_HEADER_SIZE, 5 + DATA_HEADER_SIZE]);
    // One byte over the limit of version 2 closes the socket as `ws` does past `maxPayload`.
    socket.ws.send(encodeData(99, 0, new Uint8Array(WS_LARGE_CHUNK_SIZE + 1)));
    expect((await socket.closed).code).toBe(1009);
  });

  it('refuses an unknown version with an error frame naming the versions it answers, then 1008', async () => {
    const socket = await raw(server.wsUrl);
    socket.ws.send(JSON.stringify({ type: 'hello', version: 3, userId: 'future', token: server.issueToken('future') }));
    const error = await socket.next('error');
    expect(error.failure?._tag).toBe('InvalidArgument');
    expect(String(error.message)).toContain('1, 2');
    expect((await socket.closed).code).toBe(1008);
  });

  it('moves a file through the client of this version, which masks its frame buffers in place, intact', async () => {
    const client = createClient({ transport: wsTransport({ url: server.wsUrl }) });
    await client.login({ userId: 'client', token: server.issueToken('client') });
    const bytes = randomBytes(5 * WS_LARGE_CHUNK_SIZE + 3);
    const copy = Buffer.from(bytes);
    const message = await client.createFileMessageByUploading(bytes).result;
    // The source is the caller's: masking happens in the link's own buffers, never in it.
    expect(Buffer.from(bytes).equals(copy)).toBe(true);
    const read = await client.downloadMediaToMemory(message.mediaId).result;
    expect(Buffer.from(read).equals(copy)).toBe(true);
    await client.logout();
  });
});
