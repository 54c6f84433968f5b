/**
 * The peers whose online status a session watches, as its transport keeps them: a fresh login (the
 * server restarted, or a node that did not know the session took the client) starts a session that
 * watches nobody, so the transport subscribes them again there, as it joins its channels again. Both
 * remote transports keep one; the memory transport never logs in afresh.
 * @module
 */
import type { Clock } from '../src/core/clock.js';
import { failureOf } from '../src/core/failure.js';
import { nextDelay } from '../machines/retry.js';
import { pause } from './pause.js';

/** Attempts of a renewed subscription the rate refused (`TooOften`) before the peers are forgotten. */
const RESUBSCRIBE_ATTEMPTS = 3;

/** What a transport keeps of its session's presence subscriptions. */
export interface WatchedPeers {
  /** The peers watched, in the order first subscribed. */
  readonly peerIds: readonly string[];
  /** A subscribe the server took: its peers are watched. */
  add(peerIds: readonly string[]): void;
  /** An unsubscribe the server took: its peers are not watched any more. */
  remove(peerIds: readonly string[]): void;
  /**
   * Subscribes every watched peer again through `subscribe`, on a fresh session. A refusal by the
   * subscription rate (`TooOften`) is waited out on `clock` (its `retryAfterMs`, bounded) and tried again,
   * at most {@link RESUBSCRIBE_ATTEMPTS} times in all; after any other failure, or the last attempt, the
   * peers are forgotten: the session does not watch them, and the transport says so by not pretending to.
   * Never rejects; stops when `signal` aborts.
   */
  resubscribe(subscribe: (peerIds: readonly string[]) => Promise<unknown>, clock: Clock, signal: AbortSignal): Promise<void>;
}

/** An empty set of watched peers. @example const watched = watchedPeers(); watched.add(['bob']) */
export const watchedPeers = (): WatchedPeers => {
  // A Set keeps insertion order; its size is bounded by the server, which refuses a subscription past 512.
  const watched = new Set<string>();
  return {
    get peerIds() {
      return [...watched];
    },
    add(peerIds) {
      for (const peerId of peerIds) watched.add(peerId);
    },
    remove(peerIds) {
      for (const peerId of peerIds) watched.delete(peerId);
    },
    async resubscribe(subscribe, clock, signal) {
      const peerIds = [...watched];
      if (peerIds.length === 0) return;
      for (let attempt = 1; !signal.aborted; attempt++) {
        try {
          await subscribe(peerIds);
          return;
        } catch (error) {
          const failure = failureOf(error);
          if (failure._tag !== 'TooOften' || attempt >= RESUBSCRIBE_ATTEMPTS || signal.aborted) break;
          const waited = await pause(clock, nextDelay(attempt, undefined, failure.retryAfterMs), signal).then(
            () => true,
            () => false,
          );
          if (!waited) return;
        }
      }
      // Not watched on this session: forgotten, as a channel not rejoined is.
      for (const peerId of peerIds) watched.delete(peerId);
    },
  };
};
