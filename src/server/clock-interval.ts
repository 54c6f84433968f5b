/**
 * A repeating timer on an injected {@link Clock} (which has one-shot timers only), so the socket timers
 * of the endpoints (heartbeats, pings, stall checks) run on a clock a spec can drive.
 * @module
 */
import { type Clock, type TimerHandle, unrefTimer } from '../core/clock.js';

/**
 * Calls `tick` every `ms` on `clock` until the returned function is called. Each period is armed after
 * the previous tick ran, so a tick that stops the timer is the last. The timer never keeps a Node process
 * alive (as `setInterval(…).unref()` did).
 * @example
 * const stop = every(systemClock, 15_000, () => ws.ping());
 * ws.on('close', stop);
 */
export const every = (clock: Clock, ms: number, tick: () => void): (() => void) => {
  let handle: TimerHandle | undefined;
  let stopped = false;
  const arm = (): void => {
    handle = clock.setTimeout(() => {
      if (stopped) return;
      tick();
      if (!stopped) arm();
    }, ms);
    unrefTimer(handle);
  };
  arm();
  return () => {
    stopped = true;
    clock.clearTimeout(handle);
  };
};
