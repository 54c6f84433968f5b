/**
 * Deadlines on the injected clock: a call that has not settled in time is aborted and fails with
 * `Timeout`, so no request (a message, a cleanup, a logout) can hang a caller forever.
 * @module
 */
import { onAbort } from './abort.js';
import type { Clock, TimerHandle } from './clock.js';
import { Failure, fault } from './failure.js';

/**
 * Runs `run` with a signal that aborts after `ms` (or when `parent` aborts); rejects with `Timeout` if
 * the deadline passes first. The timer and the listener are removed either way.
 */
export const withDeadline = async <T>(clock: Clock, ms: number, run: (signal: AbortSignal) => Promise<T>, parent?: AbortSignal): Promise<T> => {
  const controller = new AbortController();
  const dispose = onAbort(parent, () => controller.abort(parent?.reason));
  let timer: TimerHandle | undefined;
  const expired = new Promise<never>((_, reject) => {
    timer = clock.setTimeout(() => {
      const timeout = fault(Failure.timeout(`no answer within ${ms} ms`));
      controller.abort(timeout);
      reject(timeout);
    }, ms);
  });
  try {
    return await Promise.race([run(controller.signal), expired]);
  } finally {
    clock.clearTimeout(timer);
    dispose();
  }
};
