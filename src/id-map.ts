/**
 * A map from integer IDs to values, for IDs that come and go all the time (a link's calls in flight):
 * the operations of a `Map` the code needs, over a dictionary object.
 *
 * Why not a `Map`: when V8 rehashes a `Map`'s table, which a `Map` whose keys churn does every few dozen
 * deletions, the old table keeps the entries it held and a pointer to the new table. Once one such table
 * is in the old generation (the table of any `Map` that lived through a full GC), the young GC treats it
 * as live, so every later table and every value they held survive and are promoted: with a hundred calls
 * in flight the client promoted about 2 MB per young GC, and each young GC paused it 5–9 ms instead of
 * 1–2 (decision 57). A dictionary object's old storage points to no newer storage.
 * @module
 */

/** A map from non-negative integer IDs to values; iterates in ascending ID order. */
export class IdMap<V> {
  private entries: Record<number, V> = Object.create(null) as Record<number, V>;
  private count = 0;

  /** How many IDs are present. */
  get size(): number {
    return this.count;
  }

  /** The value of `id`, if present. */
  get(id: number): V | undefined {
    return this.entries[id];
  }

  /** Whether `id` is present. */
  has(id: number): boolean {
    return id in this.entries;
  }

  /** Sets the value of `id` (a non-negative integer). */
  set(id: number, value: V): void {
    if (!(id in this.entries)) this.count++;
    this.entries[id] = value;
  }

  /** Removes `id`; whether it was present. */
  delete(id: number): boolean {
    if (!(id in this.entries)) return false;
    delete this.entries[id];
    this.count--;
    return true;
  }

  /** Removes every ID. */
  clear(): void {
    this.entries = Object.create(null) as Record<number, V>;
    this.count = 0;
  }

  /** The IDs and values present now, in ascending ID order (a copy: the map may change meanwhile). */
  snapshot(): [number, V][] {
    const all: [number, V][] = [];
    for (const key in this.entries) all.push([Number(key), this.entries[key as unknown as number] as V]);
    return all;
  }
}
