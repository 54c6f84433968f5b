/**
 * A map from integer IDs to values, for IDs that come and go all the time (a link's calls in flight):
 * the operations of a `Map` the code needs, over fixed arrays of slots.
 *
 * Why not a `Map`: when V8 rehashes a `Map`'s table, which a `Map` whose keys churn does every few dozen
 * deletions, the old table keeps the entries it held and a pointer to the new table. Once one such table
 * is in the old generation (the table of any `Map` that lived through a full GC), the young GC treats it
 * as live, so every later table and every value they held survive and are promoted: with a hundred calls
 * in flight the client promoted about 2 MB per young GC, and each young GC paused it 5–9 ms instead of
 * 1–2 (decision 58). Slots are never reallocated; a dictionary object would do too, at four times the
 * cost per call.
 *
 * An ID lives in slot `id mod slots` while that slot is free; an ID whose slot is taken (a call still
 * waiting `slots` IDs later, such as a long transfer) goes to a small `Map` on the side.
 * @module
 */

/** Slots of an {@link IdMap} unless told otherwise: more than the calls a link has in flight. */
const DEFAULT_SLOTS = 1024;
const FREE = -1;

/** A map from non-negative integer IDs to values; {@link IdMap.snapshot} lists them by ascending ID. */
export class IdMap<V> {
  private readonly mask: number;
  private readonly keys: number[];
  private readonly values: (V | undefined)[];
  /** IDs set while their slot held another ID. */
  private readonly overflow = new Map<number, V>();
  private count = 0;

  /** `slots` (a power of two, default 1,024): how many IDs fit before the side map is used. */
  constructor(slots = DEFAULT_SLOTS) {
    if (!Number.isInteger(Math.log2(slots))) throw new RangeError(`slots must be a power of two, got ${slots}`);
    this.mask = slots - 1;
    this.keys = new Array<number>(slots).fill(FREE);
    this.values = new Array<V | undefined>(slots).fill(undefined);
  }

  /** How many IDs are present. */
  get size(): number {
    return this.count;
  }

  /** The value of `id`, if present. */
  get(id: number): V | undefined {
    const slot = id & this.mask;
    return this.keys[slot] === id ? this.values[slot] : this.overflow.get(id);
  }

  /** Whether `id` is present. */
  has(id: number): boolean {
    return this.keys[id & this.mask] === id || this.overflow.has(id);
  }

  /** Sets the value of `id` (a non-negative integer). */
  set(id: number, value: V): void {
    const slot = id & this.mask;
    const held = this.keys[slot];
    if (held === id) {
      this.values[slot] = value;
    } else if (held === FREE && !this.overflow.has(id)) {
      this.keys[slot] = id;
      this.values[slot] = value;
      this.count++;
    } else {
      if (!this.overflow.has(id)) this.count++;
      this.overflow.set(id, value);
    }
  }

  /** Removes `id`; whether it was present. */
  delete(id: number): boolean {
    const slot = id & this.mask;
    if (this.keys[slot] === id) {
      this.keys[slot] = FREE;
      this.values[slot] = undefined;
    } else if (!this.overflow.delete(id)) {
      return false;
    }
    this.count--;
    return true;
  }

  /** Removes every ID. */
  clear(): void {
    this.keys.fill(FREE);
    this.values.fill(undefined);
    this.overflow.clear();
    this.count = 0;
  }

  /** The IDs and values present now, by ascending ID (a copy: the map may change meanwhile). */
  snapshot(): [number, V][] {
    const all: [number, V][] = [...this.overflow];
    for (let slot = 0; slot <= this.mask; slot++) {
      const id = this.keys[slot] as number;
      if (id !== FREE) all.push([id, this.values[slot] as V]);
    }
    return all.sort((a, b) => a[0] - b[0]);
  }
}
