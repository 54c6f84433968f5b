/**
 * How one append holds an upload: it claims the upload's {@link OffsetWord} by compare-and-set, renews
 * the claim as bytes arrive, and releases it with the offset reached. Of two appends racing for one
 * upload, whichever process each runs in, one claim succeeds and the other append is refused with
 * `Conflict` before it touches the store. Decision 85.
 * @module
 */
import { onAbort } from '../core/abort.js';
import { type Clock, type TimerHandle, unrefTimer } from '../core/clock.js';
import { Failure, FaultError, fault } from '../core/failure.js';
import type { StoredEntry } from './media-store.js';
import type { OffsetWord, UploadStates } from './upload-states.js';

/**
 * How long a claim holds without renewal. It is renewed every third of it on the hub's clock while its
 * request lives (and as bytes arrive once half has passed), so only an append whose process died, or whose
 * state store was out of reach for this long, loses it. 15 s, as a node's lease: a node killed in the
 * middle of an upload blocks it (409 to other nodes) at most this long (decision 97).
 */
export const CLAIM_TTL_MS = 15_000;

/** Where the upload stands when its claim is released: its offset and last write, or gone (completed or removed). */
export type ClaimRelease = { readonly offset: number; readonly updatedAt: number } | 'gone';

/** A claim held by one append. */
export interface HeldClaim {
  /**
   * Aborted when the caller's signal aborts (with its reason) or the claim is lost (with `Conflict`, or
   * the failure of the state store): give it to the store's append.
   */
  readonly signal: AbortSignal;
  /** Why the claim was lost, if it was (the caller's abort is not a loss). */
  readonly lost: unknown;
  /**
   * Throws `Conflict` (and aborts `signal`) if the claim ran out on this hub's clock: from then another
   * append may have taken the upload over, so no further byte may reach the store. Call before each chunk.
   */
  assertHeld(): void;
  /** Bytes arrived: renews the claim in the background when half its TTL has passed. */
  progress(): void;
  /** Releases the claim, recording where the upload stands (waits for a renewal in flight). Idempotent. */
  release(at: ClaimRelease): Promise<void>;
}

/** What {@link claimUpload} needs of the hub. */
export interface ClaimContext {
  readonly uploads: UploadStates;
  readonly clock: Clock;
  /** How long an unfinished upload is kept since its last byte: the state's expiry. */
  readonly partialTtlMs: number;
  /** A token unique to this append. */
  readonly by: string;
  /** The caller's signal, chained (never aborted by us). */
  readonly signal?: AbortSignal | undefined;
}

/**
 * Claims a partial upload for one append. The state is created from the store's entry if there is none
 * (a new upload, or the first append after a restart: the store's offset is the durable one). Rejects
 * with `Conflict` when another append holds a live claim or wins the compare-and-set.
 */
export const claimUpload = async (entry: StoredEntry & { readonly state: 'partial' }, context: ClaimContext): Promise<HeldClaim> => {
  const { uploads, clock, partialTtlMs, by } = context;
  const id = entry.meta.mediaId;
  const busy = (): FaultError => fault(Failure.conflict(`upload ${id} is receiving bytes from another request`));
  let state = await uploads.get(id);
  if (!state) {
    await uploads.create({ uploadId: id, owner: entry.meta.uploader, size: entry.meta.size, offset: entry.offset, claim: null, expiresAt: entry.updatedAt + partialTtlMs });
    state = await uploads.get(id);
    // Completed or removed by another request between the two calls: a retry sees which.
    if (!state) throw fault(Failure.conflict(`upload ${id} changed while this request claimed it`));
  }
  const start = clock.now();
  if (state.claim && state.claim.until > start) throw busy();
  // The store's offset wins over the state's: the store holds the bytes (the state may be older than a crash).
  let word: OffsetWord = { offset: entry.offset, claim: { by, until: start + CLAIM_TTL_MS } };
  if (!(await uploads.compareAndSetOffset(id, state, { ...word, expiresAt: start + partialTtlMs }))) throw busy();

  const controller = new AbortController();
  const dispose = onAbort(context.signal, () => controller.abort(context.signal?.reason));
  let lost: unknown;
  const lose = (why: unknown): void => {
    lost = why;
    controller.abort(why);
  };
  let renewing: Promise<void> | undefined;
  let released: Promise<void> | undefined;
  let timer: TimerHandle | undefined;
  /**
   * Moves the claim's end to `CLAIM_TTL_MS` after `now`, by compare-and-set. Renewals run one after the
   * other, each with the time it was asked at (on a virtual clock several may be asked in one jump).
   */
  const renew = (now: number): void => {
    if (released || controller.signal.aborted) return;
    const previous = renewing ?? Promise.resolve();
    const current: Promise<void> = previous.then(async () => {
      if (released || controller.signal.aborted) return;
      const next: OffsetWord = { offset: word.offset, claim: { by, until: now + CLAIM_TTL_MS } };
      try {
        if (await uploads.compareAndSetOffset(id, word, { ...next, expiresAt: now + partialTtlMs })) word = next;
        else lose(fault(Failure.conflict(`upload ${id}: another request took it over while this one stalled`)));
      } catch (error) {
        lose(error instanceof FaultError ? error : fault(Failure.unknown(`renewing the claim on upload ${id} failed`), error));
      } finally {
        if (renewing === current) renewing = undefined;
      }
    });
    renewing = current;
  };
  // Renewed on the hub's clock while the request lives, bytes or not: only a dead process (or a state
  // store out of reach for a whole TTL) loses a claim; a client that stalls keeps it.
  const tick = (): void => {
    timer = clock.setTimeout(() => {
      if (released || controller.signal.aborted) return;
      renew(clock.now());
      tick();
    }, CLAIM_TTL_MS / 3);
    unrefTimer(timer);
  };
  tick();
  const stop = (): void => clock.clearTimeout(timer);
  controller.signal.addEventListener('abort', stop, { once: true });
  return {
    signal: controller.signal,
    get lost() {
      return lost;
    },
    assertHeld() {
      if (lost !== undefined) throw lost;
      if (clock.now() < (word.claim?.until ?? 0)) return;
      const expired = fault(Failure.conflict(`upload ${id}: this request could not renew its claim for ${CLAIM_TTL_MS} ms and lost it`));
      lose(expired);
      throw expired;
    },
    progress() {
      const now = clock.now();
      if (!renewing && now >= (word.claim?.until ?? 0) - CLAIM_TTL_MS / 2) renew(now);
    },
    release(at) {
      released ??= (async () => {
        stop();
        dispose();
        await renewing;
        if (at === 'gone') return uploads.delete(id);
        // `false` means the claim was taken over meanwhile: the taker owns the state now.
        await uploads.compareAndSetOffset(id, word, { offset: at.offset, claim: null, expiresAt: at.updatedAt + partialTtlMs });
      })();
      return released;
    },
  };
};
