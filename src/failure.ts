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
  unknown: (detail: string): Failure => ({ _tag: 'Unknown', detail }),
} as const;

type Handlers<R> = { readonly [K in FailureTag]: (failure: Extract<Failure, { _tag: K }>) => R };

/** Exhaustive case analysis: adding a case to `Failure` breaks every fold until it is handled. */
export const foldFailure =
  <R>(handlers: Handlers<R>) =>
  (failure: Failure): R =>
    (handlers[failure._tag] as (f: Failure) => R)(failure);

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

/** Failures worth another attempt after a delay: the link dropped, or the server's offset moved. */
export const isTransient = (failure: Failure): boolean => failure._tag === 'Network' || failure._tag === 'Conflict';
