/**
 * Helpers for signals we are handed: we never abort them, we chain them to our own and always remove
 * our listeners.
 * @module
 */
import { Failure, FaultError, fault } from './failure.js';

/** The rejection for an aborted signal: `Interrupted`, with the signal's reason as cause. */
export const abortFault = (signal: AbortSignal): FaultError => fault(Failure.interrupted('aborted'), signal.reason);

/** Throws {@link abortFault} if the signal has aborted. */
export const throwIfAborted = (signal: AbortSignal | undefined): void => {
  if (signal?.aborted) throw abortFault(signal);
};

/**
 * Settles like `promise`, or rejects with {@link abortFault} as soon as the signal aborts, whichever
 * comes first. The listener is removed either way.
 */
export const abortable = <T>(promise: Promise<T>, signal: AbortSignal): Promise<T> => {
  if (signal.aborted) return Promise.reject(abortFault(signal));
  return new Promise<T>((resolve, reject) => {
    const onAbort = (): void => reject(abortFault(signal));
    signal.addEventListener('abort', onAbort, { once: true });
    promise.then(
      (value) => {
        signal.removeEventListener('abort', onAbort);
        resolve(value);
      },
      (error: unknown) => {
        signal.removeEventListener('abort', onAbort);
        reject(error);
      },
    );
  });
};

/**
 * {@link abortable}, for work whose result must be released if it still comes after the caller gave up:
 * on abort the call rejects at once, and what `promise` resolves with afterwards goes to `release`
 * (terminate the upload created anyway, close the socket opened anyway). Failures of either are ignored.
 */
export const abortableReleasing = <T>(promise: Promise<T>, signal: AbortSignal, release: (late: T) => unknown): Promise<T> =>
  abortable(promise, signal).catch((error: unknown) => {
    if (signal.aborted) promise.then(release).catch(() => undefined);
    throw error;
  });

/**
 * Calls `onAbort` once when `signal` aborts (at once if it already has). Returns the disposer that
 * removes the listener; call it when the work ends, so no listener outlives it.
 */
export const onAbort = (signal: AbortSignal | undefined, callback: () => void): (() => void) => {
  if (!signal) return () => undefined;
  if (signal.aborted) {
    callback();
    return () => undefined;
  }
  signal.addEventListener('abort', callback, { once: true });
  return () => signal.removeEventListener('abort', callback);
};

/**
 * Whether a value is an AbortSignal. Checked by its built-in tag rather than `instanceof`, so a signal
 * from another realm (an iframe, jsdom) is accepted while a look-alike object is not.
 */
export const isSignal = (value: unknown): value is AbortSignal =>
  value !== null && typeof value === 'object' && Object.prototype.toString.call(value) === '[object AbortSignal]';
