/**
 * `directGet` (`src/platform/node-direct-get.ts`): the Node media GET that reads into one reused buffer and
 * lends its chunks. The servers here are real sockets on loopback. A raw `net` server writes the answer
 * in pieces fast-check chooses; an `http` server is used where the answer is ordinary; a TLS server runs
 * in a child process that trusts the test certificate. The checks:
 * - the head is parsed whatever the pieces;
 * - a lent chunk stays intact until the next is asked for;
 * - framing other than `Content-Length` is left to `fetch`;
 * - every malformed answer and every cut rejects, naming what was wrong;
 * - an abort closes the connection.
 */
import { spawn } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import type { Socket } from 'node:net';
import fc from 'fast-check';
import { afterEach, describe, expect, it } from 'vitest';
import { bodyLength, DIRECT_BUFFER, directGet, type DirectResponse, MAX_HEAD, parseHead } from '../../src/platform/node-direct-get.js';
import { fcOptions } from '../properties/support.js';
import { rawServer } from './raw-server.js';

const sha = (bytes: Uint8Array): string => createHash('sha256').update(bytes).digest('hex');
const live = (): AbortSignal => new AbortController().signal;
const latin1 = (text: string): Uint8Array => Buffer.from(text, 'latin1');

/** Every chunk of an answer, copied, each after a macrotask (the socket would read meanwhile if it could). */
const drain = async (answer: DirectResponse): Promise<Buffer> => {
  const chunks: Buffer[] = [];
  for (let chunk = await answer.next(); chunk; chunk = await answer.next()) {
    // A plain Uint8Array, so a caller's `slice()` copies (`Buffer#slice` would make another view).
    expect(Buffer.isBuffer(chunk)).toBe(false);
    await new Promise((resolve) => setImmediate(resolve));
    chunks.push(Buffer.from(chunk));
  }
  return Buffer.concat(chunks);
};

/** A {@link rawServer} and the media URL it answers. */
const mediaServer = async (respond: Parameters<typeof rawServer>[0]) => {
  const raw = await rawServer(respond);
  return Object.assign(raw, { url: `http://127.0.0.1:${raw.port}/v1/media/abc?x=1` });
};
type Raw = Awaited<ReturnType<typeof mediaServer>>;

/** Writes `pieces` one write and one macrotask apart, then ends the connection. */
const writeInPieces = async (socket: Socket, pieces: readonly Uint8Array[]): Promise<void> => {
  for (const piece of pieces) {
    if (socket.destroyed) return;
    await new Promise<void>((resolve) => socket.write(piece, () => resolve()));
    await new Promise((resolve) => setImmediate(resolve));
  }
  socket.end();
};

/** `bytes` cut at the given offsets (sorted, deduplicated, within the bytes). */
const cut = (bytes: Uint8Array, at: readonly number[]): Uint8Array[] => {
  const points = [...new Set(at.map((point) => point % (bytes.length + 1)))].sort((a, b) => a - b);
  const pieces: Uint8Array[] = [];
  let from = 0;
  for (const point of [...points, bytes.length]) {
    if (point > from) pieces.push(bytes.subarray(from, point));
    from = Math.max(from, point);
  }
  return pieces;
};

describe('directGet: the head', () => {
  const token = fc.stringMatching(/^[A-Za-z][A-Za-z0-9-]{0,15}$/);
  const value = fc.stringMatching(/^[!-~]([ !-~]{0,30}[!-~])?$/);

  it('parses any status line and headers back, and says "not yet" for every proper prefix', () => {
    fc.assert(
      fc.property(fc.integer({ min: 100, max: 599 }), fc.array(fc.tuple(token, value), { maxLength: 12 }), (status, fields) => {
        const text = `HTTP/1.1 ${status} Whatever Reason\r\n${fields.map(([n, v]) => `${n}:  ${v} \r\n`).join('')}\r\n`;
        const bytes = latin1(`${text}body`);
        const parsed = parseHead(bytes);
        if (parsed === undefined || parsed instanceof Error) throw new Error(`not parsed: ${String(parsed)}`);
        expect(parsed.size).toBe(text.length);
        expect(parsed.head.status).toBe(status);
        const expected = new Headers();
        for (const [n, v] of fields) expected.append(n, v);
        const pairs = (headers: Headers) => {
          const all: [string, string][] = [];
          headers.forEach((v, n) => all.push([n, v]));
          return all;
        };
        expect(pairs(parsed.head.headers)).toEqual(pairs(expected));
        for (const end of [0, 1, text.length - 3, text.length - 1]) expect(parseHead(bytes.subarray(0, Math.max(0, end)))).toBeUndefined();
      }),
      fcOptions(200),
    );
  });

  it(`accepts a head of up to ${MAX_HEAD} bytes and refuses a longer one, whole or in part`, () => {
    fc.assert(
      // Half of the runs within a few bytes of the limit (the head's other lines take 27 bytes).
      fc.property(fc.oneof(fc.integer({ min: 0, max: MAX_HEAD + 2000 }), fc.integer({ min: MAX_HEAD - 40, max: MAX_HEAD })), (padding) => {
        const text = `HTTP/1.1 200 OK\r\nX-Pad: ${'p'.repeat(padding)}\r\n\r\n`;
        const parsed = parseHead(latin1(text));
        const fits = text.length - 4 <= MAX_HEAD;
        if (fits) expect(parsed).toMatchObject({ size: text.length });
        else expect(String(parsed)).toContain(`larger than ${MAX_HEAD} bytes`);
        // Without its blank line yet: waiting while a blank line could still end it within the limit.
        const partial = parseHead(latin1(text.slice(0, -4)));
        if (text.length - 4 >= MAX_HEAD + 4) expect(String(partial)).toContain('larger than');
        else expect(partial).toBeUndefined();
      }),
      fcOptions(100),
    );
  });

  it('finds the end of a head fed in any pieces, searching each byte once, as when parsed whole', () => {
    fc.assert(
      fc.property(fc.array(fc.tuple(token, value), { maxLength: 6 }), fc.array(fc.nat(), { maxLength: 10 }), (fields, at) => {
        const bytes = latin1(`HTTP/1.1 200 OK\r\n${fields.map(([n, v]) => `${n}: ${v}\r\n`).join('')}\r\nrest`);
        const whole = parseHead(bytes);
        let scanned = 0;
        let parsed: ReturnType<typeof parseHead>;
        for (const piece of cut(bytes, at)) {
          const received = scanned + piece.length;
          parsed = parseHead(bytes.subarray(0, received), scanned);
          if (parsed !== undefined) break;
          scanned = received;
        }
        expect(parsed).toEqual(whole);
      }),
      fcOptions(200),
    );
  });

  it('parses a value of many spaces within, trimming only the ends', () => {
    const value = `a${' '.repeat(MAX_HEAD - 100)}b`;
    const parsed = parseHead(latin1(`HTTP/1.1 200 OK\r\nX:\t ${value} \t\r\n\r\n`));
    expect(parsed).not.toBeInstanceOf(Error);
    expect((parsed as { head: { headers: Headers } }).head.headers.get('x')).toBe(value);
  });

  it('refuses malformed status lines and header lines, naming them', () => {
    for (const head of ['HTTP/2 200 OK', 'HTTP/1.1 20 OK', 'HTTP/1.1 200OK', 'ICY 200 OK', 'HTTP/1.1 099 Low', 'HTTP/1.1 600 Beyond']) {
      expect(String(parseHead(latin1(`${head}\r\n\r\n`)))).toContain('malformed status line');
    }
    for (const line of ['No-Colon', ' Folded: value', 'Bad Name: value', 'X: a\rb', 'X: a\x00b', ': empty name']) {
      expect(String(parseHead(latin1(`HTTP/1.1 200 OK\r\n${line}\r\n\r\n`)))).toContain('malformed header line');
    }
  });

  it('reads the body length from Content-Length, leaves other framing to fetch, refuses contradictions', () => {
    const head = (status: number, ...fields: [string, string][]) => ({ status, headers: new Headers(fields) });
    expect(bodyLength(head(200, ['Content-Length', '42']))).toBe(42);
    expect(bodyLength(head(200, ['Content-Length', '42, 42']))).toBe(42);
    expect(bodyLength(head(204))).toBe(0);
    expect(bodyLength(head(200))).toBeUndefined();
    expect(bodyLength(head(200, ['Transfer-Encoding', 'chunked'], ['Content-Length', '42']))).toBeUndefined();
    for (const bad of ['42, 43', '-1', '4x', '', '99999999999999999999']) {
      expect(String(bodyLength(head(200, ['Content-Length', bad])))).toContain('malformed Content-Length');
    }
  });
});

describe('directGet on a real socket', () => {
  let raw: Raw | undefined;
  afterEach(async () => {
    await raw?.close();
    raw = undefined;
  });

  it('reads any answer written in any pieces: status, headers and body intact, each chunk lent until the next', async () => {
    // Larger than the reused buffer, so a chunk overwritten before the next is asked for changes the hash.
    const body = randomBytes(DIRECT_BUFFER * 2 + 12345);
    let pieces: Uint8Array[] = [];
    raw = await mediaServer((socket) => writeInPieces(socket, pieces));
    await fc.assert(
      fc.asyncProperty(fc.array(fc.nat(), { maxLength: 8 }), fc.boolean(), async (at, interim) => {
        const text = `${interim ? 'HTTP/1.1 100 Continue\r\n\r\n' : ''}HTTP/1.1 200 OK\r\nContent-Length: ${body.length}\r\nETag: "x"\r\n\r\n`;
        pieces = cut(Buffer.concat([latin1(text), body]), at);
        const answer = await directGet(raw!.url, { headers: { Authorization: 'Bearer t' }, signal: live() });
        expect(answer).toMatchObject({ status: 200, length: body.length });
        expect(answer?.headers.get('etag')).toBe('"x"');
        expect(sha(await drain(answer as DirectResponse))).toBe(sha(body));
      }),
      fcOptions(30),
    );
    expect(raw.requests[0]).toMatch(/^GET \/v1\/media\/abc\?x=1 HTTP\/1\.1\r\nHost: 127\.0\.0\.1:\d+\r\nAuthorization: Bearer t\r\nConnection: close\r\n\r\n$/);
  }, 60_000);

  it('resolves undefined for a chunked answer or one delimited by the close, and closes the connection', async () => {
    for (const head of ['HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n0\r\n\r\n', 'HTTP/1.0 200 OK\r\n\r\nabc']) {
      raw = await mediaServer((socket) => {
        socket.write(head);
      });
      expect(await directGet(raw.url, { headers: {}, signal: live() })).toBeUndefined();
      await expect.poll(() => raw?.closed).toBe(1);
      await raw.close();
    }
    raw = undefined;
  });

  it('rejects a body cut short, a body longer than declared, and a head that never ends, naming each', async () => {
    const cases: [string, string][] = [
      ['HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\nabc', 'the connection closed after 3 of 10 bytes'],
      ['HTTP/1.1 200 OK\r\nContent-Length: 3\r\n\r\nabcdef', 'more than the 3 bytes of its Content-Length'],
      ['HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\nabc', 'a body after an empty Content-Length'],
      ['HTTP/1.1 200 OK\r\nContent-Le', 'the connection closed before the response head'],
      ['HTTP/1.1 200 OK\r\nContent-Length: x\r\n\r\n', 'malformed Content-Length'],
      ['HTTP/1.1 200 OK\r\nX: y\r\nBroken\r\n\r\n', 'malformed header line'],
      ['HTTP/1.1 101 Switching Protocols\r\nUpgrade: x\r\n\r\n', 'switched protocols (101)'],
    ];
    for (const [answer, named] of cases) {
      raw = await mediaServer((socket) => writeInPieces(socket, [latin1(answer)]));
      const reading = directGet(raw.url, { headers: {}, signal: live() }).then((response) => response && drain(response));
      await expect(reading, answer).rejects.toThrow(named);
      await raw.close();
    }
    raw = undefined;
  });

  it('refuses headers that would end the request head early, and protocols it does not speak', async () => {
    await expect(directGet('http://127.0.0.1:1/', { headers: { Authorization: 'Bearer a\r\nX: b' }, signal: live() })).rejects.toThrow('cannot be sent');
    for (const headers of [{ 'Bad Name': 'v' }, { X: 'nul\x00' }, { X: 'caf\u00e9' }, { Host: 'elsewhere' }, { connection: 'keep-alive' }]) {
      await expect(directGet('http://127.0.0.1:1/', { headers, signal: live() }), JSON.stringify(headers)).rejects.toThrow('cannot be sent');
    }
    await expect(directGet('ftp://127.0.0.1/', { headers: {}, signal: live() })).rejects.toThrow('not ftp:');
    await expect(directGet('http://127.0.0.1:1/', { headers: {}, signal: live() })).rejects.toMatchObject({ code: 'ECONNREFUSED' });
  });

  it('an abort rejects with the reason wherever it lands, and closes the connection', async () => {
    const body = randomBytes(DIRECT_BUFFER * 4);
    let serverSockets = 0;
    raw = await mediaServer((socket) => {
      serverSockets++;
      socket.write(`HTTP/1.1 200 OK\r\nContent-Length: ${body.length + 1}\r\n\r\n`);
      socket.write(body); // one byte short: the body never completes by itself
    });
    const before = new AbortController();
    before.abort(new Error('before'));
    await expect(directGet(raw.url, { headers: {}, signal: before.signal })).rejects.toThrow('before');

    const mid = new AbortController();
    const answer = (await directGet(raw.url, { headers: {}, signal: mid.signal })) as DirectResponse;
    expect(await answer.next()).toBeInstanceOf(Uint8Array);
    const waiting = (async () => {
      for (;;) if ((await answer.next()) === undefined) return;
    })();
    mid.abort(new Error('mid-body'));
    await expect(waiting).rejects.toThrow('mid-body');
    await expect.poll(() => raw?.closed).toBe(serverSockets);

    const closing = (await directGet(raw.url, { headers: {}, signal: live() })) as DirectResponse;
    closing.close();
    await expect(closing.next()).rejects.toThrow('closed by the caller');
    await expect.poll(() => raw?.closed).toBe(serverSockets);
  });
});

describe('directGet over TLS', () => {
  // Many TLS records per TCP read, and more than the reused buffer holds.
  const length = 16 * DIRECT_BUFFER + 7;

  it('reads from an https server whose certificate the process trusts, and refuses one it does not', async () => {
    // A child process, because Node reads extra trusted certificates (NODE_EXTRA_CA_CERTS) at start-up.
    const run = (trust: boolean) =>
      new Promise<string>((resolve, reject) => {
        const child = spawn(process.execPath, ['--import', 'tsx', new URL('./direct-get-tls-child.ts', import.meta.url).pathname, String(length)], {
          env: { ...process.env, ...(trust ? { NODE_EXTRA_CA_CERTS: new URL('../fixtures/tls/cert.pem', import.meta.url).pathname } : {}) },
          stdio: ['ignore', 'pipe', 'inherit'],
        });
        let out = '';
        child.stdout.on('data', (chunk: Buffer) => (out += chunk.toString()));
        child.on('error', reject);
        child.on('close', () => resolve(out.trim()));
      });
    const [trusted, untrusted] = await Promise.all([run(true), run(false)]);
    expect(JSON.parse(trusted)).toEqual({ status: 200, length, hashed: true, changed: 0 });
    expect(JSON.parse(untrusted)).toEqual({ error: 'DEPTH_ZERO_SELF_SIGNED_CERT' });
  }, 30_000);
});
