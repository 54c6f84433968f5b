/**
 * Failures as data. Everything below the public edge (hub, transports, machines) describes what went
 * wrong with one of these tagged values; the client turns them into `Error` subclasses with the numeric
 * code of the operation at hand (see `errors.ts`), so one failure maps to different codes in different
 * operations — `NotExist` is download code 4 but cancel code 2.
 * @module
 */

/** Every way a ferry operation can fail, independent of which operation it was. */
export type Failure =
  | { readonly _tag: 'InvalidArgument'; readonly argument: string; readonly detail: string }
  | { readonly _tag: 'SizeOverflow'; readonly size: number; readonly limit: number }
  | { readonly _tag: 'NotExist'; readonly what: string }
  | { readonly _tag: 'Timeout'; readonly detail: string }
  | { readonly _tag: 'Interrupted'; readonly why: string }
  | { readonly _tag: 'ConcurrencyLimit'; readonly limit: number }
  | { readonly _tag: 'NotLoggedIn' }
  | { readonly _tag: 'AlreadyLoggedIn' }
  | { readonly _tag: 'InvalidToken'; readonly detail: string }
  | { readonly _tag: 'TokenExpired' }
  | { readonly _tag: 'InvalidMessage'; readonly detail: string }
  | { readonly _tag: 'InvalidUserId'; readonly userId: string }
  | { readonly _tag: 'PeerUnreachable'; readonly peerId: string }
  | { readonly _tag: 'NotInChannel'; readonly channelId: string }
  | { readonly _tag: 'AlreadyInChannel'; readonly channelId: string }
  | { readonly _tag: 'Conflict'; readonly detail: string }
  | { readonly _tag: 'Integrity'; readonly expected: string; readonly actual: string }
  | { readonly _tag: 'Network'; readonly detail: string }
  /** A rate limit: `what` was done too often; try again after `retryAfterMs`. */
  | { readonly _tag: 'TooOften'; readonly what: string; readonly limit: number; readonly windowMs: number; readonly retryAfterMs: number }
  /**
   * A count limit (unfinished uploads, channels joined): `what` may be at most `limit`. `retryAfterMs`
   * when waiting may help (an upload may finish), absent when only the caller can free a slot (leave a channel).
   */
  | { readonly _tag: 'LimitExceeded'; readonly what: string; readonly limit: number; readonly retryAfterMs?: number }
  /** A byte quota: storing `requested` more bytes on top of `used` would pass `quota`. */
  | { readonly _tag: 'QuotaExceeded'; readonly used: number; readonly requested: number; readonly quota: number }
  /** The server is out of space (its disk is full, or its free-space reserve is reached). */
  | { readonly _tag: 'InsufficientStorage'; readonly detail: string }
  /** The server refused a valid request (e.g. a token renewal for another user). */
  | { readonly _tag: 'Rejected'; readonly detail: string }
  /** A service the server runs on (its S3 store, its Redis) is out of reach: try again later (HTTP 503). */
  | { readonly _tag: 'Unavailable'; readonly what: string }
  | { readonly _tag: 'Unknown'; readonly detail: string };

/** The tag of a failure. */
export type FailureTag = Failure['_tag'];

/** Constructors, one per case, so call sites never spell a tag by hand. */
export const Failure = {
  invalidArgument: (argument: string, detail: string): Failure => ({ _tag: 'InvalidArgument', argument, detail }),
  sizeOverflow: (size: number, limit: number): Failure => ({ _tag: 'SizeOverflow', size, limit }),
  notExist: (what: string): Failure => ({ _tag: 'NotExist', what }),
  timeout: (detail: string): Failure => ({ _tag: 'Timeout', detail }),
  interrupted: (why: string): Failure => ({ _tag: 'Interrupted', why }),
  concurrencyLimit: (limit: number): Failure => ({ _tag: 'ConcurrencyLimit', limit }),
  notLoggedIn: (): Failure => ({ _tag: 'NotLoggedIn' }),
  alreadyLoggedIn: (): Failure => ({ _tag: 'AlreadyLoggedIn' }),
  invalidToken: (detail: string): Failure => ({ _tag: 'InvalidToken', detail }),
  tokenExpired: (): Failure => ({ _tag: 'TokenExpired' }),
  invalidMessage: (detail: string): Failure => ({ _tag: 'InvalidMessage', detail }),
  invalidUserId: (userId: string): Failure => ({ _tag: 'InvalidUserId', userId }),
  peerUnreachable: (peerId: string): Failure => ({ _tag: 'PeerUnreachable', peerId }),
  notInChannel: (channelId: string): Failure => ({ _tag: 'NotInChannel', channelId }),
  alreadyInChannel: (channelId: string): Failure => ({ _tag: 'AlreadyInChannel', channelId }),
  conflict: (detail: string): Failure => ({ _tag: 'Conflict', detail }),
  integrity: (expected: string, actual: string): Failure => ({ _tag: 'Integrity', expected, actual }),
  network: (detail: string): Failure => ({ _tag: 'Network', detail }),
  tooOften: (what: string, limit: number, windowMs: number, retryAfterMs: number): Failure => ({ _tag: 'TooOften', what, limit, windowMs, retryAfterMs }),
  limitExceeded: (what: string, limit: number, retryAfterMs?: number): Failure =>
    retryAfterMs === undefined ? { _tag: 'LimitExceeded', what, limit } : { _tag: 'LimitExceeded', what, limit, retryAfterMs },
  quotaExceeded: (used: number, requested: number, quota: number): Failure => ({ _tag: 'QuotaExceeded', used, requested, quota }),
  insufficientStorage: (detail: string): Failure => ({ _tag: 'InsufficientStorage', detail }),
  rejected: (detail: string): Failure => ({ _tag: 'Rejected', detail }),
  unavailable: (what: string): Failure => ({ _tag: 'Unavailable', what }),
  unknown: (detail: string): Failure => ({ _tag: 'Unknown', detail }),
} as const;

type Handlers<R> = { readonly [K in FailureTag]: (failure: Extract<Failure, { _tag: K }>) => R };

/** Exhaustive case analysis: adding a case to `Failure` breaks every fold until it is handled. */
export const foldFailure =
  <R>(handlers: Handlers<R>) =>
  (failure: Failure): R =>
    (handlers[failure._tag] as (f: Failure) => R)(failure);

const mib = (bytes: number): string => `${(bytes / 1_048_576).toFixed(bytes % 1_048_576 === 0 ? 0 : 1)} MiB`;

/** A sentence naming what went wrong, for error messages at the edge. */
export const describeFailure: (failure: Failure) => string = foldFailure({
  InvalidArgument: (f) => `invalid argument '${f.argument}': ${f.detail}`,
  SizeOverflow: (f) => `size ${f.size} bytes exceeds the limit of ${f.limit} bytes`,
  NotExist: (f) => `${f.what} does not exist`,
  Timeout: (f) => `timed out: ${f.detail}`,
  Interrupted: (f) => `interrupted: ${f.why}`,
  ConcurrencyLimit: (f) => `already ${f.limit} transfers running and overflow is 'reject'`,
  NotLoggedIn: () => 'not logged in',
  AlreadyLoggedIn: () => 'already logged in',
  InvalidToken: (f) => `invalid token: ${f.detail}`,
  TokenExpired: () => 'token expired',
  InvalidMessage: (f) => `invalid message: ${f.detail}`,
  InvalidUserId: (f) => `invalid user ID ${JSON.stringify(f.userId)}`,
  PeerUnreachable: (f) => `peer ${JSON.stringify(f.peerId)} is not online`,
  NotInChannel: (f) => `not in channel ${JSON.stringify(f.channelId)}`,
  AlreadyInChannel: (f) => `already in channel ${JSON.stringify(f.channelId)}`,
  Conflict: (f) => `conflict: ${f.detail}`,
  Integrity: (f) => `SHA-256 mismatch: expected ${f.expected}, got ${f.actual}`,
  Network: (f) => `network error: ${f.detail}`,
  TooOften: (f) => `too often: ${f.what} is limited to ${f.limit} per ${f.windowMs / 1000} s; retry in ${Math.ceil(f.retryAfterMs / 1000)} s`,
  LimitExceeded: (f) => `limit reached: at most ${f.limit} ${f.what}`,
  QuotaExceeded: (f) =>
    `storage quota exceeded: ${mib(f.used)} stored or reserved plus ${mib(f.requested)} would pass the quota of ${mib(f.quota)} per user`,
  InsufficientStorage: (f) => `the server is out of space: ${f.detail}`,
  Rejected: (f) => `rejected: ${f.detail}`,
  Unavailable: (f) => `unavailable, try again later: ${f.what}`,
  Unknown: (f) => f.detail,
});

/**
 * How a failure travels through promise rejections below the public edge. Carries the failure as data;
 * the client maps it to a public error with `toPublicError`.
 */
export class FaultError extends Error {
  override readonly name = 'FaultError';
  constructor(
    readonly failure: Failure,
    options?: { cause?: unknown },
  ) {
    super(describeFailure(failure), options);
  }
}

/** Rejects with a failure. */
export const fault = (failure: Failure, cause?: unknown): FaultError =>
  new FaultError(failure, cause === undefined ? undefined : { cause });

/** The failure inside anything thrown: a `FaultError`'s own, `Interrupted` for aborts, `Unknown` otherwise. */
export const failureOf = (error: unknown): Failure => {
  if (error instanceof FaultError) return error.failure;
  if (error instanceof Error && error.name === 'TimeoutError') return Failure.timeout(error.message);
  if (error instanceof Error && error.name === 'AbortError') return Failure.interrupted('aborted');
  return Failure.unknown(error instanceof Error ? error.message : String(error));
};

/** Failures worth another attempt after a delay: the link dropped, the server's offset moved, or a service it runs on is away. */
export const isTransient = (failure: Failure): boolean => failure._tag === 'Network' || failure._tag === 'Conflict' || failure._tag === 'Unavailable';
