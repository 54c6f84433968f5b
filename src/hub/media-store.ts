/**
 * Where the hub keeps bytes. The hub decides what is allowed (limits, retention, ownership); a store
 * only keeps bytes and records, and makes a completed upload visible atomically. The in-memory store is
 * here; the durable file store lives with the server.
 * @module
 */
import { concatBytes } from '../core/bytes.js';
import { Failure, fault } from '../core/failure.js';
import { type CreateHasher, type Hasher, nobleSha256 } from '../core/hash.js';

/** What is recorded about an upload when it is created. */
export interface MediaMeta {
  readonly mediaId: string;
  readonly size: number;
  readonly fileName: string;
  readonly uploader: string;
  readonly createdAt: number;
}

/** A stored entry: an upload still receiving bytes, or complete media. */
export type StoredEntry =
  | { readonly state: 'partial'; readonly meta: MediaMeta; readonly offset: number; readonly updatedAt: number }
  | { readonly state: 'complete'; readonly meta: MediaMeta; readonly sha256: string; readonly completedAt: number };

/** Options of {@link MediaStore.append}. */
export interface AppendOptions {
  readonly signal?: AbortSignal;
  readonly now: () => number;
  readonly onAppended?: (offset: number) => void;
  /**
   * The chunks become the store's: their producer never reuses or changes them (buffers fresh from a
   * socket), so the store may keep them until written without copying. Default: false.
   */
  readonly owned?: boolean;
}

/**
 * Where {@link MediaStore.read} may read its next chunk: called with the most bytes the store would read
 * at once, it returns the buffer to read into (a shorter one is fine: the chunk is then at most its
 * length). The chunk yielded is a view of that buffer, which the caller owns again once it has the chunk:
 * a reader that sends every chunk on reuses a few buffers instead of allocating one per chunk.
 */
export type ReadInto = (length: number) => Uint8Array;

/**
 * The media-store interface. Every method may reject with a `FaultError`; `append` and `read` honour
 * their signal by rejecting promptly and writing nothing more.
 */
export interface MediaStore {
  /** Records a new, empty upload. Rejects with `Conflict` if the ID exists. */
  create(meta: MediaMeta, now: number): Promise<void>;
  /**
   * Appends bytes to a partial upload at `offset` (which must equal its current offset), calling
   * `onAppended` with the new offset as chunks are kept. Resolves with the final offset. A chunk is valid
   * only until the next is pulled (its producer may reuse the buffer), unless `owned`.
   */
  append(mediaId: string, offset: number, chunks: AsyncIterable<Uint8Array>, options: AppendOptions): Promise<number>;
  /** Makes a partial upload whose offset reached its size visible as complete media, with its SHA-256. */
  complete(mediaId: string, now: number): Promise<StoredEntry & { state: 'complete' }>;
  /** The entry for an ID, or `undefined`. */
  stat(mediaId: string): Promise<StoredEntry | undefined>;
  /**
   * The bytes of complete media from `offset`. With `into`, a store that can reads each chunk into the
   * buffer `into` lends it (decision 135); one that cannot yields buffers of its own.
   */
  read(mediaId: string, offset: number, signal?: AbortSignal, into?: ReadInto): AsyncIterable<Uint8Array>;
  /**
   * Removes an entry and its bytes; removing a missing entry is not an error. Resolves with the state the
   * entry had when it went (what its uploader held is released by that), `undefined` if there was none:
   * of two deletes at once, one alone removes it.
   */
  delete(mediaId: string): Promise<StoredEntry['state'] | undefined>;
  /** Every entry, for sweeps. */
  list(): AsyncIterable<StoredEntry>;
  /** Bytes free on the store's disk, when it can tell (the hub keeps a reserve); absent for memory. */
  freeBytes?(): Promise<number>;
}

interface MemoryEntry {
  meta: MediaMeta;
  chunks: Uint8Array[];
  offset: number;
  updatedAt: number;
  hasher: Hasher | undefined;
  complete: { sha256: string; completedAt: number } | undefined;
}

/** Options of {@link memoryStore}. */
export interface MemoryStoreOptions {
  /** SHA-256 implementation. Default: `@noble/hashes`. */
  readonly createHasher?: CreateHasher;
  /**
   * Keep no bytes, only counts and hashes: for memory benchmarks of the client. Reads of such media
   * fail. Default: `false`.
   */
  readonly discardBytes?: boolean;
  /** Bytes per chunk yielded by `read`. Default: 64 KiB. */
  readonly readChunkSize?: number;
}

/** The in-memory store, with a count of bytes held so specs can see that deletions free them. */
export interface MemoryStore extends MediaStore {
  /** Bytes currently held, partial uploads included. */
  readonly bytesHeld: number;
}

const throwIfAborted = (signal: AbortSignal | undefined): void => {
  if (signal?.aborted) throw fault(Failure.interrupted('aborted'), signal.reason);
};

/**
 * A store that keeps everything in memory: for embedding, tests and the memory transport.
 * @example const hub = createHub({ store: memoryStore() });
 */
export const memoryStore = (options: MemoryStoreOptions = {}): MemoryStore => {
  const createHasher = options.createHasher ?? nobleSha256;
  const readChunkSize = options.readChunkSize ?? 64 * 1024;
  const entries = new Map<string, MemoryEntry>();
  let bytesHeld = 0;

  const get = (mediaId: string): MemoryEntry => {
    const entry = entries.get(mediaId);
    if (!entry) throw fault(Failure.notExist(`media ${mediaId}`));
    return entry;
  };
  const view = (entry: MemoryEntry): StoredEntry =>
    entry.complete
      ? { state: 'complete', meta: entry.meta, ...entry.complete }
      : { state: 'partial', meta: entry.meta, offset: entry.offset, updatedAt: entry.updatedAt };

  return {
    get bytesHeld() {
      return bytesHeld;
    },
    async create(meta, now) {
      if (entries.has(meta.mediaId)) throw fault(Failure.conflict(`media ${meta.mediaId} exists`));
      entries.set(meta.mediaId, { meta, chunks: [], offset: 0, updatedAt: now, hasher: createHasher(), complete: undefined });
    },
    async append(mediaId, offset, chunks, { signal, now, onAppended }) {
      const entry = get(mediaId);
      if (entry.complete || !entry.hasher) throw fault(Failure.conflict(`upload ${mediaId} is complete`));
      if (offset !== entry.offset) throw fault(Failure.conflict(`offset ${offset} is not the upload's offset ${entry.offset}`));
      throwIfAborted(signal);
      for await (const chunk of chunks) {
        throwIfAborted(signal);
        // The entry may have been deleted (terminated, swept) while this append awaited its next chunk.
        if (entries.get(mediaId) !== entry) throw fault(Failure.notExist(`upload ${mediaId}`));
        if (chunk.length === 0) continue;
        // A copy, because the caller may reuse its buffer for the next chunk.
        const kept = options.discardBytes ? undefined : chunk.slice();
        if (kept) {
          entry.chunks.push(kept);
          bytesHeld += kept.length;
        }
        entry.hasher.update(chunk);
        entry.offset += chunk.length;
        entry.updatedAt = now();
        onAppended?.(entry.offset);
      }
      return entry.offset;
    },
    async complete(mediaId, now) {
      const entry = get(mediaId);
      if (entry.complete) return { state: 'complete', meta: entry.meta, ...entry.complete };
      if (!entry.hasher || entry.offset !== entry.meta.size) {
        throw fault(Failure.conflict(`upload ${mediaId} has ${entry.offset} of ${entry.meta.size} bytes`));
      }
      entry.complete = { sha256: entry.hasher.digest(), completedAt: now };
      entry.hasher = undefined;
      if (entry.chunks.length > 1) entry.chunks = [concatBytes(entry.chunks, entry.offset)];
      return { state: 'complete', meta: entry.meta, ...entry.complete };
    },
    async stat(mediaId) {
      const entry = entries.get(mediaId);
      return entry && view(entry);
    },
    async *read(mediaId, offset, signal) {
      const entry = get(mediaId);
      if (!entry.complete) throw fault(Failure.notExist(`media ${mediaId} (upload not complete)`));
      if (options.discardBytes) throw fault(Failure.unknown('this store discards bytes'));
      const bytes = entry.chunks[0] ?? new Uint8Array(0);
      for (let at = offset; at < bytes.length; at += readChunkSize) {
        throwIfAborted(signal);
        if (entries.get(mediaId) !== entry) throw fault(Failure.notExist(`media ${mediaId}`));
        yield bytes.subarray(at, Math.min(at + readChunkSize, bytes.length));
      }
    },
    async delete(mediaId) {
      const entry = entries.get(mediaId);
      if (!entry) return undefined;
      entries.delete(mediaId);
      bytesHeld -= entry.chunks.reduce((n, c) => n + c.length, 0);
      return entry.complete ? 'complete' : 'partial';
    },
    async *list() {
      for (const entry of [...entries.values()]) yield view(entry);
    },
  };
};
