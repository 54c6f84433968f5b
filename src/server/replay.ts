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

interface Kept<T> {
  readonly seq: number;
  readonly item: T;
  readonly bytes: number;
}

/** A bounded, numbered log of recent events. */
export class Replay<T> {
  private readonly kept: Kept<T>[] = [];
  /** Index of the oldest kept event in `kept` (dropped ones before it are compacted away now and then). */
  private head = 0;
  private total = 0;

  constructor(private readonly limits: ReplayLimits) {}

  /** Bytes held now. */
  get bytes(): number {
    return this.total;
  }

  /** Events held now. */
  get size(): number {
    return this.kept.length - this.head;
  }

  /** Keeps event `seq` (which must exceed every kept one), dropping the oldest beyond the bounds. */
  push(seq: number, item: T, bytes: number): void {
    this.kept.push({ seq, item, bytes });
    this.total += bytes;
    while (this.size > 1 && (this.size > this.limits.events || this.total > this.limits.bytes)) {
      this.total -= (this.kept[this.head] as Kept<T>).bytes;
      this.head++;
    }
    // Amortized O(1): compact once the dropped prefix is as long as what is kept.
    if (this.head > 64 && this.head >= this.size) {
      this.kept.splice(0, this.head);
      this.head = 0;
    }
  }

  /** The number of the oldest event kept, `undefined` when none is. */
  get oldest(): number | undefined {
    return this.size > 0 ? (this.kept[this.head] as Kept<T>).seq : undefined;
  }

  /**
   * Index in `kept` of the oldest event after `lastSeq` (`kept.length` when none is): a binary search, as
   * numbers increase. A live reader asks for the newest event alone on every push, so a scan from the
   * oldest made each delivery cost the whole replay (1,000 events: half the CPU of a channel fan-out).
   */
  private firstAfter(lastSeq: number): number {
    let low = this.head;
    let high = this.kept.length;
    while (low < high) {
      const middle = (low + high) >>> 1;
      if ((this.kept[middle] as Kept<T>).seq > lastSeq) high = middle;
      else low = middle + 1;
    }
    return low;
  }

  /** The events after `lastSeq`, oldest first, to `each` until it answers `false`. */
  after(lastSeq: number, each: (seq: number, item: T) => boolean): void {
    for (let i = this.firstAfter(lastSeq); i < this.kept.length; i++) {
      const { seq, item } = this.kept[i] as Kept<T>;
      if (!each(seq, item)) return;
    }
  }

  /** The events after `lastSeq`, oldest first, to `each`. */
  since(lastSeq: number, each: (seq: number, item: T) => void): void {
    for (let i = this.firstAfter(lastSeq); i < this.kept.length; i++) {
      const { seq, item } = this.kept[i] as Kept<T>;
      each(seq, item);
    }
  }
}
