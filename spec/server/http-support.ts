/**
 * Helpers of the HTTP server specs: servers on 127.0.0.1 port 0 closed after each spec, requests over
 * real sockets with `node:http` (no keep-alive pool, so every request is its own connection), bytes.
 */
import { createHash } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { type IncomingHttpHeaders, request } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, afterEach, expect } from 'vitest';
import { decodeFailure } from '../../src/protocol/codec.js';
import type { Failure } from '../../src/core/failure.js';
import { type FerryServer, type ServerOptions, startServer } from '../../src/server/server.js';

const root = mkdtempSync(join(tmpdir(), 'ferry-http-spec-'));
afterAll(() => rmSync(root, { recursive: true, force: true }));
let folders = 0;
/** A fresh data folder under this spec file's temporary root. */
export const newDataDir = (): string => join(root, `data-${++folders}`);
/** A path for a scratch file under this spec file's temporary root. */
export const scratchPath = (name: string): string => join(root, name);

const running = new Set<FerryServer>();
/** Starts a server that is closed after the current spec (or keep it with `{ keep: true }` and close it yourself). */
export const start = async (options: ServerOptions = {}, { keep = false } = {}): Promise<FerryServer> => {
  const server = await startServer(options);
  if (!keep) running.add(server);
  return server;
};
afterEach(async () => {
  await Promise.all([...running].map((server) => server.close()));
  running.clear();
});

export interface Reply {
  readonly status: number;
  readonly headers: IncomingHttpHeaders;
  readonly body: Buffer;
  /** The decoded failure of a JSON error body. */
  failure(): Failure;
}

export interface Ask {
  readonly method?: string;
  readonly headers?: Readonly<Record<string, string>>;
  readonly body?: Uint8Array | AsyncIterable<Uint8Array>;
}

/** One request on its own connection; resolves with the whole response. */
export const send = (url: string, { method = 'GET', headers = {}, body }: Ask = {}): Promise<Reply> =>
  new Promise<Reply>((resolve, reject) => {
    const sized = body instanceof Uint8Array ? { 'Content-Length': String(body.length) } : {};
    const req = request(url, { method, headers: { ...sized, ...headers }, agent: false }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (chunk: Buffer) => chunks.push(chunk));
      res.on('error', reject);
      res.on('end', () => {
        const payload = Buffer.concat(chunks);
        resolve({
          status: res.statusCode ?? 0,
          headers: res.headers,
          body: payload,
          failure: () => {
            expect(res.headers['content-type']).toBe('application/json; charset=utf-8');
            const json = JSON.parse(payload.toString('utf8')) as { failure: unknown; message: unknown };
            expect(typeof json.message).toBe('string');
            return decodeFailure(json.failure);
          },
        });
      });
    });
    req.on('error', reject);
    if (body === undefined || body instanceof Uint8Array) {
      req.end(body);
      return;
    }
    void (async () => {
      for await (const chunk of body) if (!req.write(chunk)) await new Promise((ok) => req.once('drain', ok));
      req.end();
    })().catch((error: unknown) => req.destroy(error instanceof Error ? error : new Error(String(error))));
  });

export const bearer = (token: string): Record<string, string> => ({ Authorization: `Bearer ${token}` });
/** `POST /v1/sessions` as `userId`: the new session's ID (the login must succeed). */
export const login = async (server: FerryServer, userId: string, token: string): Promise<string> => {
  const reply = await send(`${server.url}/v1/sessions`, { method: 'POST', headers: { ...bearer(token), 'Content-Type': 'application/json' }, body: Buffer.from(JSON.stringify({ userId })) });
  expect(reply.status, reply.body.toString()).toBe(201);
  return (JSON.parse(reply.body.toString()) as { sessionId: string }).sessionId;
};
export const tus = (token: string, extra: Readonly<Record<string, string>> = {}): Record<string, string> => ({
  ...bearer(token),
  'Tus-Resumable': '1.0.0',
  ...extra,
});
export const OFFSET_STREAM = { 'Content-Type': 'application/offset+octet-stream' } as const;
export const b64 = (text: string): string => Buffer.from(text, 'utf8').toString('base64');

/** Deterministic pseudo-random bytes (the rule specs' generator). */
export { bytes as bytesOf } from '../rules/support.js';
export const sha256 = (bytes: Uint8Array): string => createHash('sha256').update(bytes).digest('hex');

/** Creates an upload (no body) and returns its URL. */
export const create = async (server: FerryServer, token: string, size: number, headers: Readonly<Record<string, string>> = {}): Promise<string> => {
  const reply = await send(server.uploadsUrl, { method: 'POST', headers: tus(token, { 'Upload-Length': String(size), ...headers }) });
  expect(reply.status, reply.body.toString()).toBe(201);
  const location = reply.headers.location;
  if (location === undefined) throw new Error('no Location');
  return location;
};

/** Appends bytes at an offset with one PATCH. */
export const patch = (location: string, token: string, offset: number, body: Uint8Array | AsyncIterable<Uint8Array>, headers: Readonly<Record<string, string>> = {}) =>
  send(location, { method: 'PATCH', headers: tus(token, { ...OFFSET_STREAM, 'Upload-Offset': String(offset), ...headers }), body });

/** Uploads all of `bytes` with creation-with-upload and returns the media ID. */
export const upload = async (server: FerryServer, token: string, bytes: Uint8Array, fileName = 'file.bin'): Promise<string> => {
  const reply = await send(server.uploadsUrl, {
    method: 'POST',
    headers: tus(token, { ...OFFSET_STREAM, 'Upload-Length': String(bytes.length), 'Upload-Metadata': `filename ${b64(fileName)}` }),
    body: bytes,
  });
  expect(reply.status, reply.body.toString()).toBe(201);
  expect(reply.headers['upload-offset']).toBe(String(bytes.length));
  return mediaIdOf(reply.headers.location ?? '');
};

export const mediaIdOf = (location: string): string => new URL(location).pathname.split('/').pop() ?? '';
export const mediaUrl = (server: FerryServer, mediaId: string): string => `${server.url}/v1/media/${mediaId}`;

/** Resolves after `ms` of real time (only where real sockets must be given time). */
export const delay = (ms: number): Promise<void> => new Promise((ok) => setTimeout(ok, ms));

/** Polls `check` every 10 ms until it holds, failing after `timeoutMs`. */
export const eventually = async (check: () => Promise<boolean> | boolean, timeoutMs = 5_000): Promise<void> => {
  const deadline = Date.now() + timeoutMs;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`condition not met within ${timeoutMs} ms`);
    await delay(10);
  }
};
