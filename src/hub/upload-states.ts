/**
 * The state of unfinished uploads that must be shared by every hub appending to one media store: the
 * offset, the owner, the expiry, and who is appending now (the claim). One word, `{ offset, claim }`,
 * changes only by {@link UploadStates.compareAndSetOffset}, so of two requests appending to one upload
 * (in one process or in two) exactly one claims it; the other is refused with `Conflict`. The media
 * store keeps the bytes and stays the authority on how many arrived; this state says who may add more.
 * `redisUploadStates` (`src/cluster/redis-upload-states.ts`) keeps each state in a hash whose expiry
 * is compared with the hub's clock, and the compare-and-set is one Lua script (compare `offset` and
 * `claim.by`, then set the three fields). Decisions 85, 91.
 * @module
 */
import { type Clock, systemClock } from '../core/clock.js';

/**
 * Who is appending to an upload, and until when the claim holds unless renewed. A claim whose `until`
 * has passed is stale (its holder stopped or died) and may be taken over.
 */
export interface UploadClaim {
  /** An opaque token naming the claiming request. */
  readonly by: string;
  /** ms since the epoch, on the hub's clock. */
  readonly until: number;
}

/** The part of a state that {@link UploadStates.compareAndSetOffset} compares and sets. */
export interface OffsetWord {
  readonly offset: number;
  readonly claim: UploadClaim | null;
}

/** One unfinished upload's shared state. */
export interface UnfinishedUpload extends OffsetWord {
  readonly uploadId: string;
  /** The uploader's user ID. */
  readonly owner: string;
  /** Declared size in bytes. */
  readonly size: number;
  /** When the state may be forgotten (the upload is then stale and swept): ms since the epoch. */
  readonly expiresAt: number;
}

/**
 * Where the hub keeps the state of unfinished uploads. Every method may reject. A state past its
 * `expiresAt` reads as absent, as a Redis key that expired.
 */
export interface UploadStates {
  /** The state of an upload, or `undefined`. */
  get(uploadId: string): Promise<UnfinishedUpload | undefined>;
  /** Records a new state; resolves `false` (changing nothing) if the upload already has one. */
  create(state: UnfinishedUpload): Promise<boolean>;
  /**
   * Sets `{ offset, claim }` and `expiresAt` to `next` only if the stored word equals `expected`: the same
   * offset and the same claim holder (`claim.by`, or both without a claim; `until` is not compared, so
   * a holder renews its claim by this call too). Resolves with whether it did; `false` if there is no state.
   */
  compareAndSetOffset(uploadId: string, expected: OffsetWord, next: OffsetWord & { readonly expiresAt: number }): Promise<boolean>;
  /** Forgets an upload's state (it completed or was removed). Forgetting a missing one is not an error. */
  delete(uploadId: string): Promise<void>;
}

/** Options of {@link memoryUploadStates}. */
export interface MemoryUploadStatesOptions {
  /** Time source of expiry; give the hub's. Default: the system clock. @example { clock: virtualClock() } */
  readonly clock?: Clock;
}

const sameWord = (a: OffsetWord, b: OffsetWord): boolean => a.offset === b.offset && (a.claim?.by ?? null) === (b.claim?.by ?? null);

/**
 * Upload states in this process: the default of `createHub`, and shareable by several hubs of one
 * process. It keeps nothing on disk: after a restart the hub rebuilds each state from the media store's
 * own record the first time the upload is appended to (the store's offset is durable, a claim dies with
 * the process that held it). States are copied in and out, as they would cross a network.
 * @example const uploads = memoryUploadStates({ clock }); createHub({ clock, store, uploads });
 */
export const memoryUploadStates = (options: MemoryUploadStatesOptions = {}): UploadStates => {
  const clock = options.clock ?? systemClock;
  const states = new Map<string, UnfinishedUpload>();
  const current = (uploadId: string): UnfinishedUpload | undefined => {
    const state = states.get(uploadId);
    if (state && state.expiresAt <= clock.now()) {
      states.delete(uploadId);
      return undefined;
    }
    return state;
  };
  const copy = (state: UnfinishedUpload): UnfinishedUpload => ({ ...state, claim: state.claim && { ...state.claim } });
  return {
    get: async (uploadId) => {
      const state = current(uploadId);
      return state && copy(state);
    },
    async create(state) {
      if (current(state.uploadId)) return false;
      states.set(state.uploadId, copy(state));
      return true;
    },
    async compareAndSetOffset(uploadId, expected, next) {
      const state = current(uploadId);
      if (!state || !sameWord(state, expected)) return false;
      states.set(uploadId, { ...state, offset: next.offset, claim: next.claim && { ...next.claim }, expiresAt: next.expiresAt });
      return true;
    },
    async delete(uploadId) {
      states.delete(uploadId);
    },
  };
};
