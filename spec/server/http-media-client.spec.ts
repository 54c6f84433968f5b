/**
 * The media half of the HTTP transport (`transports/http-media.ts`) against the real server on
 * loopback: tus uploads in windows with acknowledged progress, resume from the server's offset, Range
 * downloads verified by SHA-256, termination, failures mapped to the transport's failure contract, and
 * the abort contract. `fetch` is injected (the global one, or a wrapper that records or stalls requests).
 */
import { createServer as createHttpServer, type Server as HttpServer } from 'node:http';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { Failure, type FailureTag, failureOf } from '../../src/core/failure.js';
import { MAX_FILE_SIZE } from '../../src/core/limits.js';
import { retryAfterMs } from '../../transports/http-failure.js';
import { httpMedia, nextWindow, uploadIdOf, WINDOW } from '../../transports/http-media.js';
import { directGet } from '../../src/platform/node-direct-get.js';
import { nodeFetch } from '../../src/platform/node-fetch.js';
import type { ByteSource } from '../../transports/transport.js';
import { withMediaDuties } from '../../transports/transport-duties.js';
import { fcOptions } from '../properties/support.js';
import { b64, bytesOf, eventually, OFFSET_STREAM, sha256, start, tus } from './http-support.js';

const KiB = 1024;
const MiB = 1024 * KiB;

/**
 * Bytes as a ByteSource that hands out ONE reused buffer, so a transport that keeps a chunk past the
 * next request (instead of copying it) sends wrong bytes and fails the SHA-256 check. `stallAt` makes
 * the source hang (ignoring the signal, like a stuck disk) once it reaches that offset.
 */
const sourceOf = (bytes: Uint8Array, { stallAt }: { stallAt?: number } = {}): ByteSource => ({
  size: bytes.length,
  async *chunks(offset, chunkSize) {
    const buffer = new Uint8Array(chunkSize);
    for (let at = offset; at < bytes.length; at += chunkSize) {
      if (stallAt !== undefined && at >= stallAt) await new Promise<never>(() => undefined);
      const part = bytes.subarray(at, Math.min(at + chunkSize, bytes.length));
      buffer.set(part);
      yield buffer.subarray(0, part.length);
      buffer.fill(0xee); // what a reusing source does to a chunk the transport was supposed to copy
    }
  },
});

interface Seen {
  readonly method: string;
  readonly url: string;
  readonly headers: Headers;
  readonly bodyLength: number;
}

/** `under` (the global fetch by default), recording each request it is asked for. */
const recording = (under: typeof globalThis.fetch = fetch): { fetch: typeof globalThis.fetch; seen: Seen[] } => {
  const seen: Seen[] = [];
  const wrapped: typeof globalThis.fetch = (input, init) => {
    const body = init?.body;
    const headers = new Headers(init?.headers);
    seen.push({
      method: init?.method ?? 'GET',
      url: String(input),
      headers,
      // A streamed body declares its length.
      bodyLength: body instanceof Uint8Array ? body.length : body instanceof ReadableStream ? Number(headers.get('content-length')) : 0,
    });
    return under(input, init);
  };
  return { fetch: wrapped, seen };
};

/**
 * A server and alice's media client on it, with the media duties every transport has (creation that
 * leaves no record on abort, terminating what is gone); `streamed`: windows as streamed bodies through
 * `nodeFetch`.
 */
const setUp = async ({ streamed = false }: { streamed?: boolean } = {}) => {
  const server = await start();
  const token = server.issueToken('alice');
  const { fetch: recorded, seen } = recording(streamed ? (nodeFetch as typeof globalThis.fetch) : fetch);
  const media = withMediaDuties(httpMedia({ url: server.url, token, fetch: recorded, streamUploads: streamed }));
  return { server, token, media, seen };
};

const live = (): AbortSignal => new AbortController().signal;

/** The failure tag a promise rejects with (fails the spec if it resolves). */
const tagOf = async (promise: Promise<unknown>): Promise<FailureTag> => {
  try {
    await promise;
  } catch (error) {
    return failureOf(error)._tag;
  }
  throw new Error('expected a rejection');
};

const collect = async (chunks: AsyncIterable<Uint8Array>): Promise<Uint8Array> => {
  const parts: Uint8Array[] = [];
  for await (const chunk of chunks) parts.push(chunk.slice());
  return Buffer.concat(parts);
};

/** Uploads `bytes` whole and returns the media ID and the acknowledged offsets seen. */
const uploadAll = async (media: ReturnType<typeof httpMedia>, bytes: Uint8Array, fileName = 'file.bin') => {
  const created = await media.createUpload({ size: bytes.length, fileName }, { signal: live() });
  const progress: number[] = [];
  const state = await media.appendUpload(created.uploadId, 0, sourceOf(bytes), { signal: live(), onProgress: (at) => progress.push(at) });
  return { mediaId: created.uploadId, created, state, progress };
};

describe('httpMedia uploads', () => {
  it.each([
    ['1 byte', 1, 'buffered'],
    ['1 MiB + 3 bytes', MiB + 3, 'buffered'],
    ['5 MiB', 5 * MiB, 'buffered'],
    ['1 byte', 1, 'streamed'],
    ['1 MiB + 3 bytes', MiB + 3, 'streamed'],
    ['20 MiB + 5 bytes', 20 * MiB + 5, 'streamed'],
  ])('uploads %s in windows of %s PATCHes, reporting each acknowledged offset up to the size', async (_name, size, mode) => {
    const { media, seen } = await setUp({ streamed: mode === 'streamed' });
    const bytes = bytesOf(size, size);
    const { mediaId, created, state, progress } = await uploadAll(media, bytes);

    expect(created).toEqual({ uploadId: mediaId, size, offset: 0, complete: false });
    expect(state).toEqual({ uploadId: mediaId, size, offset: size, complete: true });
    const patches = seen.filter((request) => request.method === 'PATCH');
    // One acknowledged offset per PATCH: the running sum of the windows, increasing, ending at the size.
    let sum = 0;
    expect(progress).toEqual(patches.map((patch) => (sum += patch.bodyLength)));
    expect(progress.at(-1)).toBe(size);
    expect(patches[0]?.bodyLength).toBe(Math.min(size, WINDOW.initial));
    for (const patch of patches) {
      expect(patch.bodyLength).toBeLessThanOrEqual(mode === 'streamed' ? WINDOW.maxStreamed : WINDOW.max);
      expect(patch.headers.get('content-type')).toBe('application/offset+octet-stream');
      expect(patch.headers.get('tus-resumable')).toBe('1.0.0');
      expect(patch.headers.get('authorization')).toMatch(/^Bearer /);
    }
    if (size > WINDOW.initial) expect(patches.length).toBeGreaterThan(1);

    expect(await media.getMedia(mediaId, { signal: live() })).toEqual({ mediaId, size, sha256: sha256(bytes), fileName: 'file.bin' });
    expect(sha256(await collect(media.readMedia(mediaId, 0, { signal: live() })))).toBe(sha256(bytes));
  });

  it('sends the file name as tus metadata, and a missing one as no metadata', async () => {
    const { media, seen, server, token } = await setUp();
    await media.createUpload({ size: 5, fileName: 'café ☕.txt' }, { signal: live() });
    await media.createUpload({ size: 5, fileName: '' }, { signal: live() });
    const posts = seen.filter((request) => request.method === 'POST');
    expect(posts[0]?.headers.get('upload-metadata')).toBe(`filename ${b64('café ☕.txt')}`);
    expect(posts[0]?.headers.get('upload-length')).toBe('5');
    expect(posts[1]?.headers.has('upload-metadata')).toBe(false);
    // The server keeps the name: HEAD of the completed upload returns it.
    const { mediaId } = await uploadAll(media, bytesOf(5), 'café ☕.txt');
    const head = await fetch(`${server.uploadsUrl}/${mediaId}`, { method: 'HEAD', headers: tus(token) });
    expect(head.headers.get('upload-metadata')).toBe(`filename ${b64('café ☕.txt')}`);
  });

  it('resumes after part of the bytes arrived: getUpload gives the offset, appendUpload sends only the rest', async () => {
    const { media, seen, token, server } = await setUp();
    const bytes = bytesOf(700_000, 3);
    const { uploadId } = await media.createUpload({ size: bytes.length, fileName: 'r.bin' }, { signal: live() });
    // Another client (or an earlier attempt) got the first 300,000 bytes through.
    const first = await fetch(`${server.uploadsUrl}/${uploadId}`, {
      method: 'PATCH',
      headers: tus(token, { ...OFFSET_STREAM, 'Upload-Offset': '0' }),
      body: bytes.slice(0, 300_000),
    });
    expect(first.status).toBe(204);

    expect(await media.getUpload(uploadId, { signal: live() })).toEqual({ uploadId, size: bytes.length, offset: 300_000, complete: false });
    const progress: number[] = [];
    const done = await media.appendUpload(uploadId, 300_000, sourceOf(bytes), { signal: live(), onProgress: (at) => progress.push(at) });
    expect(done).toEqual({ uploadId, size: bytes.length, offset: bytes.length, complete: true });
    expect(progress).toEqual([bytes.length]);
    expect(seen.filter((request) => request.method === 'PATCH').map((request) => request.bodyLength)).toEqual([400_000]);
    expect(await media.getUpload(uploadId, { signal: live() })).toEqual({ uploadId, size: bytes.length, offset: bytes.length, complete: true });
    expect((await media.getMedia(uploadId, { signal: live() })).sha256).toBe(sha256(bytes));
  });

  it('answers appendUpload at the end with the server state, without sending a PATCH', async () => {
    const { media, seen } = await setUp();
    const bytes = bytesOf(10);
    const { mediaId } = await uploadAll(media, bytes);
    const before = seen.length;
    const progress: number[] = [];
    const state = await media.appendUpload(mediaId, 10, sourceOf(bytes), { signal: live(), onProgress: (at) => progress.push(at) });
    expect(state).toEqual({ uploadId: mediaId, size: 10, offset: 10, complete: true });
    expect(progress).toEqual([]);
    expect(seen.slice(before).map((request) => request.method)).toEqual(['HEAD']);
  });

  it('terminates a partial upload, and terminating it again (or an unknown ID) is not an error', async () => {
    const { media } = await setUp();
    const bytes = bytesOf(2 * MiB, 5);
    const { uploadId } = await media.createUpload({ size: bytes.length, fileName: 't.bin' }, { signal: live() });
    const controller = new AbortController();
    const appending = media.appendUpload(uploadId, 0, sourceOf(bytes, { stallAt: WINDOW.initial }), {
      signal: controller.signal,
      onProgress: () => controller.abort(new Error('enough')),
    });
    expect(await tagOf(appending)).toBe('Interrupted');
    expect((await media.getUpload(uploadId, { signal: live() })).offset).toBe(WINDOW.initial);

    await media.terminateUpload(uploadId, { signal: live() });
    expect(await tagOf(media.getUpload(uploadId, { signal: live() }))).toBe('NotExist');
    await media.terminateUpload(uploadId, { signal: live() });
    await media.terminateUpload('AAAAAAAAAAAAAAAAAAAAAA', { signal: live() });
  });

  it('terminates complete media: it is no longer downloadable', async () => {
    const { media } = await setUp();
    const { mediaId } = await uploadAll(media, bytesOf(1000));
    await media.terminateUpload(mediaId, { signal: live() });
    expect(await tagOf(media.getMedia(mediaId, { signal: live() }))).toBe('NotExist');
  });
});

describe('httpMedia downloads', () => {
  it('reads from any offset with Range, the bytes matching the SHA-256 of that part; from the end it reads nothing', async () => {
    const { media, seen } = await setUp();
    const bytes = bytesOf(3 * MiB + 17, 11);
    const { mediaId } = await uploadAll(media, bytes);
    for (const offset of [0, 1, 12_345, MiB, bytes.length - 1, bytes.length]) {
      const before = seen.length;
      const got = await collect(media.readMedia(mediaId, offset, { signal: live() }));
      expect(got.length).toBe(bytes.length - offset);
      expect(sha256(got)).toBe(sha256(bytes.subarray(offset)));
      const range = seen[before]?.headers.get('range') ?? null;
      expect(range).toBe(offset === 0 ? null : `bytes=${offset}-`);
    }
  });

  it('rejects offsets past the end or not byte counts with InvalidArgument', async () => {
    const { media } = await setUp();
    const { mediaId } = await uploadAll(media, bytesOf(100));
    expect(await tagOf(collect(media.readMedia(mediaId, 101, { signal: live() })))).toBe('InvalidArgument');
    expect(await tagOf(collect(media.readMedia(mediaId, -1, { signal: live() })))).toBe('InvalidArgument');
    expect(await tagOf(collect(media.readMedia(mediaId, 1.5, { signal: live() })))).toBe('InvalidArgument');
  });
});

describe('httpMedia downloads through directGet (Node)', () => {
  /** Alice's media client reading every download of at least `from` bytes through `directGet`. */
  const setUpDirect = async (from = 0, url?: (server: Awaited<ReturnType<typeof start>>) => Promise<string>) => {
    const server = await start();
    const token = server.issueToken('alice');
    const { fetch: recorded, seen } = recording(nodeFetch as typeof globalThis.fetch);
    const media = httpMedia({ url: url ? await url(server) : server.url, token, fetch: recorded, directGet, directReadsFrom: from });
    return { server, token, media, seen };
  };
  const read = (media: ReturnType<typeof httpMedia>, mediaId: string, offset: number, size: number) =>
    collect(media.readMedia(mediaId, offset, { signal: live(), expected: size - offset }));

  it('reads from any offset, the bytes matching; from the end it reads nothing; fetch sends no GET', async () => {
    const { media, seen } = await setUpDirect();
    const bytes = bytesOf(3 * MiB + 17, 12);
    const { mediaId } = await uploadAll(media, bytes);
    for (const offset of [0, 1, 12_345, MiB, bytes.length - 1, bytes.length]) {
      const got = await read(media, mediaId, offset, bytes.length);
      expect(sha256(got)).toBe(sha256(bytes.subarray(offset)));
    }
    expect(seen.filter((request) => request.method === 'GET')).toEqual([]);
  });

  it('reads through fetch below directReadsFrom, or when the caller does not say how much it expects', async () => {
    const { media, seen } = await setUpDirect(1000);
    const bytes = bytesOf(1500, 13);
    const { mediaId } = await uploadAll(media, bytes);
    const gets = () => seen.filter((request) => request.method === 'GET').length;
    expect(sha256(await read(media, mediaId, 501, bytes.length))).toBe(sha256(bytes.subarray(501)));
    expect(gets()).toBe(1);
    expect(sha256(await read(media, mediaId, 500, bytes.length))).toBe(sha256(bytes.subarray(500)));
    expect(gets()).toBe(1);
    expect(sha256(await collect(media.readMedia(mediaId, 0, { signal: live() })))).toBe(sha256(bytes));
    expect(gets()).toBe(2);
  });

  it('maps failures as fetch does: past the end, unknown, malformed, bad and expired tokens', async () => {
    const { media, server } = await setUpDirect();
    const { mediaId } = await uploadAll(media, bytesOf(100));
    expect(await tagOf(read(media, mediaId, 101, 200))).toBe('InvalidArgument');
    expect(await tagOf(read(media, 'AAAAAAAAAAAAAAAAAAAAAA', 0, 100))).toBe('NotExist');
    expect(await tagOf(read(media, 'short', 0, 100))).toBe('InvalidArgument');
    const bad = httpMedia({ url: server.url, token: 'not-a-token', fetch, directGet, directReadsFrom: 0 });
    expect(await tagOf(read(bad, mediaId, 0, 100))).toBe('InvalidToken');
    const expiring = httpMedia({ url: server.url, token: server.issueToken('alice', 1), fetch, directGet, directReadsFrom: 0 });
    await new Promise((resolve) => setTimeout(resolve, 5));
    expect(await tagOf(read(expiring, mediaId, 0, 100))).toBe('TokenExpired');
  });

  it('asks again through fetch when a proxy sends the media chunked, and gets every byte', async () => {
    // A proxy that passes the status and headers on but drops Content-Length: Node then sends the body chunked.
    let proxy: HttpServer | undefined;
    let origin = '';
    const { media, seen, token } = await setUpDirect(0, async (server) => {
      origin = server.url;
      proxy = createHttpServer(async (req, res) => {
        const upstream = await fetch(`${server.url}${req.url}`, { headers: req.headers as Record<string, string> });
        const headers: Record<string, string> = {};
        upstream.headers.forEach((value, name) => {
          if (name !== 'content-length') headers[name] = value;
        });
        res.writeHead(upstream.status, headers);
        res.end(Buffer.from(await upstream.arrayBuffer()));
      });
      await new Promise<void>((resolve) => proxy?.listen(0, '127.0.0.1', resolve));
      return `http://127.0.0.1:${(proxy.address() as { port: number }).port}`;
    });
    try {
      const bytes = bytesOf(2 * MiB + 1, 14);
      // Uploaded straight to the server: the proxy passes GETs only.
      const { mediaId } = await uploadAll(httpMedia({ url: origin, token, fetch }), bytes);
      expect(sha256(await read(media, mediaId, 7, bytes.length))).toBe(sha256(bytes.subarray(7)));
      expect(seen.filter((request) => request.method === 'GET').map((request) => request.headers.get('range'))).toEqual(['bytes=7-']);
    } finally {
      proxy?.closeAllConnections();
      await new Promise((resolve) => proxy?.close(resolve));
    }
  });

  it('stops promptly when aborted mid-stream', async () => {
    const { media } = await setUpDirect();
    const bytes = bytesOf(5 * MiB, 4);
    const { mediaId } = await uploadAll(media, bytes);
    const controller = new AbortController();
    const reading = media.readMedia(mediaId, 0, { signal: controller.signal, expected: bytes.length })[Symbol.asyncIterator]();
    expect((await reading.next()).done).toBe(false);
    controller.abort(new Error('cancelled'));
    await expect(reading.next()).rejects.toMatchObject({ failure: { _tag: 'Interrupted' } });
    expect(await reading.next()).toEqual({ done: true, value: undefined });
  });
});

describe('httpMedia failures', () => {
  const UNKNOWN_ID = 'AAAAAAAAAAAAAAAAAAAAAA';
  const MALFORMED_ID = 'not a media id!';

  it('maps unknown media and uploads to NotExist', async () => {
    const { media } = await setUp();
    expect(await tagOf(media.getMedia(UNKNOWN_ID, { signal: live() }))).toBe('NotExist');
    expect(await tagOf(collect(media.readMedia(UNKNOWN_ID, 0, { signal: live() })))).toBe('NotExist');
    expect(await tagOf(media.getUpload(UNKNOWN_ID, { signal: live() }))).toBe('NotExist');
    expect(await tagOf(media.appendUpload(UNKNOWN_ID, 0, sourceOf(bytesOf(3)), { signal: live(), onProgress: () => undefined }))).toBe('NotExist');
  });

  it('maps an upload that is not complete yet to NotExist for downloads', async () => {
    const { media } = await setUp();
    const { uploadId } = await media.createUpload({ size: 10, fileName: '' }, { signal: live() });
    expect(await tagOf(media.getMedia(uploadId, { signal: live() }))).toBe('NotExist');
  });

  it('maps malformed IDs to InvalidArgument, with or without a response body (HEAD), and never builds another path', async () => {
    const { media, seen } = await setUp();
    for (const id of [MALFORMED_ID, 'short', '..', '.', '', 'a/b']) {
      expect(await tagOf(media.getMedia(id, { signal: live() })), id).toBe('InvalidArgument');
      expect(await tagOf(collect(media.readMedia(id, 0, { signal: live() }))), id).toBe('InvalidArgument');
      expect(await tagOf(media.getUpload(id, { signal: live() })), id).toBe('InvalidArgument');
      expect(await tagOf(media.terminateUpload(id, { signal: live() })), id).toBe('InvalidArgument');
    }
    for (const request of seen) expect(new URL(request.url).pathname).toMatch(/^\/v1\/(media|uploads)\/[^/]+$/);
  });

  it('maps a bad token to InvalidToken and an expired one to TokenExpired (where the server sends a body)', async () => {
    const { server } = await setUp();
    const bad = httpMedia({ url: server.url, token: 'not-a-token', fetch });
    expect(await tagOf(bad.createUpload({ size: 1, fileName: '' }, { signal: live() }))).toBe('InvalidToken');
    expect(await tagOf(bad.getMedia('AAAAAAAAAAAAAAAAAAAAAA', { signal: live() }))).toBe('InvalidToken');
    expect(await tagOf(collect(bad.readMedia('AAAAAAAAAAAAAAAAAAAAAA', 0, { signal: live() })))).toBe('InvalidToken');

    const expiring = httpMedia({ url: server.url, token: server.issueToken('alice', 1), fetch });
    await new Promise((resolve) => setTimeout(resolve, 5));
    expect(await tagOf(expiring.createUpload({ size: 1, fileName: '' }, { signal: live() }))).toBe('TokenExpired');
    expect(await tagOf(collect(expiring.readMedia('AAAAAAAAAAAAAAAAAAAAAA', 0, { signal: live() })))).toBe('TokenExpired');
  });

  it('maps sizes over 30 MiB to SizeOverflow and empty files to InvalidArgument', async () => {
    const { media } = await setUp();
    const over = media.createUpload({ size: MAX_FILE_SIZE + 1, fileName: 'big' }, { signal: live() });
    await expect(over).rejects.toMatchObject({ failure: Failure.sizeOverflow(MAX_FILE_SIZE + 1, MAX_FILE_SIZE) });
    expect(await tagOf(media.createUpload({ size: 0, fileName: 'empty' }, { signal: live() }))).toBe('InvalidArgument');
  });

  it('maps bytes beyond the declared length to SizeOverflow', async () => {
    const { media } = await setUp();
    const { uploadId } = await media.createUpload({ size: 100, fileName: '' }, { signal: live() });
    const tooMany = media.appendUpload(uploadId, 0, sourceOf(bytesOf(150)), { signal: live(), onProgress: () => undefined });
    expect(await tagOf(tooMany)).toBe('SizeOverflow');
  });

  it('maps an offset the server does not have to Conflict, so the caller asks getUpload', async () => {
    const { media } = await setUp();
    const bytes = bytesOf(1000);
    const { uploadId } = await media.createUpload({ size: bytes.length, fileName: '' }, { signal: live() });
    expect(await tagOf(media.appendUpload(uploadId, 10, sourceOf(bytes), { signal: live(), onProgress: () => undefined }))).toBe('Conflict');
  });

  it('maps a refused connection to Network', async () => {
    const server = await start();
    const url = server.url;
    await server.close();
    const gone = httpMedia({ url, token: 'x', fetch });
    expect(await tagOf(gone.getMedia(UNKNOWN_ID, { signal: live() }))).toBe('Network');
    expect(await tagOf(gone.createUpload({ size: 1, fileName: '' }, { signal: live() }))).toBe('Network');
  });

  it.each([
    [502, {}, '<html>bad gateway</html>', 'Network'],
    [503, { 'Retry-After': '0' }, '', 'Network'],
    [500, {}, JSON.stringify({ failure: Failure.unknown('boom'), message: 'boom' }), 'Network'],
    [408, {}, '', 'Network'],
    [429, {}, '', 'Network'],
    [423, {}, '', 'Conflict'],
    [409, {}, '', 'Conflict'],
    [410, {}, '', 'NotExist'],
    [404, {}, '<html>not found</html>', 'NotExist'],
    [413, {}, '', 'SizeOverflow'],
    [401, {}, '', 'InvalidToken'],
    [400, {}, '', 'InvalidArgument'],
    [415, {}, JSON.stringify({ failure: Failure.invalidArgument('Content-Type', 'no'), message: 'no' }), 'InvalidArgument'],
    [418, {}, 'teapot', 'Unknown'],
  ] as const)('maps status %i to %s whatever the body', async (status, headers, body, tag) => {
    const answer: typeof globalThis.fetch = async () => new Response(body === '' ? null : body, { status, headers });
    const media = httpMedia({ url: 'http://ferry.invalid', token: 't', fetch: answer });
    expect(await tagOf(media.getUpload(UNKNOWN_ID, { signal: live() }))).toBe(tag);
  });
});

describe('httpMedia abort contract', () => {
  it('rejects at once with Interrupted and sends nothing when the signal is already aborted', async () => {
    const { media, seen } = await setUp();
    const controller = new AbortController();
    controller.abort(new Error('never mind'));
    const { signal } = controller;
    const calls: Promise<unknown>[] = [
      media.createUpload({ size: 1, fileName: '' }, { signal }),
      media.getUpload(UNKNOWN, { signal }),
      media.appendUpload(UNKNOWN, 0, sourceOf(bytesOf(1)), { signal, onProgress: () => undefined }),
      media.terminateUpload(UNKNOWN, { signal }),
      media.getMedia(UNKNOWN, { signal }),
      collect(media.readMedia(UNKNOWN, 0, { signal })),
      // The abort comes first, even before the ID is checked.
      media.getMedia('..', { signal }),
    ];
    for (const call of calls) await expect(call).rejects.toMatchObject({ failure: { _tag: 'Interrupted' }, cause: signal.reason });
    expect(seen).toEqual([]);
  });

  it('stops appendUpload promptly when aborted while the source is stuck; the acknowledged bytes stay for a resume', async () => {
    const { media } = await setUp();
    const bytes = bytesOf(3 * MiB, 21);
    const { uploadId } = await media.createUpload({ size: bytes.length, fileName: '' }, { signal: live() });
    const controller = new AbortController();
    const progress: number[] = [];
    const appending = media.appendUpload(uploadId, 0, sourceOf(bytes, { stallAt: WINDOW.initial + 64 * KiB }), {
      signal: controller.signal,
      onProgress: (at) => progress.push(at),
    });
    while (progress.length === 0) await new Promise((resolve) => setTimeout(resolve, 5));
    const abortedAt = performance.now();
    controller.abort(new Error('cancelled'));
    await expect(appending).rejects.toMatchObject({ failure: { _tag: 'Interrupted' } });
    expect(performance.now() - abortedAt).toBeLessThan(200);
    expect(progress).toEqual([WINDOW.initial]);

    const { offset } = await media.getUpload(uploadId, { signal: live() });
    expect(offset).toBe(WINDOW.initial);
    await media.appendUpload(uploadId, offset, sourceOf(bytes), { signal: live(), onProgress: () => undefined });
    expect((await media.getMedia(uploadId, { signal: live() })).sha256).toBe(sha256(bytes));
  });

  it('stops appendUpload promptly when aborted while a PATCH is in flight, and calls onProgress no more', async () => {
    const server = await start();
    const token = server.issueToken('alice');
    let patches = 0;
    // The second PATCH hangs on the way (a stalled link) until the caller aborts.
    const stalling: typeof globalThis.fetch = async (input, init) => {
      if (init?.method === 'PATCH' && ++patches === 2) {
        await new Promise((resolve) => init.signal?.addEventListener('abort', resolve));
      }
      return fetch(input, init);
    };
    const media = httpMedia({ url: server.url, token, fetch: stalling });
    const { uploadId } = await media.createUpload({ size: 3 * MiB, fileName: '' }, { signal: live() });
    const controller = new AbortController();
    const progress: number[] = [];
    const appending = media.appendUpload(uploadId, 0, sourceOf(bytesOf(3 * MiB)), { signal: controller.signal, onProgress: (at) => progress.push(at) });
    while (patches < 2) await new Promise((resolve) => setTimeout(resolve, 5));
    controller.abort(new Error('cancelled'));
    await expect(appending).rejects.toMatchObject({ failure: { _tag: 'Interrupted' } });
    await new Promise((resolve) => setTimeout(resolve, 50));
    expect(progress).toEqual([WINDOW.initial]);
  });

  it('stops readMedia promptly when aborted mid-stream, cancelling the body', async () => {
    const { media } = await setUp();
    const bytes = bytesOf(5 * MiB, 4);
    const { mediaId } = await uploadAll(media, bytes);
    const controller = new AbortController();
    const reading = media.readMedia(mediaId, 0, { signal: controller.signal })[Symbol.asyncIterator]();
    const first = await reading.next();
    expect(first.done).toBe(false);
    controller.abort(new Error('cancelled'));
    const abortedAt = performance.now();
    await expect(reading.next()).rejects.toMatchObject({ failure: { _tag: 'Interrupted' } });
    expect(performance.now() - abortedAt).toBeLessThan(200);
    expect(await reading.next()).toEqual({ done: true, value: undefined });
  });

  it('stops readMedia when aborted while waiting for the next bytes', async () => {
    const server = await start();
    const token = server.issueToken('alice');
    const media = httpMedia({ url: server.url, token, fetch });
    const { mediaId } = await uploadAll(media, bytesOf(100));
    // A body that sends a few bytes then nothing more (a stalled link).
    const stalled: typeof globalThis.fetch = async (_input, init) =>
      new Response(
        new ReadableStream<Uint8Array>({
          start(stream) {
            stream.enqueue(new Uint8Array(10));
            init?.signal?.addEventListener('abort', () => stream.error(init.signal?.reason));
          },
        }),
        { status: 200 },
      );
    const controller = new AbortController();
    const reading = httpMedia({ url: server.url, token, fetch: stalled }).readMedia(mediaId, 0, { signal: controller.signal })[Symbol.asyncIterator]();
    expect((await reading.next()).value?.length).toBe(10);
    const waiting = reading.next();
    const reason = new Error('cancelled');
    setTimeout(() => controller.abort(reason), 20);
    await expect(waiting).rejects.toMatchObject({ failure: { _tag: 'Interrupted' }, cause: reason });
  });

  it('rejects createUpload at once when aborted mid-request, and removes the upload the server created anyway', async () => {
    const server = await start();
    const token = server.issueToken('alice');
    let created: string | undefined;
    let answered = (): void => undefined;
    const done = new Promise<void>((resolve) => (answered = resolve));
    // The POST arrives and is answered only after the caller gave up.
    const slow: typeof globalThis.fetch = async (input, init) => {
      if (init?.method !== 'POST') return fetch(input, init);
      await new Promise((resolve) => setTimeout(resolve, 50));
      const response = await fetch(input, init);
      created = uploadIdOf(response.headers.get('Location') ?? '', server.uploadsUrl);
      answered();
      return response;
    };
    const media = withMediaDuties(httpMedia({ url: server.url, token, fetch: slow }));
    const controller = new AbortController();
    const creating = media.createUpload({ size: 10, fileName: '' }, { signal: controller.signal });
    controller.abort(new Error('cancelled'));
    await expect(creating).rejects.toMatchObject({ failure: { _tag: 'Interrupted' } });
    await done;
    const id = created ?? '';
    expect(id).not.toBe('');
    // The cleanup runs after the caller was answered: poll the server until the upload is gone.
    await eventually(async () => (await fetch(`${server.uploadsUrl}/${id}`, { method: 'HEAD', headers: tus(token) })).status === 404, 2_000);
  });
});

describe('httpMedia helpers', () => {
  it('grows a fast window at once and shrinks a slow one by half at most, within 256 KiB to 2 MiB (16 MiB streamed)', () => {
    expect(WINDOW.max).toBe(2 * MiB);
    expect(nextWindow(MiB, MiB, 10)).toBe(2 * MiB);
    expect(nextWindow(MiB, MiB, 10, WINDOW.maxStreamed)).toBe(16 * MiB);
    expect(nextWindow(MiB, MiB, 250, WINDOW.maxStreamed)).toBe(8 * MiB);
    expect(nextWindow(2 * MiB, 2 * MiB, 10)).toBe(2 * MiB);
    expect(nextWindow(MiB, MiB, 2_000)).toBe(MiB);
    expect(nextWindow(MiB, MiB, 10_000)).toBe(MiB / 2);
    expect(nextWindow(256 * KiB, 256 * KiB, 60_000)).toBe(256 * KiB);
    // Sized for two seconds at the measured rate, in 64 KiB steps.
    expect(nextWindow(2 * MiB, 2 * MiB, 3_500)).toBe(18 * 64 * KiB);
    // The short last window of an upload says nothing about the link.
    expect(nextWindow(MiB, 3, 50)).toBe(MiB);
  });

  it('keeps every window within its bounds in 64 KiB steps, never shrinking a fast one nor growing a slow one', () => {
    const step = 64 * KiB;
    fc.assert(
      fc.property(
        fc.integer({ min: WINDOW.min / step, max: WINDOW.maxStreamed / step }).map((steps) => steps * step),
        fc.double({ min: 0, max: 120_000, noNaN: true }),
        fc.boolean(),
        (current, elapsedMs, streamed) => {
          const max = streamed ? WINDOW.maxStreamed : WINDOW.max;
          const inBounds = Math.min(current, max);
          const next = nextWindow(inBounds, inBounds, elapsedMs, max);
          expect(next % step).toBe(0);
          expect(next).toBeGreaterThanOrEqual(WINDOW.min);
          expect(next).toBeLessThanOrEqual(max);
          expect(next).toBeGreaterThanOrEqual(Math.max(WINDOW.min, Math.floor(inBounds / 2 / step) * step));
          if (elapsedMs < WINDOW.lowMs) expect(next).toBeGreaterThanOrEqual(inBounds);
          if (elapsedMs > WINDOW.highMs) expect(next).toBeLessThanOrEqual(inBounds);
        },
      ),
      fcOptions(500),
    );
  });

  it('reads Retry-After as seconds or a date', () => {
    expect(retryAfterMs('3')).toBe(3_000);
    expect(retryAfterMs(new Date(10_000).toUTCString(), 4_000)).toBe(6_000);
    expect(retryAfterMs('soon')).toBeUndefined();
    expect(retryAfterMs(null)).toBeUndefined();
  });

  it('takes the upload ID from an absolute or relative Location', () => {
    expect(uploadIdOf('http://h/v1/uploads/abc_DEF-123', 'http://h/v1/uploads')).toBe('abc_DEF-123');
    expect(uploadIdOf('/files/xyz?x=1', 'http://h/v1/uploads')).toBe('xyz');
    expect(uploadIdOf('http://h/v1/uploads/', 'http://h/v1/uploads')).toBeUndefined();
  });
});

const UNKNOWN = 'AAAAAAAAAAAAAAAAAAAAAA';
