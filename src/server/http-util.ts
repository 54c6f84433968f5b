/**
 * What every HTTP route module of the server shares: the route shape, failures as JSON error bodies with
 * a status code, Bearer authentication, CORS, and request bodies as async iterables.
 *
 * A route module (`tus.ts`, `downloads.ts`, later messaging) owns one path prefix; `server.ts` only
 * dispatches on the prefix, so new modules are added without touching the others.
 * @module
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import * as E from 'fp-ts/lib/Either.js';
import { describeFailure, Failure, failureOf, foldFailure } from '../core/failure.js';
import type { Hub } from '../hub/hub.js';
import { FAILURE_HEADER } from '../protocol/http-wire.js';

/** One request as a route module sees it. */
export interface Exchange {
  readonly req: IncomingMessage;
  readonly res: ServerResponse;
  /** The method, after `X-HTTP-Method-Override` where a module honours it. */
  readonly method: string;
  /** Path segments after the module's prefix, still percent-encoded (`[]` for the prefix itself). */
  readonly segments: readonly string[];
  /** Aborts when the client goes away before the response finished, or the server closes. */
  readonly signal: AbortSignal;
}

/** A route module: every request whose path is `prefix` or starts with `prefix + '/'`. */
export interface Route {
  readonly prefix: string;
  handle(exchange: Exchange): Promise<void>;
}

/** The HTTP status of each failure. Exhaustive: a new failure case must be given one. */
export const statusOf: (failure: Failure) => number = foldFailure({
  InvalidArgument: () => 400,
  InvalidMessage: () => 400,
  InvalidUserId: () => 400,
  SizeOverflow: () => 413,
  NotExist: () => 404,
  PeerUnreachable: () => 404,
  Conflict: () => 409,
  AlreadyLoggedIn: () => 409,
  AlreadyInChannel: () => 409,
  NotInChannel: () => 409,
  NotLoggedIn: () => 401,
  InvalidToken: () => 401,
  TokenExpired: () => 401,
  ConcurrencyLimit: () => 429,
  TooOften: () => 429,
  LimitExceeded: () => 429,
  QuotaExceeded: () => 413,
  InsufficientStorage: () => 507,
  Rejected: () => 403,
  Timeout: () => 408,
  // The client went away or the server is closing: nobody reads this status, but it must be something.
  Interrupted: () => 503,
  Network: () => 502,
  Unavailable: () => 503,
  Integrity: () => 500,
  Unknown: () => 500,
});

/** Headers a browser may read from our responses, and send to us (CORS). */
const EXPOSED = 'Ferry-Failure, Location, Upload-Offset, Upload-Length, Upload-Metadata, Upload-Expires, Tus-Version, Tus-Resumable, Tus-Max-Size, Tus-Extension, Content-Range, Content-Disposition, ETag, Accept-Ranges';
const ALLOWED = 'Ferry-Session, Authorization, Content-Type, Last-Event-ID, Range, If-Range, If-None-Match, Tus-Resumable, Upload-Length, Upload-Metadata, Upload-Offset, Upload-Defer-Length, X-HTTP-Method-Override';

/** CORS headers and `nosniff` for every response. Credentials are Bearer tokens, never cookies, so any origin may call. */
export const setCorsHeaders = (res: ServerResponse): void => {
  res.setHeader('Access-Control-Allow-Origin', '*');
  // No answer of ours is ever to be sniffed as HTML or script, whatever bytes an error body echoes.
  res.setHeader('X-Content-Type-Options', 'nosniff');
  res.setHeader('Access-Control-Expose-Headers', EXPOSED);
};

/** Answers a CORS preflight (`OPTIONS`) with 204 and the module's own extra headers. */
export const sendPreflight = (res: ServerResponse, methods: string, extra: Readonly<Record<string, string>> = {}): void => {
  res.writeHead(204, {
    'Access-Control-Allow-Methods': methods,
    'Access-Control-Allow-Headers': ALLOWED,
    'Access-Control-Max-Age': '86400',
    ...extra,
  });
  res.end();
};

/** The failure each response answered, for the request's log line (`log.ts`): logged there, in one place. */
const answered = new WeakMap<ServerResponse, Failure>();
/** The failure `res` was answered with by {@link sendFailure}, if any. */
export const failureAnswered = (res: ServerResponse): Failure | undefined => answered.get(res);

/**
 * `Retry-After` (seconds) of a refusal by a limit that waiting may lift: a rate says when its window frees a
 * slot; a count says what it suggests (the hub: a minute for unfinished uploads), or nothing.
 */
const retryAfter = (failure: Failure): Record<string, string> => {
  const ms = failure._tag === 'TooOften' || failure._tag === 'LimitExceeded' ? failure.retryAfterMs : undefined;
  return ms === undefined ? {} : { 'Retry-After': String(Math.max(1, Math.ceil(ms / 1000))) };
};

/**
 * Answers with a failure: its status, and `{ "failure": <Failure>, "message": "<sentence>" }` as JSON (no
 * body for HEAD). A request whose body was not read to its end gets `Connection: close`, so the unread
 * bytes are not parsed as a next request nor drained at length.
 */
export const sendFailure = (
  exchange: Pick<Exchange, 'req' | 'res'>,
  failure: Failure,
  extra: Readonly<Record<string, string>> = {},
  status = statusOf(failure),
): void => {
  const { req, res } = exchange;
  if (res.headersSent || res.destroyed) return;
  answered.set(res, failure);
  const body = Buffer.from(JSON.stringify({ failure, message: describeFailure(failure) }));
  // HEAD answers have no body: the failure rides in a header too, percent-encoded to stay ASCII.
  const carried = encodeURIComponent(JSON.stringify(failure));
  res.writeHead(status, {
    'Content-Type': 'application/json; charset=utf-8',
    'Content-Length': String(body.length),
    'Cache-Control': 'no-store',
    ...(status === 401 ? { 'WWW-Authenticate': 'Bearer' } : {}),
    ...(req.complete ? {} : { Connection: 'close' }),
    ...(carried.length <= 2048 ? { [FAILURE_HEADER]: carried } : {}),
    ...retryAfter(failure),
    ...extra,
  });
  res.end(req.method === 'HEAD' ? undefined : body);
};

/** A failure answered with a status other than {@link statusOf} its failure (412, 415, 405). */
export class HttpFault extends Error {
  override readonly name = 'HttpFault';
  constructor(
    readonly status: number,
    readonly failure: Failure,
    readonly headers: Readonly<Record<string, string>> = {},
  ) {
    super(describeFailure(failure));
  }
}

/** Runs a handler and answers whatever it throws as a failure, with `extra` headers (e.g. `Tus-Resumable`). */
export const answering = async (exchange: Exchange, extra: Readonly<Record<string, string>>, run: () => Promise<void>): Promise<void> => {
  try {
    await run();
  } catch (error) {
    if (error instanceof HttpFault) sendFailure(exchange, error.failure, { ...extra, ...error.headers }, error.status);
    else sendFailure(exchange, failureOf(error), extra);
  }
};

/**
 * The user a request is made by, from `Authorization: Bearer <token>`: `NotLoggedIn` without one,
 * `InvalidToken` or `TokenExpired` from the hub's check (HMAC compared in constant time).
 */
export const authenticate = (hub: Hub, req: IncomingMessage): E.Either<Failure, string> => {
  const header = req.headers.authorization;
  if (header === undefined) return E.left(Failure.notLoggedIn());
  const match = /^Bearer +(\S+) *$/i.exec(header);
  if (!match?.[1]) return E.left(Failure.invalidToken('expected "Authorization: Bearer <token>"'));
  const claims = hub.authenticate(match[1]);
  return E.isLeft(claims) ? claims : E.right(claims.right.userId);
};

/**
 * Refuses a request made for a messaging session that has ended: a client sends `Ferry-Session` with
 * its transfers, so a session aborted by a login elsewhere stops its uploads and downloads at the server
 * too (401, `Interrupted`). Requests without the header (stock tus clients) are not concerned.
 */
export type SessionGuard = (req: IncomingMessage, userId: string) => void;

/** A path segment decoded; `undefined` if its percent-encoding is broken. */
export const decodeSegment = (segment: string): string | undefined => {
  try {
    return decodeURIComponent(segment);
  } catch {
    return undefined;
  }
};

/** The value of a header that must appear at most once; `undefined` if absent. */
export const singleHeader = (req: IncomingMessage, name: string): string | undefined => {
  const value = req.headers[name];
  return Array.isArray(value) ? value.join(',') : value;
};

/**
 * A non-negative decimal integer header (digits only: no sign, spaces or exponent), `undefined` if
 * malformed. Huge values come back imprecise or `Infinity`; callers compare them with a limit.
 */
export const parseCount = (value: string | undefined): number | undefined => (value !== undefined && /^\d+$/.test(value) ? Number(value) : undefined);

/** The media type of `Content-Type`, lowercase, without parameters. */
export const mediaTypeOf = (req: IncomingMessage): string | undefined => req.headers['content-type']?.split(';')[0]?.trim().toLowerCase();

/**
 * The request body as an async iterable, read only when iterated (no `data` listener, so nothing flows
 * and nothing is lost while the hub awaits its records first). Stopping early does not destroy the
 * request, so the server can still answer (413, 409) on the same socket.
 */
export async function* bodyOf(req: IncomingMessage): AsyncIterable<Uint8Array> {
  for await (const chunk of req.iterator({ destroyOnReturn: false })) yield chunk as Buffer;
}
