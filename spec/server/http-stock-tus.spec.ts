/**
 * Interop the other way round: our HTTP transport's uploads against a stock tus server (`@tus/server`
 * with its file store, upload only). The bytes it stores are the bytes we sent, in windows, with
 * progress from its acknowledged offsets; a resume after a partial PATCH continues from its offset.
 */
import { createHash } from 'node:crypto';
import { mkdtempSync, readFileSync } from 'node:fs';
import { createServer, type Server as HttpServer } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { FileStore } from '@tus/file-store';
import { Server } from '@tus/server';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { ByteSource } from '../../transports/transport.js';
import { httpMedia } from '../../transports/http-media.js';

const sourceOf = (bytes: Uint8Array): ByteSource => ({
  size: bytes.length,
  async *chunks(offset, chunkSize) {
    for (let at = offset; at < bytes.length; at += chunkSize) yield bytes.subarray(at, Math.min(at + chunkSize, bytes.length));
  },
});
const pattern = (size: number): Uint8Array => Uint8Array.from({ length: size }, (_, i) => (i * 31 + 7) & 0xff);
const sha = (data: Uint8Array): string => createHash('sha256').update(data).digest('hex');

describe('our transport against a stock tus server (@tus/server)', () => {
  const directory = mkdtempSync(join(tmpdir(), 'ferry-stock-tus-'));
  let http: HttpServer;
  let url = '';
  beforeAll(async () => {
    const tus = new Server({ path: '/v1/uploads', datastore: new FileStore({ directory }) });
    http = createServer((req, res) => void tus.handle(req, res));
    await new Promise<void>((resolve) => http.listen(0, '127.0.0.1', resolve));
    const address = http.address();
    url = `http://127.0.0.1:${typeof address === 'object' && address ? address.port : 0}`;
  });
  afterAll(async () => {
    http.closeAllConnections();
    await new Promise<void>((resolve) => http.close(() => resolve()));
  });

  it('uploads 3 MiB + 5 bytes in windows, with acknowledged progress, and the server stores exactly those bytes', async () => {
    const media = httpMedia({ url, token: 'unused-by-stock-tus', fetch: globalThis.fetch });
    const bytes = pattern(3 * 1024 * 1024 + 5);
    const signal = new AbortController().signal;
    const created = await media.createUpload({ size: bytes.length, fileName: 'stock.bin' }, { signal });
    const progress: number[] = [];
    const state = await media.appendUpload(created.uploadId, 0, sourceOf(bytes), { signal, onProgress: (at) => progress.push(at) });
    expect(state).toMatchObject({ offset: bytes.length, complete: true });
    expect(progress.length).toBeGreaterThan(1);
    expect(progress.at(-1)).toBe(bytes.length);
    expect(progress.every((at, i) => i === 0 || at > (progress[i - 1] ?? 0))).toBe(true);
    expect(sha(readFileSync(join(directory, created.uploadId)))).toBe(sha(bytes));
  });

  it('resumes from the stock server offset after part of the bytes', async () => {
    const media = httpMedia({ url, token: 'unused-by-stock-tus', fetch: globalThis.fetch });
    const bytes = pattern(2 * 1024 * 1024);
    const signal = new AbortController().signal;
    const created = await media.createUpload({ size: bytes.length, fileName: 'resume.bin' }, { signal });
    // Part of the bytes by a raw PATCH, as a client whose connection dropped after them.
    const raw = await fetch(`${url}/v1/uploads/${created.uploadId}`, {
      method: 'PATCH',
      headers: { 'Tus-Resumable': '1.0.0', 'Upload-Offset': '0', 'Content-Type': 'application/offset+octet-stream' },
      body: Buffer.from(bytes.subarray(0, 700_000)),
    });
    expect(raw.status).toBe(204);
    const located = await media.getUpload(created.uploadId, { signal });
    expect(located.offset).toBe(700_000);
    const done = await media.appendUpload(created.uploadId, located.offset, sourceOf(bytes), { signal, onProgress: () => undefined });
    expect(done.complete).toBe(true);
    expect(sha(readFileSync(join(directory, created.uploadId)))).toBe(sha(bytes));
  });
});
