/**
 * What each user holds, for the quotas of `hub-limits.ts`: bytes (complete media plus the declared sizes
 * of unfinished uploads) and the number of unfinished uploads. {@link Usage} is the seam: checking a
 * user's quotas and reserving a new upload is one atomic step, so hubs sharing a ledger (over Redis) count
 * a user's uploads across the cluster; {@link memoryUsage}, the default, is this process's own. The hub
 * keeps a ledger at every change it makes to the store (create, complete, delete, sweep), after the
 * store's change (or, for a new upload, before it: a reservation); entries are counted until they are
 * deleted (expired media until the next sweep or access). Decisions 87, 92.
 * @module
 */
import type { HubLimits } from './hub-limits.js';
import type { MediaStore, StoredEntry } from './media-store.js';

/** One user's holdings. */
export interface Holdings {
  readonly bytes: number;
  readonly unfinished: number;
}

/** The quotas a reservation is checked against. */
export type Quota = Pick<HubLimits, 'unfinishedUploads' | 'storedBytes'>;

/** What {@link Usage.reserve} did. */
export type Reservation =
  | {
      readonly reserved: true;
      /** Declared bytes of every unfinished upload, all users, this one's included: what the disk must still take. */
      readonly unfinishedBytes: number;
    }
  | {
      readonly reserved: false;
      /** The first quota the upload would pass: the count is checked before the bytes. */
      readonly over: keyof Quota;
      /** What the user held when it was refused. */
      readonly held: Holdings;
    };

/**
 * The usage ledger of hubs. The hub awaits {@link Usage.ready} before each change it makes to the store,
 * then tells the ledger of the change. Every method may reject (a shared ledger's connection failed).
 */
export interface Usage {
  /** Resolves once the ledger counts what the store holds (built from its listing if it must be). */
  ready(): Promise<void>;
  /** What `user` holds now. */
  of(user: string): Promise<Holdings>;
  /**
   * Checks `user`'s holdings against `quota` and, if a new upload of `size` bytes fits, counts it (one
   * more unfinished upload, `size` more bytes) before the store has it, in one atomic step: of uploads
   * created at once, on one hub or several, each is checked with those reserved before it counted.
   */
  reserve(user: string, size: number, quota: Quota): Promise<Reservation>;
  /** An upload's last byte arrived: no longer unfinished, still stored. */
  completed(user: string, size: number): Promise<void>;
  /** An entry was deleted (or a reservation was not used); `state` is what the store said it was. */
  released(user: string, size: number, state: StoredEntry['state']): Promise<void>;
}

/**
 * A ledger in this process over `store`: built from the store's listing once, before the first change,
 * then kept from the hub's changes, so checking a quota costs a map lookup. Its counts are this process's
 * own; hubs of one process may share it (`createHub({ store, usage })` for each), hubs of several need a
 * shared one (`redisUsage`). The default of `createHub`.
 * @example const usage = memoryUsage(store); createHub({ store, usage }); createHub({ store, usage });
 */
export const memoryUsage = (store: MediaStore): Usage => {
  const byUser = new Map<string, { bytes: number; unfinished: number }>();
  let unfinishedBytes = 0;
  /** Adds to a user's bytes and unfinished count; `pending` is the change of everyone's unfinished bytes. */
  const add = (user: string, bytes: number, unfinished: number, pending: number): void => {
    const held = byUser.get(user) ?? { bytes: 0, unfinished: 0 };
    held.bytes += bytes;
    held.unfinished += unfinished;
    unfinishedBytes += pending;
    // Exactly zero: a negative count would be a bug of the ledger, left visible rather than forgotten.
    if (held.bytes === 0 && held.unfinished === 0) byUser.delete(user);
    else byUser.set(user, held);
  };
  const of = (user: string): Holdings => {
    const held = byUser.get(user);
    return held ? { ...held } : { bytes: 0, unfinished: 0 };
  };
  let indexed: Promise<void> | undefined;
  return {
    ready() {
      indexed ??= (async () => {
        for await (const { meta, state } of store.list()) add(meta.uploader, meta.size, state === 'partial' ? 1 : 0, state === 'partial' ? meta.size : 0);
      })().catch((error: unknown) => {
        // A listing that failed (out of file handles) is tried again by the next call, from nothing.
        byUser.clear();
        unfinishedBytes = 0;
        indexed = undefined;
        throw error;
      });
      return indexed;
    },
    of: async (user) => of(user),
    // Nothing awaits between the check and the count: reservations made at once are checked in turn.
    async reserve(user, size, quota) {
      const held = of(user);
      if (held.unfinished >= quota.unfinishedUploads) return { reserved: false, over: 'unfinishedUploads', held };
      if (held.bytes + size > quota.storedBytes) return { reserved: false, over: 'storedBytes', held };
      add(user, size, 1, size);
      return { reserved: true, unfinishedBytes };
    },
    completed: async (user, size) => add(user, 0, -1, -size),
    released: async (user, size, state) => (state === 'partial' ? add(user, -size, -1, -size) : add(user, -size, 0, 0)),
  };
};
