/**
 * `DirectWebSocket` (`src/platform/node-direct-ws.ts`): the Node WebSocket client (`ws:` and `wss:`) that
 * reads its socket into one reused buffer and large binary messages into pooled blocks.
 * - `FrameReader`, fed the server's bytes in pieces fast-check chooses, each piece overwritten once
 *   `push` returned (as the socket's next read does): every message and ping as sent, whatever the
 *   pieces, fragments and sizes; a message kept while others arrive stays intact; each violation of
 *   RFC 6455 and the size bound closes with its code.
 * - The pool: a block is handed out once until recycled, and foreign or repeated recycles are ignored.
 * - The client against a real `ws` server (and raw `net` servers for broken answers) on loopback: the
 *   handshake, text and binary both ways, pings, the closing handshake from either side, drops and
 *   refusals with the codes the link reads.
 * - Over `wss:`, in a child process that trusts the test certificate (or not): messages intact while
 *   Node decrypts into the read buffer, and an untrusted certificate refused.
 * - Downloads through the transport from a real ferry server, nine at once on one socket and three on
 *   another into memory and files, so frames of different transfers take and recycle pooled blocks in
 *   between and both sockets read into the one TCP buffer: every byte as uploaded.
 */
import { spawn } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { createServer as createHttpServer } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import fc from 'fast-check';
import { afterEach, describe, expect, it } from 'vitest';
import { type WebSocket as WsSocket, WebSocketServer } from 'ws';
import { DirectWebSocket, FrameReader, MAX_MESSAGE_BYTES, POOL_FROM_BYTES, POOLED_MESSAGE_BYTES, recycleMessage, SPARE_BLOCKS } from '../../src/platform/node-direct-ws.js';
import { createClient } from '../../src/index.js';
import { NodeWebSocket } from '../../src/platform/node-websocket.js';
import { WS_MAX_DATA_FRAME } from '../../src/protocol/ws-frames.js';
import { startServer } from '../../src/server/server.js';
import { wsTransport } from '../../transports/ws.js';
import { fcOptions } from '../properties/support.js';
import { rawServer } from './raw-server.js';

/** A frame as a server sends it (unmasked), with the shortest length encoding unless `long` is given. */
const serverFrame = (opcode: number, payload: Uint8Array, fin = true, first = 0): Uint8Array => {
  const length = payload.length;
  const extra = length > 0xffff ? 8 : length > 125 ? 2 : 0;
  const head = new Uint8Array(2 + extra);
  head[0] = (fin ? 0x80 : 0) | first | opcode;
  head[1] = extra === 8 ? 127 : extra === 2 ? 126 : length;
  const view = new DataView(head.buffer);
  if (extra === 2) view.setUint16(2, length);
  if (extra === 8) view.setUint32(6, length);
  return Buffer.concat([head, payload]);
};
const utf8 = (text: string): Uint8Array => Buffer.from(text, 'utf8');
const closePayload = (code: number, reason = ''): Uint8Array => Buffer.concat([Uint8Array.of(code >> 8, code & 0xff), utf8(reason)]);

/** What a reader reported, in order. */
type Heard = { readonly kind: 'text'; readonly text: string } | { readonly kind: 'binary'; readonly bytes: Uint8Array } | { readonly kind: 'ping'; readonly bytes: Uint8Array } | { readonly kind: 'close'; readonly code: number; readonly reason: string } | { readonly kind: 'violation'; readonly code: number };

/**
 * Feeds `stream` to a reader in pieces cut at `cuts`, each piece in a buffer of its own (a `Buffer` with
 * `buffers`) that is filled with 0xEE once `push` returned. `onBinary` sees each binary message as delivered (the reader's memory).
 */
const read = (stream: Uint8Array, cuts: readonly number[], onBinary: (bytes: Uint8Array) => Uint8Array = (bytes) => bytes.slice(), maxMessage?: number, buffers = false): Heard[] => {
  const heard: Heard[] = [];
  const reader = new FrameReader(
    {
      message: (data) => heard.push(typeof data === 'string' ? { kind: 'text', text: data } : { kind: 'binary', bytes: onBinary(data) }),
      ping: (bytes) => heard.push({ kind: 'ping', bytes }),
      close: (code, reason) => heard.push({ kind: 'close', code, reason }),
      violation: (code) => heard.push({ kind: 'violation', code }),
    },
    maxMessage,
  );
  const points = [...new Set(cuts.map((cut) => cut % (stream.length + 1)))].sort((a, b) => a - b);
  let from = 0;
  for (const to of [...points, stream.length]) {
    // A `Buffer` piece too: its `slice` is a view, so the reader must copy another way.
    const piece = buffers ? Buffer.from(stream.subarray(from, to)) : new Uint8Array(stream.subarray(from, to));
    reader.push(piece);
    piece.fill(0xee);
    from = to;
  }
  return heard;
};

/** What was heard, with bytes as their length and SHA-256 (a deep compare of large arrays is slow). */
const comparable = (heard: Heard): unknown =>
  heard.kind === 'binary' || heard.kind === 'ping' ? { kind: heard.kind, length: heard.bytes.length, sha: createHash('sha256').update(heard.bytes).digest('hex') } : heard;

/** A message as the test sends it: its frames (fragments, pings between them) and what must be heard. */
const message = fc
  .record({
    binary: fc.boolean(),
    // Sizes around every boundary the reader has: 125/126, 65,535/65,536, the pool's bounds.
    size: fc.oneof(
      fc.integer({ min: 0, max: 300 }),
      fc.constantFrom(125, 126, 127, 0xffff, 0x10000, POOL_FROM_BYTES - 1, POOL_FROM_BYTES, POOLED_MESSAGE_BYTES, POOLED_MESSAGE_BYTES + 1),
      fc.integer({ min: 1, max: 400_000 }),
    ),
    fragments: fc.integer({ min: 1, max: 4 }),
    pings: fc.array(fc.uint8Array({ maxLength: 125 }), { maxLength: 3 }),
    seed: fc.nat(),
  })
  .map(({ binary, size, fragments, pings, seed }) => {
    const text = binary ? '' : Array.from({ length: Math.ceil(size / 3) }, (_, i) => ['a', 'é', '€', '😀'][(seed + i) % 4]).join('');
    const payload = binary ? randomBytes(size) : utf8(text);
    const frames: Uint8Array[] = [];
    const heard: Heard[] = [];
    const step = Math.ceil(payload.length / fragments) || 1;
    for (let at = 0, index = 0; at < payload.length || index === 0; at += step, index++) {
      const last = at + step >= payload.length;
      frames.push(serverFrame(index === 0 ? (binary ? 2 : 1) : 0, payload.subarray(at, at + step), last));
      // Pings may come between fragments (never before the first: they would just come earlier).
      const ping = pings[index];
      if (!last && ping) {
        frames.push(serverFrame(9, ping));
        heard.push({ kind: 'ping', bytes: ping });
      }
    }
    heard.push(binary ? { kind: 'binary', bytes: new Uint8Array(payload) } : { kind: 'text', text });
    return { frames, heard };
  });

describe('FrameReader', () => {
  it('hears every message and ping as sent, whatever the pieces, fragments and sizes; kept messages stay intact', () => {
    fc.assert(
      fc.property(fc.array(message, { minLength: 1, maxLength: 6 }), fc.array(fc.nat(), { maxLength: 40 }), fc.array(fc.boolean(), { maxLength: 6 }), fc.boolean(), (messages, cuts, keeps, buffers) => {
        const stream = Buffer.concat(messages.flatMap((m) => m.frames));
        // A binary message is either kept as delivered (not recycled) or copied and recycled at once, so
        // the next one may be received into its block: kept ones must not change meanwhile.
        const kept: { readonly view: Uint8Array; readonly copy: Uint8Array }[] = [];
        let index = 0;
        const heard = read(stream, cuts, (bytes) => {
          const copy = bytes.slice();
          if (keeps[index++ % Math.max(1, keeps.length)]) kept.push({ view: bytes, copy });
          else recycleMessage(bytes);
          return copy;
        }, undefined, buffers);
        expect(heard.map(comparable)).toEqual(messages.flatMap((m) => m.heard).map(comparable));
        for (const { view, copy } of kept) expect(Buffer.compare(view, copy)).toBe(0);
        for (const { view } of kept) recycleMessage(view);
      }),
      fcOptions(60),
    );
  });

  it('hears a close frame with its code and reason, and nothing after it', () => {
    const stream = Buffer.concat([serverFrame(1, utf8('before')), serverFrame(8, closePayload(4001, 'fertig ✓')), serverFrame(1, utf8('after'))]);
    fc.assert(
      fc.property(fc.array(fc.nat(), { maxLength: 8 }), (cuts) => {
        expect(read(stream, cuts)).toEqual([
          { kind: 'text', text: 'before' },
          { kind: 'close', code: 4001, reason: 'fertig ✓' },
        ]);
      }),
      fcOptions(50),
    );
    expect(read(serverFrame(8, new Uint8Array(0)), [])).toEqual([{ kind: 'close', code: 1005, reason: '' }]);
  });

  it.each([
    ['a masked frame', Uint8Array.of(0x81, 0x81, 1, 2, 3, 4, 0x61), 1002],
    ['an RSV bit', serverFrame(1, utf8('x'), true, 0x40), 1002],
    ['opcode 3', serverFrame(3, utf8('x')), 1002],
    ['opcode 11', serverFrame(11, utf8('x')), 1002],
    ['a fragmented ping', serverFrame(9, utf8('x'), false), 1002],
    ['a ping of 126 bytes', serverFrame(9, new Uint8Array(126)), 1002],
    ['a continuation with nothing to continue', serverFrame(0, utf8('x')), 1002],
    ['a new message inside a fragmented one', Buffer.concat([serverFrame(1, utf8('a'), false), serverFrame(1, utf8('b'))]), 1002],
    ['text that is not UTF-8', serverFrame(1, Uint8Array.of(0xc3, 0x28)), 1007],
    ['text cut inside a character across fragments', Buffer.concat([serverFrame(1, Uint8Array.of(0xe2, 0x82), false), serverFrame(0, Uint8Array.of(0x41))]), 1007],
    ['a close frame of one byte', serverFrame(8, Uint8Array.of(3)), 1002],
    ['close code 1005', serverFrame(8, closePayload(1005)), 1002],
    ['close code 2999', serverFrame(8, closePayload(2999)), 1002],
    ['a close reason that is not UTF-8', serverFrame(8, Buffer.concat([closePayload(1000), Uint8Array.of(0xff)])), 1007],
    ['a 64-bit length beyond 2^53', Uint8Array.of(0x82, 127, 0xff, 0xff, 0xff, 0xff, 0, 0, 0, 0), 1009],
  ])('closes with the RFC code on %s, and reads nothing after it', (_, bad, code) => {
    const stream = Buffer.concat([bad, serverFrame(1, utf8('after'))]);
    fc.assert(
      fc.property(fc.array(fc.nat(), { maxLength: 6 }), (cuts) => {
        expect(read(stream, cuts)).toEqual([{ kind: 'violation', code }]);
      }),
      fcOptions(30),
    );
  });

  it('takes a message up to its bound, whole or in fragments, and closes with 1009 beyond it', () => {
    fc.assert(
      fc.property(fc.integer({ min: 1, max: 5_000 }), fc.integer({ min: 0, max: 5_000 }), fc.integer({ min: 1, max: 4 }), fc.array(fc.nat(), { maxLength: 6 }), (bound, size, fragments, cuts) => {
        const payload = randomBytes(size);
        const step = Math.ceil(size / fragments) || 1;
        const frames: Uint8Array[] = [];
        for (let at = 0, index = 0; at < size || index === 0; at += step, index++) frames.push(serverFrame(index === 0 ? 2 : 0, payload.subarray(at, at + step), at + step >= size));
        const heard = read(Buffer.concat(frames), cuts, undefined, bound);
        expect(heard.map(comparable)).toEqual((size <= bound ? [{ kind: 'binary', bytes: payload } as const] : [{ kind: 'violation', code: 1009 } as const]).map(comparable));
      }),
      fcOptions(60),
    );
    expect(MAX_MESSAGE_BYTES).toBe(100 * 1024 * 1024);
  });
});

describe('the receive pool', () => {
  it("holds ferry's largest data frame in one block", () => {
    expect(WS_MAX_DATA_FRAME).toBeLessThanOrEqual(POOLED_MESSAGE_BYTES);
  });

  it('hands a block out once until it is recycled; a repeated or foreign recycle is ignored', () => {
    const received: Uint8Array[] = [];
    const reader = new FrameReader({ message: (data) => received.push(data as Uint8Array), ping: () => undefined, close: () => undefined, violation: () => undefined });
    const frame = serverFrame(2, randomBytes(POOL_FROM_BYTES));
    // Fill the spare list, then take more than it holds without recycling: no two share memory.
    for (let i = 0; i < SPARE_BLOCKS; i++) reader.push(frame);
    for (const bytes of received.splice(0)) {
      recycleMessage(bytes);
      recycleMessage(bytes);
      recycleMessage(bytes.subarray(1));
    }
    recycleMessage(new Uint8Array(POOLED_MESSAGE_BYTES));
    for (let i = 0; i < 2 * SPARE_BLOCKS; i++) reader.push(frame);
    expect(new Set(received.map((bytes) => bytes.buffer)).size).toBe(2 * SPARE_BLOCKS);
    for (const bytes of received) recycleMessage(bytes);
  });
});

/** Every socket and server a case opened, closed after it. */
const cleanups: (() => unknown)[] = [];
afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
});

/** A real `ws` server on loopback; `onSocket` gets each connection. */
const wsServer = async (onSocket: (socket: WsSocket) => void = () => undefined) => {
  const server = new WebSocketServer({ host: '127.0.0.1', port: 0 });
  server.on('connection', onSocket);
  await new Promise<void>((resolve) => server.once('listening', () => resolve()));
  cleanups.push(() => new Promise<void>((resolve) => {
    for (const client of server.clients) client.terminate();
    server.close(() => resolve());
  }));
  return `ws://127.0.0.1:${(server.address() as { port: number }).port}/v1/ws?x=1`;
};

/** A {@link rawServer}, closed after the case, and its `ws:` URL. */
const rawWsServer = async (respond: Parameters<typeof rawServer>[0]): Promise<string> => {
  const raw = await rawServer(respond);
  cleanups.push(() => raw.close());
  return `ws://127.0.0.1:${raw.port}/`;
};

/** The 101 answer to `request`, with the right accept unless `accept` is given. */
const switching = (request: string, accept?: string): string => {
  const key = /Sec-WebSocket-Key: (\S+)/i.exec(request)?.[1] ?? '';
  const right = createHash('sha1').update(`${key}258EAFA5-E914-47DA-95CA-C5AB0DC85B11`).digest('base64');
  return `HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Accept: ${accept ?? right}\r\n\r\n`;
};

/** A client with its events recorded. */
const client = (url: string, options: { readonly closeTimeoutMs?: number } = {}) => {
  const socket = new DirectWebSocket(url, options);
  cleanups.push(() => socket.close());
  const messages: (string | Uint8Array)[] = [];
  const errors: string[] = [];
  let opened = false;
  const closed = new Promise<{ code: number; reason: string }>((resolve) => {
    socket.onclose = ((event: { code: number; reason: string }) => resolve({ code: event.code, reason: event.reason })) as never;
  });
  const open = new Promise<void>((resolve) => {
    socket.onopen = (() => {
      opened = true;
      resolve();
    }) as never;
  });
  socket.onmessage = ((event: { data: string | Uint8Array }) => messages.push(typeof event.data === 'string' ? event.data : event.data.slice())) as never;
  socket.onerror = ((event: { message: string }) => errors.push(event.message)) as never;
  return { socket, messages, errors, closed, open, get opened() { return opened; } };
};

const until = async (check: () => boolean): Promise<void> => {
  for (let i = 0; i < 500 && !check(); i++) await new Promise((resolve) => setTimeout(resolve, 5));
  expect(check()).toBe(true);
};

describe('DirectWebSocket against a ws server', () => {
  it('opens, and carries text and binary both ways, sendOwned masking in place and saying when it was written', async () => {
    const seen: { readonly path: string; readonly data: Buffer; readonly binary: boolean }[] = [];
    const url = await wsServer((socket) => {
      socket.on('message', (data: Buffer, binary) => {
        seen.push({ path: '', data: Buffer.from(data), binary });
        socket.send(data, { binary });
      });
    });
    const c = client(url);
    await c.open;
    expect(c.socket.readyState).toBe(1);
    const big = randomBytes(1024 * 1024 + 3);
    const owned = new Uint8Array(big);
    c.socket.send('héllo ✓');
    c.socket.send(new Uint8Array(big));
    const written = new Promise<void>((resolve) => c.socket.sendOwned(owned, resolve));
    await written;
    await until(() => c.messages.length === 3);
    expect(seen.map(({ data, binary }) => [binary, data.length])).toEqual([
      [false, utf8('héllo ✓').length],
      [true, big.length],
      [true, big.length],
    ]);
    expect(c.messages[0]).toBe('héllo ✓');
    expect(Buffer.compare(c.messages[1] as Uint8Array, big)).toBe(0);
    expect(Buffer.compare(c.messages[2] as Uint8Array, big)).toBe(0);
    // Masked in place: the buffer handed over is not the plain bytes any more.
    expect(Buffer.compare(owned, big)).not.toBe(0);
  });

  it("answers the server's ping with a pong carrying its payload", async () => {
    let pong: Buffer | undefined;
    const url = await wsServer((socket) => {
      socket.on('pong', (data) => (pong = data));
      socket.ping(Buffer.from('are you there'));
    });
    const c = client(url);
    await c.open;
    await until(() => pong !== undefined);
    expect(pong?.toString()).toBe('are you there');
  });

  it("reports the server's close code and reason, and echoes the code", async () => {
    let echoed: number | undefined;
    const url = await wsServer((socket) => {
      socket.on('close', (code) => (echoed = code));
      socket.close(4001, 'bye now');
    });
    const c = client(url);
    expect(await c.closed).toEqual({ code: 4001, reason: 'bye now' });
    expect(c.socket.readyState).toBe(3);
    await until(() => echoed !== undefined);
    expect(echoed).toBe(4001);
  });

  it('closes with the code and reason it was given, once the server answered', async () => {
    let got: [number, string] | undefined;
    const url = await wsServer((socket) => socket.on('close', (code, reason) => (got = [code, reason.toString()])));
    const c = client(url);
    await c.open;
    c.socket.close(1000, 'done');
    expect(c.socket.readyState).toBe(2);
    expect(await c.closed).toEqual({ code: 1000, reason: 'done' });
    await until(() => got !== undefined);
    expect(got).toEqual([1000, 'done']);
  });

  it('reports 1006 when the connection drops without a close frame', async () => {
    const url = await wsServer((socket) => setTimeout(() => socket.terminate(), 20));
    const c = client(url);
    await c.open;
    expect((await c.closed).code).toBe(1006);
  });

  it('sends nothing once closing, and says a frame handed over was written (or dropped) all the same', async () => {
    const url = await wsServer();
    const c = client(url);
    await c.open;
    c.socket.close(1000);
    c.socket.send('late');
    await new Promise<void>((resolve) => c.socket.sendOwned(new Uint8Array(8), resolve));
    await c.closed;
  });
});

describe('DirectWebSocket against broken servers', () => {
  it.each([
    ['an answer other than 101', (_: string) => 'HTTP/1.1 401 Unauthorized\r\nContent-Length: 0\r\n\r\n', /Unexpected server response: 401/],
    ['a wrong Sec-WebSocket-Accept', (request: string) => switching(request, 'AAAAAAAAAAAAAAAAAAAAAAAAAAA='), /Sec-WebSocket-Accept/],
    ['an extension it did not offer', (request: string) => switching(request).replace('\r\n\r\n', '\r\nSec-WebSocket-Extensions: permessage-deflate\r\n\r\n'), /Extensions/],
    ['a malformed head', (_: string) => 'HTTP/1.1 10 nope\r\n\r\n', /malformed status line/],
  ])('fails the handshake on %s: an error, then a close with 1006, never open', async (_, answer, error) => {
    const url = await rawWsServer((socket, request) => socket.write(answer(request), 'latin1'));
    const c = client(url);
    expect((await c.closed).code).toBe(1006);
    expect(c.opened).toBe(false);
    expect(c.errors.join(' ')).toMatch(error);
  });

  it('fails the connection with 1002 on a masked frame from the server, after the messages before it: a close frame saying 1002, then the end', async () => {
    let after = Buffer.alloc(0);
    const url = await rawWsServer((socket, request) => {
      socket.on('data', (chunk: Buffer) => (after = Buffer.concat([after, chunk])));
      socket.write(switching(request), 'latin1');
      socket.write(Buffer.concat([serverFrame(1, utf8('first')), Uint8Array.of(0x81, 0x81, 1, 2, 3, 4, 0x61)]));
      // This server never closes: the client's close timeout ends it.
    });
    const c = client(url, { closeTimeoutMs: 50 });
    expect((await c.closed).code).toBe(1002);
    expect(c.messages).toEqual(['first']);
    expect(c.errors.join(' ')).toMatch(/masked frame/);
    // A masked close frame of 2 bytes: 0x88, 0x82, the key, the code masked with it.
    expect([after[0], after[1], (after[6] as number) ^ (after[2] as number), (after[7] as number) ^ (after[3] as number)]).toEqual([0x88, 0x82, 1002 >> 8, 1002 & 0xff]);
  });

  it("ends a close the server began within the close timeout when the server keeps the connection open", async () => {
    const url = await rawWsServer((socket, request) => socket.write(Buffer.concat([Buffer.from(switching(request), 'latin1'), serverFrame(8, closePayload(1001, 'away'))])));
    const c = client(url, { closeTimeoutMs: 50 });
    expect(await c.closed).toEqual({ code: 1001, reason: 'away' });
  });

  it('ends its own close within the close timeout when the server never answers it, with 1006', async () => {
    const url = await rawWsServer((socket, request) => socket.write(switching(request), 'latin1'));
    const c = client(url, { closeTimeoutMs: 50 });
    await c.open;
    c.socket.close(1000);
    expect((await c.closed).code).toBe(1006);
  });

  it('reads frames that arrive in the same read as the 101 answer', async () => {
    const url = await rawWsServer((socket, request) => socket.write(Buffer.concat([Buffer.from(switching(request), 'latin1'), serverFrame(1, utf8('welcome')), serverFrame(2, randomBytes(POOL_FROM_BYTES))])));
    const c = client(url);
    await until(() => c.messages.length === 2);
    expect(c.messages[0]).toBe('welcome');
  });

  it('reports 1006 for a refused connection and for a server that is not HTTP', async () => {
    const refused = createHttpServer();
    await new Promise<void>((resolve) => refused.listen(0, '127.0.0.1', resolve));
    const port = (refused.address() as { port: number }).port;
    await new Promise<void>((resolve) => refused.close(() => resolve()));
    const gone = client(`ws://127.0.0.1:${port}/`);
    expect((await gone.closed).code).toBe(1006);
    expect(gone.errors.join(' ')).toMatch(/ECONNREFUSED/);
    const silent = await rawWsServer((socket) => socket.end());
    expect((await client(silent).closed).code).toBe(1006);
  });

  it('refuses a close code an application may not send, or a reason over 123 bytes, and stays open', async () => {
    const url = await wsServer();
    const c = client(url);
    await c.open;
    for (const code of [999, 1001, 1005, 1006, 2999, 5000, 70_000, 3000.5]) expect(() => c.socket.close(code), `code ${code}`).toThrow(TypeError);
    expect(() => c.socket.close(1000, 'é'.repeat(62))).toThrow(RangeError);
    expect(c.socket.readyState).toBe(1);
    c.socket.close(4000, 'x'.repeat(123));
    expect(await c.closed).toEqual({ code: 4000, reason: 'x'.repeat(123) });
  });
});

describe('WebSocket downloads on the pooled blocks', () => {
  // Sizes that end in a full frame, in a short one, and below the pool's lower bound.
  const media = [3 * 256 * 1024, 2 * 1024 * 1024 + 12_345, 5_000].map((size) => randomBytes(size));
  const setUp = async () => {
    const server = await startServer({ port: 0 });
    cleanups.push(() => server.close());
    const alice = createClient({ transport: wsTransport({ url: server.wsUrl }) });
    await alice.login({ userId: 'alice', token: server.issueToken('alice') });
    cleanups.push(() => alice.logout());
    const ids = await Promise.all(media.map(async (bytes) => (await alice.createFileMessageByUploading(bytes).result).mediaId));
    return { server, ids };
  };

  it('gives nine downloads at once on one socket and three on another (both reading into the one TCP buffer), to memory and to files, every byte as uploaded', async () => {
    const { server, ids } = await setUp();
    const receivers = await Promise.all(
      ['bob', 'carol'].map(async (userId) => {
        const receiver = createClient({ transport: wsTransport({ url: server.wsUrl }) });
        await receiver.login({ userId, token: server.issueToken(userId) });
        cleanups.push(() => receiver.logout());
        return receiver;
      }),
    );
    const folder = await mkdtemp(join(tmpdir(), 'ferry-direct-ws-'));
    cleanups.push(() => rm(folder, { recursive: true, force: true }));
    const runs = Array.from({ length: 12 }, (_, i) => {
      const which = i % media.length;
      const receiver = receivers[i < 9 ? 0 : 1] as (typeof receivers)[number];
      if (i % 2 === 0) return receiver.downloadMediaToMemory(ids[which] as string).result.then((bytes) => ({ which, bytes }));
      const path = join(folder, `${i}.bin`);
      return receiver.downloadMediaToFile(ids[which] as string, path).result.then(async () => ({ which, bytes: new Uint8Array(await readFile(path)) }));
    });
    for (const { which, bytes } of await Promise.all(runs)) expect(Buffer.compare(bytes, media[which] as Buffer), `media ${which}`).toBe(0);
  });

  it("lends each chunk of readMedia until the next is asked for, while the socket's other downloads receive", async () => {
    const { server, ids } = await setUp();
    const signal = new AbortController().signal;
    const session = await wsTransport({ url: server.wsUrl }).connect({ userId: 'carol', token: server.issueToken('carol') }, { signal });
    cleanups.push(() => session.close({ signal }));
    // Each reader holds a chunk across a timer (frames of the others arrive meanwhile), then copies it.
    const read = async (which: number): Promise<Buffer> => {
      const copies: Uint8Array[] = [];
      for await (const chunk of session.readMedia(ids[which] as string, 0, { signal })) {
        await new Promise((resolve) => setTimeout(resolve, 1));
        copies.push(chunk.slice());
      }
      return Buffer.concat(copies);
    };
    const got = await Promise.all([0, 1, 2, 0, 1, 2].map(async (which) => ({ which, bytes: await read(which) })));
    for (const { which, bytes } of got) expect(Buffer.compare(bytes, media[which] as Buffer), `media ${which}`).toBe(0);
  });
});

describe('DirectWebSocket as the Node default, over ws: and wss:', () => {
  it('is the Node default for ws: and wss:, and refuses other schemes', async () => {
    expect(() => new DirectWebSocket('http://127.0.0.1:1/')).toThrow(/ws: and wss:, not http:/);
    const url = await wsServer();
    const plain = new NodeWebSocket(url);
    const secure = new NodeWebSocket(url.replace('ws:', 'wss:'));
    secure.onerror = () => undefined;
    cleanups.push(() => plain.close(), () => secure.close());
    expect(plain).toBeInstanceOf(DirectWebSocket);
    expect(secure).toBeInstanceOf(DirectWebSocket);
  });

  it.each([
    [true, { opened: true, echoed: true, pushed: 40, intact: 40, pongs: 40, code: 1000 }],
    [false, { error: 'DEPTH_ZERO_SELF_SIGNED_CERT', code: 1006 }],
  ])('over wss: (trusting the test certificate: %s) carries messages intact while Node decrypts into the read buffer, or refuses the certificate', async (trust, expected) => {
    const child = spawn(process.execPath, ['--import', 'tsx', new URL('./direct-ws-tls-child.ts', import.meta.url).pathname, '40'], {
      env: { ...process.env, ...(trust ? { NODE_EXTRA_CA_CERTS: new URL('../fixtures/tls/cert.pem', import.meta.url).pathname } : {}) },
      stdio: ['ignore', 'pipe', 'inherit'],
    });
    let out = '';
    child.stdout.on('data', (chunk: Buffer) => (out += chunk.toString()));
    await new Promise((resolve) => child.on('close', resolve));
    expect(JSON.parse(out)).toEqual(expected);
  });
});
