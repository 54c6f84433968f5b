/**
 * What each user holds in a hub's store: bytes (complete media plus the declared sizes of unfinished
 * uploads) and the number of unfinished uploads, for the quotas of `limits.ts`. Built once from the
 * store's listing before the first change, then kept by the hub at every change it makes (create,
 * complete, delete, sweep), so checking a quota costs a map lookup. The hub is the store's only writer;
 * entries are counted until they are deleted (expired media until the next sweep or access).
 * @module
 */
import type { MediaStore, StoredEntry } from './media-store.js';

/** One user's holdings. */
export interface Holdings {
  readonly bytes: number;
  readonly unfinished: number;
}

/** The usage ledger of a hub. */
export interface Usage {
  /** Resolves once the store's existing entries are counted; every change awaits it first. */
  ready(): Promise<void>;
  of(user: string): Holdings;
  /** Declared bytes of every unfinished upload, all users: what the disk must still take. */
  readonly unfinishedBytes: number;
  /** A new upload of `size` bytes, counted before the store has it (so two racing creates both count). */
  reserve(user: string, size: number): void;
  /** An upload's last byte arrived: no longer unfinished, still stored. */
  completed(user: string, size: number): void;
  /** An entry was deleted (or a reservation was not used). */
  released(user: string, size: number, state: StoredEntry['state']): void;
}

/** A ledger over `store`. */
export const usageOf = (store: MediaStore): Usage => {
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
    of: (user) => byUser.get(user) ?? { bytes: 0, unfinished: 0 },
    get unfinishedBytes() {
      return unfinishedBytes;
    },
    reserve: (user, size) => add(user, size, 1, size),
    completed: (user, size) => add(user, 0, -1, -size),
    released: (user, size, state) => (state === 'partial' ? add(user, -size, -1, -size) : add(user, -size, 0, 0)),
  };
};
