/**
 * Many deadlines on one timer. The hub keeps a token expiry for every logged-in session; a timer each
 * (Node's `Timeout`, its callback and the callback's scope) was a fifth of what a session costs beyond
 * `ws`'s own socket (decision 134). An indexed binary min-heap orders the deadlines, and the clock's timer
 * is armed for the earliest only. Hand-written: the heap libraries on npm move an entry only by removing
 * and re-adding it, and none arms a timer.
 * @module
 */
import { type Clock, type TimerHandle, unrefTimer } from './clock.js';
import { MAX_TIMER_MS } from './limits.js';

/** An entry of {@link Deadlines}: its due time and, while queued, its place in the heap. */
export interface Deadline {
  /** When it is due (ms, the clock's time). Set by {@link Deadlines.schedule}. */
  at: number;
  /** Its index in the heap; -1 while not queued. Only {@link Deadlines} writes it. */
  slot: number;
}

/**
 * Deadlines in due order on one timer of `clock`: each entry is handed to `onDue` once the clock reaches
 * its `at`, earliest first (ties in no particular order), and is then no longer queued. The timer does
 * not keep a process alive (`unrefTimer`) unless `keepAlive` is set. `onDue` may schedule or cancel
 * entries, itself included.
 * @example
 * const expiries = new Deadlines<Watch>(clock, (watch) => expire(watch));
 * expiries.schedule(watch, token.expiresAt); // again with a later time after a renewal
 * expiries.cancel(watch); // the session ended first
 */
export class Deadlines<E extends Deadline> {
  private readonly heap: E[] = [];
  private timer: TimerHandle | undefined;
  /** When the timer fires; Infinity when it is not armed. */
  private wakeAt = Number.POSITIVE_INFINITY;

  constructor(
    private readonly clock: Clock,
    private readonly onDue: (entry: E) => void,
    /** `keepAlive`: the clock timer keeps the process alive while entries are queued. Default: `false`. */
    private readonly options: { readonly keepAlive?: boolean } = {},
  ) {}

  /** How many entries are queued. */
  get size(): number {
    return this.heap.length;
  }

  /** Queues `entry` due at `at`, or moves it there if it is queued already. */
  schedule(entry: E, at: number): void {
    entry.at = at;
    if (entry.slot < 0) {
      entry.slot = this.heap.length;
      this.heap.push(entry);
    }
    this.restore(entry.slot);
    this.arm();
  }

  /** Takes `entry` out of the queue; nothing if it is not queued. */
  cancel(entry: E): void {
    if (entry.slot < 0 || this.heap[entry.slot] !== entry) return;
    this.removeAt(entry.slot);
    this.arm();
  }

  private readonly fire = (): void => {
    this.timer = undefined;
    this.wakeAt = Number.POSITIVE_INFINITY;
    // At most the entries queued now: one that `onDue` schedules again at or before now is handed over at
    // the next timer, not in a loop here. And the timer is armed again whatever `onDue` throws.
    try {
      for (let budget = this.heap.length, head = this.heap[0]; budget > 0 && head !== undefined && head.at <= this.clock.now(); budget--, head = this.heap[0]) {
        this.removeAt(0);
        this.onDue(head);
      }
    } finally {
      this.arm();
    }
  };

  /** Arms the timer for the earliest entry (at most MAX_TIMER_MS ahead: it re-arms until due). */
  private arm(): void {
    const head = this.heap[0];
    if (head === undefined) {
      this.clock.clearTimeout(this.timer);
      this.timer = undefined;
      this.wakeAt = Number.POSITIVE_INFINITY;
      return;
    }
    // A timer that wakes no later than the head is kept: waking early costs one re-arm.
    if (this.timer !== undefined && this.wakeAt <= head.at) return;
    this.clock.clearTimeout(this.timer);
    const delay = Math.min(Math.max(0, head.at - this.clock.now()), MAX_TIMER_MS);
    this.wakeAt = this.clock.now() + delay;
    this.timer = this.clock.setTimeout(this.fire, delay);
    if (this.options.keepAlive !== true) unrefTimer(this.timer);
  }

  private removeAt(slot: number): void {
    const { heap } = this;
    const removed = heap[slot] as E;
    const last = heap.pop() as E;
    removed.slot = -1;
    if (last === removed) return;
    heap[slot] = last;
    last.slot = slot;
    this.restore(slot);
  }

  /** Moves the entry at `slot` up or down to its place. */
  private restore(slot: number): void {
    const { heap } = this;
    const entry = heap[slot] as E;
    let at = slot;
    while (at > 0) {
      const parent = (at - 1) >> 1;
      const above = heap[parent] as E;
      if (above.at <= entry.at) break;
      this.place(above, at);
      at = parent;
    }
    for (;;) {
      const left = 2 * at + 1;
      if (left >= heap.length) break;
      const right = left + 1;
      const child = right < heap.length && (heap[right] as E).at < (heap[left] as E).at ? right : left;
      const below = heap[child] as E;
      if (below.at >= entry.at) break;
      this.place(below, at);
      at = child;
    }
    this.place(entry, at);
  }

  private place(entry: E, slot: number): void {
    this.heap[slot] = entry;
    entry.slot = slot;
  }
}
