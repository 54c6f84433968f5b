/**
 * Downloads: Range requests, ETag, the headers that keep browsers from rendering media, file names made
 * safe for Content-Disposition; and properties of the range parser and the file-name sanitizer.
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { contentDisposition, parseRange, safeFileName } from '../../src/server/http-downloads.js';
import { bearer, bytesOf, mediaUrl, send, sha256, start, upload } from './http-support.js';

const SIZE = 100_000;

const withMedia = async (fileName = 'report.pdf') => {
  const server = await start();
  const token = server.issueToken('alice');
  const bytes = bytesOf(SIZE, 9);
  const mediaId = await upload(server, token, bytes, fileName);
  const url = mediaUrl(server, mediaId);
  const get = (headers: Record<string, string> = {}, method = 'GET') => send(url, { method, headers: { ...bearer(token), ...headers } });
  return { server, token, bytes, mediaId, url, get };
};

describe('downloads', () => {
  it('serves the bytes with a strong ETag and headers that make browsers save rather than render them', async () => {
    const { bytes, get } = await withMedia();
    const reply = await get();
    expect(reply.status).toBe(200);
    expect(sha256(reply.body)).toBe(sha256(bytes));
    expect(reply.headers).toMatchObject({
      etag: `"${sha256(bytes)}"`,
      'content-type': 'application/octet-stream',
      'content-disposition': `attachment; filename="report.pdf"; filename*=UTF-8''report.pdf`,
      'x-content-type-options': 'nosniff',
      'content-security-policy': 'sandbox',
      'content-length': String(SIZE),
      'accept-ranges': 'bytes',
    });
    const head = await get({}, 'HEAD');
    expect(head.status).toBe(200);
    expect(head.body.length).toBe(0);
    expect(head.headers['content-length']).toBe(String(SIZE));
    expect(head.headers.etag).toBe(reply.headers.etag);
  });

  it.each([
    ['the start', 'bytes=0-99', 0, 99],
    ['the middle', 'bytes=40000-40999', 40_000, 40_999],
    ['a suffix', 'bytes=-500', SIZE - 500, SIZE - 1],
    ['an open end', 'bytes=99000-', 99_000, SIZE - 1],
    ['an end past the size', 'bytes=99990-200000', 99_990, SIZE - 1],
    ['a suffix longer than the media', 'bytes=-200000', 0, SIZE - 1],
    ['one byte', 'bytes=12345-12345', 12_345, 12_345],
  ])('serves a Range of %s with 206 and Content-Range', async (_, range, start, end) => {
    const { bytes, get } = await withMedia();
    const reply = await get({ Range: range });
    expect(reply.status).toBe(206);
    expect(reply.headers['content-range']).toBe(`bytes ${start}-${end}/${SIZE}`);
    expect(reply.headers['content-length']).toBe(String(end - start + 1));
    expect(reply.body).toEqual(Buffer.from(bytes.subarray(start, end + 1)));
  });

  it('answers an unsatisfiable Range with 416 and the size, and ignores ranges it does not serve', async () => {
    const { get } = await withMedia();
    for (const range of [`bytes=${SIZE}-`, 'bytes=200000-300000', 'bytes=-0']) {
      const reply = await get({ Range: range });
      expect(reply.status, range).toBe(416);
      expect(reply.headers['content-range']).toBe(`bytes */${SIZE}`);
      expect(reply.failure()).toMatchObject({ _tag: 'InvalidArgument', argument: 'Range' });
    }
    for (const range of ['bytes=0-1,5-6', 'items=0-5', 'bytes=9-3', 'bytes=abc']) {
      const reply = await get({ Range: range });
      expect(reply.status, range).toBe(200);
      expect(reply.body.length).toBe(SIZE);
    }
  });

  it('honours If-Range (a resumed download of other bytes starts over) and If-None-Match', async () => {
    const { bytes, get } = await withMedia();
    const etag = `"${sha256(bytes)}"`;
    expect((await get({ Range: 'bytes=10-', 'If-Range': etag })).status).toBe(206);
    expect((await get({ Range: 'bytes=10-', 'If-Range': `"${'0'.repeat(64)}"` })).status).toBe(200);
    const cached = await get({ 'If-None-Match': etag });
    expect(cached.status).toBe(304);
    expect(cached.body.length).toBe(0);
  });

  it('lets any logged-in user download: the media ID is the capability', async () => {
    const { server, url, bytes } = await withMedia();
    const reply = await send(url, { headers: bearer(server.issueToken('bob')) });
    expect(sha256(reply.body)).toBe(sha256(bytes));
  });

  it.each([
    ['../../etc/passwd', 'passwd'],
    ['..\\..\\boot.ini', 'boot.ini'],
    ['a\u0000b\r\nX-Evil: 1\r\n.txt', 'abX-Evil: 1.txt'],
    ['invoice\u202Efdp.exe', 'invoicefdp.exe'],
    ['..', undefined],
    ['/', undefined],
    ['', undefined],
  ])('offers the uploaded file name %j as a safe download name', async (given, expected) => {
    const { get, mediaId } = await withMedia(given);
    const reply = await get({}, 'HEAD');
    const disposition = reply.headers['content-disposition'] ?? '';
    expect(decodeURIComponent(disposition.split("filename*=UTF-8''")[1] ?? '')).toBe(expected ?? mediaId);
    expect(reply.headers['x-evil']).toBeUndefined();
  });

  it('percent-encodes non-ASCII names in filename* and keeps an ASCII fallback', () => {
    expect(contentDisposition('résumé "final" (1).pdf')).toBe(
      `attachment; filename="r_sum_ _final_ (1).pdf"; filename*=UTF-8''r%C3%A9sum%C3%A9%20%22final%22%20%281%29.pdf`,
    );
    const long = `${'x'.repeat(500)}.jpeg`;
    expect(safeFileName(long, 'id')).toHaveLength(128);
    expect(safeFileName(long, 'id').endsWith('.jpeg')).toBe(true);
  });
});

describe('properties', () => {
  it('a Range is served whole, refused, or as bytes inside the media', () => {
    const header = fc.oneof(
      fc.tuple(fc.option(fc.nat(300)), fc.option(fc.nat(300))).map(([a, b]) => `bytes=${a ?? ''}-${b ?? ''}`),
      fc.string(),
    );
    fc.assert(
      fc.property(header, fc.integer({ min: 1, max: 200 }), (range, size) => {
        const parsed = parseRange(range, size);
        if (parsed.kind === 'part') {
          expect(parsed.start).toBeGreaterThanOrEqual(0);
          expect(parsed.start).toBeLessThanOrEqual(parsed.end);
          expect(parsed.end).toBeLessThan(size);
        }
      }),
      { seed: 20_260_301, numRuns: 2_000 },
    );
  });

  it('a safe file name has no path separator, no control character and is never only dots', () => {
    fc.assert(
      fc.property(fc.string({ unit: 'binary', maxLength: 300 }), (name) => {
        const safe = safeFileName(name, 'fallback');
        expect(safe).not.toMatch(/[/\\\u0000-\u001f\u007f-\u009f\u202e]/);
        expect(safe).not.toMatch(/^\.*$/);
        expect(Array.from(safe).length).toBeLessThanOrEqual(128);
        expect(contentDisposition(safe)).toMatch(/^attachment; filename="[\x20-\x7e]*"; filename\*=UTF-8''[A-Za-z0-9%!#$&+\-.^_`|~]+$/);
      }),
      { seed: 20_260_302, numRuns: 2_000 },
    );
  });
});
