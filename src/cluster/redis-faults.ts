/**
 * Redis out of reach, as the hub reports it: every promise of a Redis-backed seam that rejects with
 * something other than a ferry failure rejects instead with `Unavailable` naming Redis (HTTP 503, retried
 * by clients), so a connection refused or a reconnect in progress is never told as a fault of the server.
 * @module
 */
import { Failure, FaultError, fault } from '../core/failure.js';

/** `error` as a ferry failure: its own if it is one, else `Unavailable` naming `what`. */
export const unavailable = (what: string, error: unknown): FaultError =>
  error instanceof FaultError ? error : fault(Failure.unavailable(`${what}: ${error instanceof Error ? error.message : String(error)}`), error);

/**
 * `target` with each method that returns a promise rejecting as {@link unavailable}; other methods and
 * properties pass through unchanged.
 * @example const uploads = unavailableOnRejection('redis', redisUploadStates({ redis }));
 */
export const unavailableOnRejection = <T extends object>(what: string, target: T): T =>
  new Proxy(target, {
    get(object, key, receiver) {
      const value: unknown = Reflect.get(object, key, receiver);
      if (typeof value !== 'function') return value;
      return (...args: unknown[]) => {
        const result: unknown = Reflect.apply(value as (...a: unknown[]) => unknown, object, args);
        return result instanceof Promise ? result.catch((error: unknown) => Promise.reject(unavailable(what, error))) : result;
      };
    },
  });
