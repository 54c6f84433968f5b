/**
 * Time as an injected effect. The client, the hub and every machine read time and set timers only
 * through a `Clock`, so specs drive them with virtual time instead of sleeping.
 * @module
 */

/** An opaque timer handle. */
export type TimerHandle = unknown;

/**
 * A clock: the current time and one-shot timers. Its shape is a superset of XState's clock, so one clock
 * drives both the machines' delayed transitions and the hub's sweeps.
 */
export interface Clock {
  now(): number;
  setTimeout(callback: () => void, ms: number): TimerHandle;
  clearTimeout(handle: TimerHandle): void;
}

/**
 * The real clock. Its timers keep a Node process alive, as a transfer waiting out a retry delay must
 * (the hub's background sweep opts out with {@link unrefTimer}).
 */
export const systemClock: Clock = {
  now: () => Date.now(),
  setTimeout: (callback, ms) => globalThis.setTimeout(callback, ms),
  clearTimeout: (handle) => globalThis.clearTimeout(handle as ReturnType<typeof globalThis.setTimeout>),
};

/** Lets a Node process exit while this timer waits (no-op for virtual timers and in browsers). */
export const unrefTimer = (handle: TimerHandle): void => {
  (handle as { unref?: () => void } | undefined)?.unref?.();
};

/** A clock that moves only when told: for specs and simulations. */
export interface VirtualClock extends Clock {
  /** Moves time forward by `ms`, firing due timers in time order (timers they set fire too, if due). */
  advance(ms: number): void;
  /** How many timers are waiting. */
  readonly pendingTimers: number;
}

/**
 * A virtual clock starting at `start` (ms since the epoch).
 * @example
 * const clock = virtualClock();
 * const hub = createHub({ clock });
 * clock.advance(7 * 24 * 3600_000); // media has now expired
 */
export const virtualClock = (start = 0): VirtualClock => {
  let now = start;
  let nextId = 1;
  const timers = new Map<number, { at: number; callback: () => void }>();
  const due = (): [number, { at: number; callback: () => void }] | undefined => {
    let first: [number, { at: number; callback: () => void }] | undefined;
    for (const entry of timers) if (entry[1].at <= now && (!first || entry[1].at < first[1].at)) first = entry;
    return first;
  };
  return {
    now: () => now,
    setTimeout: (callback, ms) => {
      const id = nextId++;
      timers.set(id, { at: now + Math.max(0, ms), callback });
      return id;
    },
    clearTimeout: (handle) => {
      timers.delete(handle as number);
    },
    advance(ms) {
      const target = now + ms;
      for (;;) {
        const pending = [...timers.values()].filter((timer) => timer.at <= target).map((timer) => timer.at);
        if (pending.length === 0) break;
        now = Math.max(now, Math.min(...pending));
        let entry = due();
        while (entry) {
          timers.delete(entry[0]);
          entry[1].callback();
          entry = due();
        }
      }
      now = target;
    },
    get pendingTimers() {
      return timers.size;
    },
  };
};
