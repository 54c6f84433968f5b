/**
 * Interop: the stock tus client (`tus-js-client`) uploads to our server with a Bearer header, and the
 * media ID is the last path segment of its upload URL.
 */
import { createReadStream, writeFileSync } from 'node:fs';
import * as tus from 'tus-js-client';
import { describe, expect, it } from 'vitest';
import { bearer, bytesOf, mediaIdOf, mediaUrl, scratchPath, send, sha256, start } from './http-support.js';

const uploadWithTusJsClient = (
  source: Buffer | ReturnType<typeof createReadStream>,
  options: { endpoint: string; token: string; chunkSize?: number; size?: number },
): Promise<{ url: string; progress: number[] }> =>
  new Promise((resolve, reject) => {
    const progress: number[] = [];
    const upload = new tus.Upload(source, {
      endpoint: options.endpoint,
      headers: bearer(options.token),
      metadata: { filename: 'from-tus-js-client.bin', filetype: 'application/octet-stream' },
      ...(options.chunkSize === undefined ? {} : { chunkSize: options.chunkSize }),
      ...(options.size === undefined ? {} : { uploadSize: options.size }),
      retryDelays: [],
      onProgress: (sent) => progress.push(sent),
      onError: reject,
      onSuccess: () => (upload.url ? resolve({ url: upload.url, progress }) : reject(new Error('no upload URL'))),
    });
    upload.start();
  });

describe('tus-js-client interop', () => {
  it('uploads a buffer in chunks, and a GET of its upload URL’s last segment returns the same bytes', async () => {
    const server = await start();
    const token = server.issueToken('alice');
    const bytes = Buffer.from(bytesOf(3 * 1024 * 1024 + 5, 11));
    const { url } = await uploadWithTusJsClient(bytes, { endpoint: server.uploadsUrl, token, chunkSize: 1024 * 1024 });
    expect(url.startsWith(`${server.uploadsUrl}/`)).toBe(true);
    const reply = await send(mediaUrl(server, mediaIdOf(url)), { headers: bearer(server.issueToken('bob')) });
    expect(reply.status).toBe(200);
    expect(sha256(reply.body)).toBe(sha256(bytes));
    expect(reply.headers['content-disposition']).toContain("filename*=UTF-8''from-tus-js-client.bin");
  });

  it('uploads a file stream in one PATCH (chunkSize Infinity)', async () => {
    const server = await start();
    const token = server.issueToken('alice');
    const bytes = bytesOf(2 * 1024 * 1024, 12);
    const path = scratchPath('source.bin');
    writeFileSync(path, bytes);
    const { url } = await uploadWithTusJsClient(createReadStream(path), { endpoint: server.uploadsUrl, token, chunkSize: bytes.length, size: bytes.length });
    const reply = await send(mediaUrl(server, mediaIdOf(url)), { headers: bearer(token) });
    expect(sha256(reply.body)).toBe(sha256(bytes));
  });

  it('reports our 413 to tus-js-client as an error with the status, not a retry loop', async () => {
    const server = await start();
    const token = server.issueToken('alice');
    const error = await uploadWithTusJsClient(Buffer.alloc(10), { endpoint: server.uploadsUrl, token, size: 31_457_281 }).then(
      () => undefined,
      (e: unknown) => e,
    );
    expect(error).toBeInstanceOf(Error);
    expect(String(error)).toContain('413');
  });
});
