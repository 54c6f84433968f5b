/**
 * How many of something each key holds at once, capped: connections per client address, WebSocket
 * transfers per user. A key is forgotten when it holds none, so the map holds only keys in use.
 * @module
 */

/** Counts per key with a cap. */
export class PerKeyCount {
  private readonly held = new Map<string, number>();

  /** `limit`: the most one key may hold; `Infinity` (or 0, meaning off) never refuses. */
  constructor(private readonly limit: number) {}

  /** Takes one for `key` and answers `true`, or answers `false` (taking nothing) when it holds `limit`. */
  acquire(key: string): boolean {
    const count = this.held.get(key) ?? 0;
    if (this.limit > 0 && count >= this.limit) return false;
    this.held.set(key, count + 1);
    return true;
  }

  /** Gives back one taken by `acquire` for `key`. */
  release(key: string): void {
    const count = this.held.get(key) ?? 0;
    if (count <= 1) this.held.delete(key);
    else this.held.set(key, count - 1);
  }

  /** What `key` holds now. */
  of(key: string): number {
    return this.held.get(key) ?? 0;
  }

  /** How many keys hold something. */
  get keys(): number {
    return this.held.size;
  }
}
