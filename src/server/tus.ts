/**
 * tus 1.0.0 over the hub: core (HEAD, PATCH), creation, creation-with-upload, termination and
 * expiration, at `/v1/uploads`. The upload ID in the URL is the hub's upload ID, which is the media ID.
 *
 * The hub decides everything that matters (limits, byte counting, ownership, offsets, expiry); this
 * module only turns headers into hub calls and hub answers into headers. See `docs/protocol-http.md`.
 *
 * Half-open drops: a client whose connection died mid-PATCH comes back with HEAD then PATCH while the
 * server may still be waiting for the dead request's bytes. Any new HEAD, PATCH or DELETE of the same
 * user on that upload aborts the older append and waits until its bytes are recorded, then proceeds,
 * so a resume does not wait for the idle timeout. The older request is answered 409 and closed.
 * @module
 */
import type { IncomingMessage } from 'node:http';
import * as E from 'fp-ts/lib/Either.js';
import { onAbort } from '../core/abort.js';
import { fromBase64, toBase64, utf8 } from '../core/bytes.js';
import { Failure, fault } from '../core/failure.js';
import type { Hub, UploadStatus } from '../hub/hub.js';
import {
  answering,
  authenticate,
  bodyOf,
  decodeSegment,
  type Exchange,
  HttpFault,
  mediaTypeOf,
  parseCount,
  type Route,
  type SessionGuard,
  sendPreflight,
  singleHeader,
} from './http-util.js';
import { describeUntrusted } from '../core/untrusted.js';
import { OFFSET_STREAM, TUS_RESUMABLE as TUS, TUS_VERSION } from '../protocol/http-wire.js';

const EXTENSIONS = 'creation,creation-with-upload,termination,expiration';

/** Options of {@link tusRoute}. */
export interface TusRouteOptions {
  readonly hub: Hub;
  /** Path of the creation endpoint. @example '/v1/uploads' */
  readonly prefix: string;
  /** Absolute URL of the creation endpoint; `Location` is this plus `/<uploadId>`. */
  readonly uploadsUrl: string;
  /** Refuses requests of an ended messaging session (`Ferry-Session`). */
  readonly guard?: SessionGuard;
}

/** An append in progress, so that a newer request of the same user can take the upload over. */
interface Appending {
  readonly controller: AbortController;
  readonly done: Promise<void>;
  /** Its request: one whose body has all arrived (`complete`) is not stalled, and ends by itself. */
  readonly req: IncomingMessage;
}

/** The abort reason of an append taken over by a newer request. */
const superseded = new Error('superseded by a newer request for this upload');

/** Parses `Upload-Metadata` (`key base64,key2,…`); the file name is the `filename` key, default empty. */
export const parseMetadata = (header: string | undefined): E.Either<Failure, { readonly fileName: string }> => {
  const bad = (detail: string) => E.left(Failure.invalidArgument('Upload-Metadata', detail));
  if (header === undefined || header.trim() === '') return E.right({ fileName: '' });
  const seen = new Set<string>();
  let fileName = '';
  for (const pair of header.split(',')) {
    const match = /^ *([^\s,]+)(?: ([A-Za-z0-9+/]*={0,2}))? *$/.exec(pair);
    const key = match?.[1];
    if (!match || key === undefined) return bad(`malformed pair ${JSON.stringify(pair.slice(0, 64))}`);
    if (seen.has(key)) return bad(`duplicate key ${JSON.stringify(key.slice(0, 64))}`);
    seen.add(key);
    if (key !== 'filename') continue;
    const bytes = fromBase64(match[2] ?? '');
    if (!bytes) return bad('filename is not canonical base64');
    try {
      fileName = new TextDecoder('utf-8', { fatal: true }).decode(bytes);
    } catch {
      return bad('filename is not UTF-8');
    }
  }
  return E.right({ fileName });
};

const expiresHeader = (status: UploadStatus): Record<string, string> =>
  status.complete ? {} : { 'Upload-Expires': new Date(status.expiresAt).toUTCString() };

/**
 * The tus route module.
 * @example
 * const uploads = tusRoute({ hub, prefix: '/v1/uploads', uploadsUrl: 'http://127.0.0.1:8080/v1/uploads' });
 */
export const tusRoute = ({ hub, prefix, uploadsUrl, guard }: TusRouteOptions): Route => {
  /**
   * Appends running, by user and upload ID: a request for an upload ID that is not yours (answered 404 by
   * the hub) registers under your name, so it can never take the owner's place and break their resume.
   */
  const appending = new Map<string, Appending>();
  const keyOf = (user: string, uploadId: string): string => `${user}\n${uploadId}`;

  /**
   * Aborts the user's own append on this upload, if one is still receiving, and waits until it has let go.
   * One whose body has all arrived is left to finish, its bytes recorded: a pipelined or racing `HEAD` then
   * reports them, rather than making the client send them again.
   */
  const takeOver = async (user: string, uploadId: string): Promise<void> => {
    const previous = appending.get(keyOf(user, uploadId));
    if (!previous) return;
    if (!previous.req.complete) previous.controller.abort(superseded);
    await previous.done;
  };

  const append = async (exchange: Exchange, user: string, uploadId: string, offset: number): Promise<UploadStatus> => {
    await takeOver(user, uploadId);
    const controller = new AbortController();
    const unchain = onAbort(exchange.signal, () => controller.abort(exchange.signal.reason));
    let release = (): void => undefined;
    const entry: Appending = { controller, done: new Promise<void>((resolve) => (release = resolve)), req: exchange.req };
    const key = keyOf(user, uploadId);
    appending.set(key, entry);
    try {
      return await hub.appendUpload(user, uploadId, offset, bodyOf(exchange.req), { signal: controller.signal, owned: true });
    } catch (error) {
      if (controller.signal.reason === superseded) throw fault(Failure.conflict(superseded.message), error);
      throw error;
    } finally {
      unchain();
      if (appending.get(key) === entry) appending.delete(key);
      release();
    }
  };

  const create = async (exchange: Exchange, user: string): Promise<void> => {
    const { req, res } = exchange;
    if (req.headers['upload-defer-length'] !== undefined) {
      throw fault(Failure.invalidArgument('Upload-Defer-Length', 'deferred lengths are not supported: send Upload-Length'));
    }
    const length = parseCount(singleHeader(req, 'upload-length'));
    if (length === undefined) throw fault(Failure.invalidArgument('Upload-Length', 'expected a decimal byte count'));
    if (length > hub.maxFileSize) throw fault(Failure.sizeOverflow(Math.min(length, Number.MAX_SAFE_INTEGER), hub.maxFileSize));
    const metadata = parseMetadata(singleHeader(req, 'upload-metadata'));
    if (E.isLeft(metadata)) throw fault(metadata.left);
    const type = mediaTypeOf(req);
    const hasBody = (parseCount(req.headers['content-length']) ?? 0) > 0 || req.headers['transfer-encoding'] !== undefined;
    if (hasBody && type !== OFFSET_STREAM) {
      throw new HttpFault(415, Failure.invalidArgument('Content-Type', `a body must be ${OFFSET_STREAM}`));
    }
    let status = await hub.createUpload(user, { size: length, fileName: metadata.right.fileName });
    if (hasBody) status = await append(exchange, user, status.uploadId, 0);
    res.writeHead(201, {
      ...TUS,
      Location: `${uploadsUrl}/${status.uploadId}`,
      ...(hasBody ? { 'Upload-Offset': String(status.offset) } : {}),
      ...expiresHeader(status),
      'Content-Length': '0',
    });
    res.end();
  };

  const head = async (exchange: Exchange, user: string, uploadId: string): Promise<void> => {
    await takeOver(user, uploadId);
    const status = await hub.uploadStatus(user, uploadId);
    // The hub keeps the file name of complete media only within `mediaInfo`; partial uploads omit it.
    const fileName = status.complete ? (await hub.mediaInfo(uploadId)).fileName : '';
    exchange.res.writeHead(200, {
      ...TUS,
      'Upload-Offset': String(status.offset),
      'Upload-Length': String(status.size),
      ...(fileName === '' ? {} : { 'Upload-Metadata': `filename ${toBase64(utf8(fileName))}` }),
      ...expiresHeader(status),
      'Cache-Control': 'no-store',
    });
    exchange.res.end();
  };

  const patch = async (exchange: Exchange, user: string, uploadId: string): Promise<void> => {
    if (mediaTypeOf(exchange.req) !== OFFSET_STREAM) {
      throw new HttpFault(415, Failure.invalidArgument('Content-Type', `expected ${OFFSET_STREAM}`));
    }
    const offset = parseCount(singleHeader(exchange.req, 'upload-offset'));
    if (offset === undefined) throw fault(Failure.invalidArgument('Upload-Offset', 'expected a decimal byte offset'));
    const status = await append(exchange, user, uploadId, offset);
    exchange.res.writeHead(204, { ...TUS, 'Upload-Offset': String(status.offset), ...expiresHeader(status) });
    exchange.res.end();
  };

  const terminate = async (exchange: Exchange, user: string, uploadId: string): Promise<void> => {
    await takeOver(user, uploadId);
    await hub.terminateUpload(user, uploadId);
    exchange.res.writeHead(204, TUS);
    exchange.res.end();
  };

  const notAllowed = (method: string, allow: string): HttpFault =>
    new HttpFault(405, Failure.invalidArgument('method', `${method} is not allowed here; use ${allow}`), { Allow: allow });

  return {
    prefix,
    handle: (exchange) =>
      answering(exchange, TUS, async () => {
        const { req, res, segments } = exchange;
        if (segments.length > 1) throw fault(Failure.notExist(`route ${req.url ?? ''}`));
        const item = segments[0];
        const allow = item === undefined ? 'OPTIONS, POST' : 'OPTIONS, HEAD, PATCH, DELETE';
        // tus: a client that cannot send PATCH or DELETE sends POST with the real method in this header.
        const method = (singleHeader(req, 'x-http-method-override') ?? exchange.method).toUpperCase();
        if (method === 'OPTIONS') {
          sendPreflight(res, allow, { ...TUS, 'Tus-Version': TUS_VERSION, 'Tus-Extension': EXTENSIONS, 'Tus-Max-Size': String(hub.maxFileSize) });
          return;
        }
        const user = authenticate(hub, req);
        if (E.isLeft(user)) throw fault(user.left);
        // Terminating stays allowed: it is how a client cleans up after its session ended.
        if (method !== 'DELETE') guard?.(req, user.right);
        if (req.headers['tus-resumable'] !== TUS_VERSION) {
          const given = describeUntrusted(req.headers['tus-resumable'] ?? null);
          throw new HttpFault(412, Failure.invalidArgument('Tus-Resumable', `expected ${TUS_VERSION}, got ${given}`), { 'Tus-Version': TUS_VERSION });
        }
        if (item === undefined) {
          if (method !== 'POST') throw notAllowed(method, allow);
          return create(exchange, user.right);
        }
        const uploadId = decodeSegment(item);
        if (uploadId === undefined) throw fault(Failure.invalidArgument('uploadId', 'broken percent-encoding'));
        if (method === 'HEAD') return head(exchange, user.right, uploadId);
        if (method === 'PATCH') return patch(exchange, user.right, uploadId);
        if (method === 'DELETE') return terminate(exchange, user.right, uploadId);
        throw notAllowed(method, allow);
      }),
  };
};
