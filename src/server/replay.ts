/**
 * The recent events of one session, numbered, kept so a client that lost its link resumes after the
 * last one it saw (`Last-Event-ID` over HTTP, `resume.lastSeq` over WebSocket). Bounded by count and by
 * bytes, the oldest dropped first: with 32 KiB messages a count alone let one session hold 44 MiB.
 * @module
 */

/** Bounds of a {@link Replay}. */
export interface ReplayLimits {
  /** Events kept at most. */
  readonly events: number;
  /** Bytes kept at most (as each event's caller measured it); the newest event is kept whatever its size. */
  readonly bytes: number;
}

/** No slots yet: a session that never had an event holds no arrays (see {@link Replay}). */
const NONE = new Float64Array(0);

/**
 * A bounded, numbered log of recent events: a ring of parallel arrays (numbers, items, sizes) rather
 * than an object per event, so keeping an event allocates nothing (a channel fan-out keeps one in every
 * member's replay), and it grows by doubling from nothing up to its count bound, so an idle session holds
 * a few hundred bytes, not slots for 1,000 events (decision 115).
 */
export class Replay<T> {
  private seqs: Float64Array = NONE;
  private sizes: Float64Array = NONE;
  private items: (T | undefined)[] = [];
  /** Slots − 1 (slots are a power of two); −1 before the first event. */
  private mask = -1;
  /** Slot of the oldest kept event. */
  private head = 0;
  private count = 0;
  private total = 0;

  constructor(private readonly limits: ReplayLimits) {}

  /** Bytes held now. */
  get bytes(): number {
    return this.total;
  }

  /** Events held now. */
  get size(): number {
    return this.count;
  }

  /** Keeps event `seq` (which must exceed every kept one), dropping the oldest beyond the bounds. */
  push(seq: number, item: T, bytes: number): void {
    if (this.count > 0 && this.count >= this.limits.events) this.dropOldest();
    if (this.count === this.mask + 1) this.grow();
    const slot = (this.head + this.count) & this.mask;
    this.seqs[slot] = seq;
    this.sizes[slot] = bytes;
    this.items[slot] = item;
    this.count++;
    this.total += bytes;
    while (this.count > 1 && this.total > this.limits.bytes) this.dropOldest();
  }

  /** The number of the oldest event kept, `undefined` when none is. */
  get oldest(): number | undefined {
    return this.count > 0 ? (this.seqs[this.head] as number) : undefined;
  }

  /** The events after `lastSeq`, oldest first, to `each` until it answers `false`. */
  after(lastSeq: number, each: (seq: number, item: T) => boolean): void {
    for (let i = this.firstAfter(lastSeq); i < this.count; i++) {
      const slot = (this.head + i) & this.mask;
      if (!each(this.seqs[slot] as number, this.items[slot] as T)) return;
    }
  }

  /** The events after `lastSeq`, oldest first, to `each`. */
  since(lastSeq: number, each: (seq: number, item: T) => void): void {
    this.after(lastSeq, (seq, item) => {
      each(seq, item);
      return true;
    });
  }

  /**
   * How many of the kept events are at or before `lastSeq` (the position of the first after it): a
   * binary search, as numbers increase. A live reader asks for the newest event alone, so a scan from the
   * oldest made each delivery cost the whole replay (1,000 events: half the CPU of a channel fan-out).
   */
  private firstAfter(lastSeq: number): number {
    let low = 0;
    let high = this.count;
    while (low < high) {
      const middle = (low + high) >>> 1;
      if ((this.seqs[(this.head + middle) & this.mask] as number) > lastSeq) high = middle;
      else low = middle + 1;
    }
    return low;
  }

  private dropOldest(): void {
    this.total -= this.sizes[this.head] as number;
    this.items[this.head] = undefined;
    this.head = (this.head + 1) & this.mask;
    this.count--;
  }

  /** Doubles the slots (8 at first), the kept events laid out from slot 0. */
  private grow(): void {
    const slots = Math.max(8, 2 * (this.mask + 1));
    const seqs = new Float64Array(slots);
    const sizes = new Float64Array(slots);
    const items = new Array<T | undefined>(slots).fill(undefined);
    for (let i = 0; i < this.count; i++) {
      const slot = (this.head + i) & this.mask;
      seqs[i] = this.seqs[slot] as number;
      sizes[i] = this.sizes[slot] as number;
      items[i] = this.items[slot];
    }
    this.seqs = seqs;
    this.sizes = sizes;
    this.items = items;
    this.mask = slots - 1;
    this.head = 0;
  }
}
