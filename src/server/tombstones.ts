/**
 * Sessions the hub ended (a login elsewhere, an expired token) remembered after the session itself is
 * forgotten, so a client that comes back late — a laptop that slept through the grace period — learns
 * that its session was taken, instead of logging in afresh and taking it back from the other device.
 * Bounded by count and age; lost with the process, after which a fresh login is the right answer (the
 * other device's session is gone too). With a shared bus, a server that never held the session learns the
 * same from the bus (`ServerSessions.adopt`) and remembers it here too. The same bounded memory, without
 * an event, keeps the sessions that logged out, for the transfer guard (decision 139).
 * @module
 */
import type { HubEvent } from '../hub/message-bus.js';

/** What is remembered of an ended session: its user, the event that ended it and that event's number. */
export interface Tombstone {
  readonly userId: string;
  readonly event: Extract<HubEvent, { type: 'aborted' }>;
  /** The event's number in the session (the bus's delivery number), when known. */
  readonly seq?: number;
}

/** Options of {@link Tombstones}. */
export interface TombstoneOptions {
  /** Ended sessions remembered at most; the oldest is forgotten first. Default: 10,000 (about 4 MiB). */
  readonly max?: number;
  /**
   * Ended sessions remembered per user, the user's oldest forgotten first, so that one account logging in
   * again and again cannot push everyone else's out. Default: 8.
   */
  readonly perUser?: number;
  /** How long one is remembered. Default: 24 h. */
  readonly ttlMs?: number;
  /** The time. Default: `Date.now`. */
  readonly now?: () => number;
}

/** The ended sessions of one endpoint, by session ID: what is kept of each is a `T` (a {@link Tombstone} by default). */
export class Tombstones<T extends { readonly userId: string } = Tombstone> {
  private readonly kept = new Map<string, T & { readonly at: number }>();
  /** Each user's remembered session IDs, oldest first. */
  private readonly byUser = new Map<string, string[]>();
  private readonly max: number;
  private readonly perUser: number;
  private readonly ttlMs: number;
  private readonly now: () => number;

  constructor(options: TombstoneOptions = {}) {
    this.max = options.max ?? 10_000;
    this.perUser = options.perUser ?? 8;
    this.ttlMs = options.ttlMs ?? 24 * 3_600_000;
    this.now = options.now ?? Date.now;
  }

  /** Remembers that session `id` of `userId` was ended by `event`. */
  add(id: string, tombstone: T): void {
    this.forget(id);
    this.kept.set(id, { ...tombstone, at: this.now() });
    const mine = this.byUser.get(tombstone.userId) ?? [];
    this.byUser.set(tombstone.userId, mine);
    mine.push(id);
    while (mine.length > this.perUser) this.forget(mine[0] as string);
    // A Map iterates in insertion order: the first key is the oldest.
    while (this.kept.size > this.max) this.forget(this.kept.keys().next().value as string);
  }

  private forget(id: string): void {
    const kept = this.kept.get(id);
    if (!kept) return;
    this.kept.delete(id);
    const mine = this.byUser.get(kept.userId);
    const at = mine?.indexOf(id) ?? -1;
    if (at >= 0) mine?.splice(at, 1);
    if (mine?.length === 0) this.byUser.delete(kept.userId);
  }

  /** What ended session `id` of `userId`, if it is remembered (another user's ID is never told). */
  get(id: string, userId: string): T | undefined {
    const kept = this.kept.get(id);
    if (!kept || kept.userId !== userId) return undefined;
    if (this.now() - kept.at >= this.ttlMs) {
      this.forget(id);
      return undefined;
    }
    return kept;
  }

  /** How many are remembered. */
  get size(): number {
    return this.kept.size;
  }
}
