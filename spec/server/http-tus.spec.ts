/**
 * tus 1.0.0 uploads over real sockets: creation, creation-with-upload, PATCH in several requests, HEAD
 * offsets, completion into downloadable media, termination, method override.
 */
import { readdirSync } from 'node:fs';
import { request } from 'node:http';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { b64, bearer, bytesOf, create, mediaIdOf, mediaUrl, newDataDir, OFFSET_STREAM, patch, send, sha256, start, tus } from './http-support.js';

describe('tus uploads', () => {
  it('advertises tus 1.0.0, its extensions and the 30 MiB limit on OPTIONS, without a token', async () => {
    const server = await start();
    const reply = await send(server.uploadsUrl, { method: 'OPTIONS' });
    expect(reply.status).toBe(204);
    expect(reply.headers['tus-version']).toBe('1.0.0');
    expect(reply.headers['tus-extension']).toBe('creation,creation-with-upload,termination,expiration');
    expect(reply.headers['tus-max-size']).toBe('31457280');
    expect(reply.headers['access-control-allow-headers']).toContain('Upload-Offset');
  });

  it('creates an upload, takes its bytes in several PATCHes with HEAD offsets between, then serves the same bytes', async () => {
    const server = await start();
    const token = server.issueToken('alice');
    const bytes = bytesOf(300_000, 7);
    const location = await create(server, token, bytes.length, { 'Upload-Metadata': `filename ${b64('photo.jpg')},filetype ${b64('image/jpeg')}` });
    expect(location.startsWith(`${server.uploadsUrl}/`)).toBe(true);

    const first = await send(location, { method: 'HEAD', headers: tus(token) });
    expect(first.status).toBe(200);
    expect(first.headers['upload-offset']).toBe('0');
    expect(first.headers['upload-length']).toBe(String(bytes.length));
    expect(first.headers['cache-control']).toBe('no-store');
    expect(first.headers['tus-resumable']).toBe('1.0.0');
    expect(Date.parse(String(first.headers['upload-expires']))).toBeGreaterThan(Date.now());

    for (const [from, to] of [
      [0, 100_000],
      [100_000, 250_000],
      [250_000, 300_000],
    ] as const) {
      const reply = await patch(location, token, from, bytes.subarray(from, to));
      expect(reply.status, reply.body.toString()).toBe(204);
      expect(reply.headers['upload-offset']).toBe(String(to));
      expect(reply.headers['upload-expires'] === undefined).toBe(to === bytes.length);
      const head = await send(location, { method: 'HEAD', headers: tus(token) });
      expect(head.headers['upload-offset']).toBe(String(to));
    }
    const done = await send(location, { method: 'HEAD', headers: tus(token) });
    expect(done.headers['upload-metadata']).toBe(`filename ${b64('photo.jpg')}`);

    const mediaId = mediaIdOf(location);
    const got = await send(mediaUrl(server, mediaId), { headers: bearer(token) });
    expect(got.status).toBe(200);
    expect(sha256(got.body)).toBe(sha256(bytes));
    expect(got.headers.etag).toBe(`"${sha256(bytes)}"`);
    expect(got.headers['content-length']).toBe(String(bytes.length));
  });

  it('takes a whole file in the creation request (creation-with-upload) and streams it without a size limit per request', async () => {
    const server = await start();
    const token = server.issueToken('alice');
    const bytes = bytesOf(5 * 1024 * 1024 + 17, 3);
    async function* slowly(): AsyncIterable<Uint8Array> {
      for (let at = 0; at < bytes.length; at += 64 * 1024) yield bytes.subarray(at, at + 64 * 1024);
    }
    const reply = await send(server.uploadsUrl, {
      method: 'POST',
      headers: tus(token, { ...OFFSET_STREAM, 'Upload-Length': String(bytes.length), 'Content-Length': String(bytes.length) }),
      body: slowly(),
    });
    expect(reply.status, reply.body.toString()).toBe(201);
    expect(reply.headers['upload-offset']).toBe(String(bytes.length));
    expect(reply.headers['upload-expires']).toBeUndefined();
    const got = await send(mediaUrl(server, mediaIdOf(reply.headers.location ?? '')), { headers: bearer(token) });
    expect(sha256(got.body)).toBe(sha256(bytes));
  });

  it('keeps the first part sent with the creation request and expects the rest by PATCH', async () => {
    const server = await start();
    const token = server.issueToken('alice');
    const bytes = bytesOf(1000, 4);
    const reply = await send(server.uploadsUrl, {
      method: 'POST',
      headers: tus(token, { ...OFFSET_STREAM, 'Upload-Length': '1000' }),
      body: bytes.subarray(0, 400),
    });
    expect(reply.status).toBe(201);
    expect(reply.headers['upload-offset']).toBe('400');
    expect(reply.headers['upload-expires']).toBeDefined();
    const location = reply.headers.location ?? '';
    const before = await send(mediaUrl(server, mediaIdOf(location)), { headers: bearer(token) });
    expect(before.status).toBe(404); // not downloadable before its last byte
    expect((await patch(location, token, 400, bytes.subarray(400))).headers['upload-offset']).toBe('1000');
    const got = await send(mediaUrl(server, mediaIdOf(location)), { headers: bearer(token) });
    expect(sha256(got.body)).toBe(sha256(bytes));
  });

  it('terminates an upload with DELETE and leaves no file behind', async () => {
    const dataDir = newDataDir();
    const server = await start({ dataDir });
    const token = server.issueToken('alice');
    const location = await create(server, token, 1000);
    await patch(location, token, 0, bytesOf(500));
    const complete = await create(server, token, 10);
    await patch(complete, token, 0, bytesOf(10));
    for (const url of [location, complete]) {
      const reply = await send(url, { method: 'DELETE', headers: tus(token) });
      expect(reply.status).toBe(204);
      expect(reply.headers['tus-resumable']).toBe('1.0.0');
      expect((await send(url, { method: 'HEAD', headers: tus(token) })).status).toBe(404);
      expect((await send(mediaUrl(server, mediaIdOf(url)), { headers: bearer(token) })).status).toBe(404);
      expect((await patch(url, token, 0, bytesOf(1))).status).toBe(404);
    }
    for (const folder of ['parts', 'media', 'meta']) expect(readdirSync(join(dataDir, folder))).toEqual([]);
  });

  it('honours X-HTTP-Method-Override for clients that can only POST', async () => {
    const server = await start();
    const token = server.issueToken('alice');
    const location = await create(server, token, 3);
    const reply = await send(location, {
      method: 'POST',
      headers: tus(token, { ...OFFSET_STREAM, 'X-HTTP-Method-Override': 'PATCH', 'Upload-Offset': '0' }),
      body: bytesOf(3),
    });
    expect(reply.status).toBe(204);
    expect(reply.headers['upload-offset']).toBe('3');
  });

  it('answers Expect: 100-continue before the body is sent', async () => {
    const server = await start();
    const token = server.issueToken('alice');
    const bytes = bytesOf(70_000, 8);
    const reply = await new Promise<{ status: number; offset: unknown; continued: boolean }>((resolve, reject) => {
      let continued = false;
      const req = request(server.uploadsUrl, {
        method: 'POST',
        agent: false,
        headers: tus(token, { ...OFFSET_STREAM, 'Upload-Length': String(bytes.length), 'Content-Length': String(bytes.length), Expect: '100-continue' }),
      });
      req.on('continue', () => {
        continued = true;
        req.end(bytes);
      });
      req.on('response', (res) => {
        res.resume();
        res.on('end', () => resolve({ status: res.statusCode ?? 0, offset: res.headers['upload-offset'], continued }));
      });
      req.on('error', reject);
      req.flushHeaders();
    });
    expect(reply).toEqual({ status: 201, offset: String(bytes.length), continued: true });
  });
});
