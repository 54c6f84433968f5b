/**
 * Downloads: `GET` and `HEAD` of `/v1/media/:mediaId`, with single `Range` requests, a strong `ETag` from
 * the SHA-256, and headers that make a browser save the bytes rather than render them. Any logged-in
 * user may download: media IDs carry 128 random bits, so knowing one is the capability.
 * @module
 */
import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import * as E from 'fp-ts/lib/Either.js';
import { Failure, fault } from '../core/failure.js';
import { offeredFileName } from '../core/files.js';
import type { Hub, MediaInfo } from '../hub/hub.js';
import { answering, authenticate, decodeSegment, type Exchange, HttpFault, type Route, sendPreflight, type SessionGuard, singleHeader } from './http-util.js';
import { describeUntrusted } from '../core/untrusted.js';

/** What a `Range` header asks of media of `size` bytes (RFC 9110 §14). */
export type RangeRequest =
  | { readonly kind: 'whole' }
  | { readonly kind: 'part'; readonly start: number; readonly end: number }
  | { readonly kind: 'unsatisfiable' };

/**
 * Reads a `Range` header. Only one `bytes` range is served; several ranges, other units and malformed
 * headers are ignored (the whole media is sent), as RFC 9110 allows.
 */
export const parseRange = (header: string | undefined, size: number): RangeRequest => {
  const match = header === undefined ? null : /^bytes=(\d*)-(\d*)$/i.exec(header.trim());
  const [first, last] = [match?.[1] ?? '', match?.[2] ?? ''];
  if (!match || (first === '' && last === '')) return { kind: 'whole' };
  if (first === '') {
    const suffix = Number(last);
    return suffix === 0 ? { kind: 'unsatisfiable' } : { kind: 'part', start: Math.max(0, size - suffix), end: size - 1 };
  }
  const start = Number(first);
  const end = last === '' ? size - 1 : Math.min(Number(last), size - 1);
  if (last !== '' && Number(last) < start) return { kind: 'whole' };
  return start >= size ? { kind: 'unsatisfiable' } : { kind: 'part', start, end };
};

/** The name offered for media (decision 108): re-exported under the name this module's specs use. */
export { offeredFileName as safeFileName } from '../core/files.js';

/** `attachment` with an ASCII `filename` for old clients and the exact UTF-8 name in `filename*` (RFC 6266). */
export const contentDisposition = (fileName: string): string => {
  const ascii = fileName.replace(/[^\x20-\x7e]|["\\%]/g, '_');
  const encoded = encodeURIComponent(fileName).replace(/['()*]/g, (c) => `%${c.charCodeAt(0).toString(16).toUpperCase()}`);
  return `attachment; filename="${ascii}"; filename*=UTF-8''${encoded}`;
};

/** Bytes of a download read ahead of the socket, per request. */
const READ_AHEAD = 256 * 1024;

/** The bytes `start..end` (inclusive) of media, read from the hub and stopped early at `end`. */
async function* slice(hub: Hub, mediaId: string, start: number, end: number, signal: AbortSignal): AsyncIterable<Uint8Array> {
  let remaining = end - start + 1;
  for await (const chunk of hub.readMedia(mediaId, start, signal)) {
    const part = chunk.length > remaining ? chunk.subarray(0, remaining) : chunk;
    remaining -= part.length;
    yield part;
    if (remaining === 0) return;
  }
  if (remaining > 0) throw fault(Failure.unknown(`media ${mediaId} ended ${remaining} bytes early`));
}

const headersOf = (info: MediaInfo): Record<string, string> => ({
  'Content-Type': 'application/octet-stream',
  'Content-Disposition': contentDisposition(offeredFileName(info.fileName, info.mediaId)),
  'X-Content-Type-Options': 'nosniff',
  'Content-Security-Policy': 'sandbox',
  'Accept-Ranges': 'bytes',
  ETag: `"${info.sha256}"`,
  'Cache-Control': 'private, no-transform',
});

/** Whether an `If-None-Match` / `If-Range` value names this entity tag (strong comparison for `If-Range`). */
const matches = (header: string | undefined, etag: string): boolean =>
  header !== undefined && (header.trim() === '*' || header.split(',').some((tag) => tag.trim().replace(/^W\//, '') === etag));

/**
 * The downloads route module.
 * @example
 * const media = downloadsRoute({ hub, prefix: '/v1/media' });
 */
export const downloadsRoute = ({ hub, prefix, guard }: { readonly hub: Hub; readonly prefix: string; readonly guard?: SessionGuard }): Route => ({
  prefix,
  handle: (exchange: Exchange) =>
    answering(exchange, {}, async () => {
      const { req, res, segments, method } = exchange;
      const item = segments[0];
      if (item === undefined || segments.length > 1) throw fault(Failure.notExist(`route ${req.url ?? ''}`));
      if (method === 'OPTIONS') return sendPreflight(res, 'OPTIONS, GET, HEAD');
      const user = authenticate(hub, req);
      if (E.isLeft(user)) throw fault(user.left);
      guard?.(req, user.right);
      if (method !== 'GET' && method !== 'HEAD') {
        throw new HttpFault(405, Failure.invalidArgument('method', `${method} is not allowed here; use GET or HEAD`), { Allow: 'OPTIONS, GET, HEAD' });
      }
      const mediaId = decodeSegment(item);
      if (mediaId === undefined) throw fault(Failure.invalidArgument('mediaId', 'broken percent-encoding'));
      const info = await hub.mediaInfo(mediaId);
      const headers = headersOf(info);
      if (matches(singleHeader(req, 'if-none-match'), headers.ETag ?? '')) {
        res.writeHead(304, headers);
        return void res.end();
      }
      const ifRange = singleHeader(req, 'if-range');
      const range =
        ifRange === undefined || ifRange.trim() === headers.ETag ? parseRange(singleHeader(req, 'range'), info.size) : ({ kind: 'whole' } as const);
      if (range.kind === 'unsatisfiable') {
        throw new HttpFault(416, Failure.invalidArgument('Range', `no byte of ${describeUntrusted(req.headers.range)} is in 0-${info.size - 1}`), {
          'Content-Range': `bytes */${info.size}`,
        });
      }
      const [start, end] = range.kind === 'part' ? [range.start, range.end] : [0, info.size - 1];
      res.writeHead(range.kind === 'part' ? 206 : 200, {
        ...headers,
        'Content-Length': String(end - start + 1),
        ...(range.kind === 'part' ? { 'Content-Range': `bytes ${start}-${end}/${info.size}` } : {}),
      });
      if (method === 'HEAD') return void res.end();
      // Byte mode, so read-ahead is bounded in bytes: READ_AHEAD keeps a few chunks read while the socket
      // drains, so the next write never waits for a disk read (at 16 KiB each 64 KiB chunk did). A client
      // that leaves mid-download rejects the pipeline; its socket is already gone.
      await pipeline(Readable.from(slice(hub, mediaId, start, end, exchange.signal), { objectMode: false, highWaterMark: READ_AHEAD }), res).catch((error: unknown) => {
        if (!exchange.signal.aborted) res.destroy(error instanceof Error ? error : undefined);
      });
    }),
});
