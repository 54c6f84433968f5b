/**
 * A wait on the transport's clock that its caller's signal cuts short: for a server's `Retry-After`, and
 * between the attempts of a resent message or a renewed presence subscription.
 * @module
 */
import { abortFault, onAbort } from '../src/core/abort.js';
import type { Clock } from '../src/core/clock.js';

/**
 * Waits `ms` on `clock`, or rejects with the abort as soon as `signal` aborts (the timer cleared).
 * @example await pause(clock, 1_000, signal)
 */
export const pause = (clock: Clock, ms: number, signal: AbortSignal | undefined): Promise<void> => {
  if (signal?.aborted) return Promise.reject(abortFault(signal));
  return new Promise<void>((resolve, reject) => {
    const dispose = onAbort(signal, () => {
      clock.clearTimeout(timer);
      reject(abortFault(signal as AbortSignal));
    });
    const timer = clock.setTimeout(() => {
      dispose();
      resolve();
    }, ms);
  });
};
