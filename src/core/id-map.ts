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
 *
 * The slots start few ({@link FIRST_SLOTS}) and double when an ID finds its slot taken, up to the most
 * asked for: a map that holds a handful of IDs (a session that made a few calls) costs a few hundred
 * bytes, not two arrays of 1,024 (16 KiB: 64% of what a WebSocket session added; decision 115). Growing
 * drops the old arrays whole, which a young GC frees; it does not chain them as a `Map`'s rehash does.
 * @module
 */

/** Slots of an {@link IdMap} at most unless told otherwise: more than the calls a link has in flight. */
const DEFAULT_SLOTS = 1024;
/** Slots of a new {@link IdMap} (fewer if its most is fewer). */
const FIRST_SLOTS = 8;
const FREE = -1;

/** A map from non-negative integer IDs to values; {@link IdMap.snapshot} lists them by ascending ID. */
export class IdMap<V> {
  private mask: number;
  private keys: number[];
  private values: (V | undefined)[];
  /** The most slots it grows to. */
  private readonly most: number;
  /** IDs set while their slot held another ID. */
  private readonly overflow = new Map<number, V>();
  private count = 0;

  /** `slots` (a power of two, default 1,024): how many slots it grows to, before the side map is used. */
  constructor(slots = DEFAULT_SLOTS) {
    if (!Number.isInteger(Math.log2(slots))) throw new RangeError(`slots must be a power of two, got ${slots}`);
    this.most = slots;
    const first = Math.min(slots, FIRST_SLOTS);
    this.mask = first - 1;
    this.keys = new Array<number>(first).fill(FREE);
    this.values = new Array<V | undefined>(first).fill(undefined);
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
    let slot = id & this.mask;
    let held = this.keys[slot];
    // Its slot is another ID's: more slots while it may grow (the side map holds only what still collides).
    while (held !== id && held !== FREE && this.mask + 1 < this.most && !this.overflow.has(id)) {
      this.grow();
      slot = id & this.mask;
      held = this.keys[slot];
    }
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

  /** Doubles the slots: every slotted ID takes its slot in the new arrays, and side IDs whose slot is free move in. */
  private grow(): void {
    const slots = 2 * (this.mask + 1);
    const keys = new Array<number>(slots).fill(FREE);
    const values = new Array<V | undefined>(slots).fill(undefined);
    const mask = slots - 1;
    for (let slot = 0; slot <= this.mask; slot++) {
      const id = this.keys[slot] as number;
      if (id === FREE) continue;
      // Distinct slots before stay distinct: the new slot only adds a bit of the ID.
      keys[id & mask] = id;
      values[id & mask] = this.values[slot];
    }
    for (const [id, value] of this.overflow) {
      if (keys[id & mask] !== FREE) continue;
      keys[id & mask] = id;
      values[id & mask] = value;
      this.overflow.delete(id);
    }
    this.keys = keys;
    this.values = values;
    this.mask = mask;
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
