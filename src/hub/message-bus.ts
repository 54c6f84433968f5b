/**
 * The message bus: who is online, who is in which channel, and the numbered deliveries of each session.
 * The hub decides every rule and then asks the bus to carry out what it decided; the bus decides nothing
 * but what must be atomic where its state lives (one session per user, at most `maxChannels` channels per
 * session). Everything crossing it is wire data (numbers, strings, JSON-safe messages), so a bus whose
 * state lives outside the process (Redis streams, the next issue) has the same interface as
 * {@link memoryBus}, the default. Contract: `spec/contract/bus-contract.ts`; decision 84.
 * @module
 */
import { Observable, type Subscriber } from 'rxjs';
import { Failure, fault } from '../core/failure.js';
import type { WireMessage } from '../protocol/codec.js';

/** What the hub tells a session. */
export type HubEvent =
  | { readonly type: 'peerMessage'; readonly peerId: string; readonly message: WireMessage; readonly serverReceivedTs: number }
  | {
      readonly type: 'channelMessage';
      readonly channelId: string;
      readonly memberId: string;
      readonly message: WireMessage;
      readonly serverReceivedTs: number;
    }
  | { readonly type: 'memberJoined'; readonly channelId: string; readonly userId: string }
  | { readonly type: 'memberLeft'; readonly channelId: string; readonly userId: string }
  /** The hub ended the session; `cause` says why as data (optional on the wire, for older peers). */
  | { readonly type: 'aborted'; readonly reason: string; readonly cause?: HubAbortCause };

/** Why the hub ends a session: the same user logged in elsewhere, or the token expired without renewal. */
export type HubAbortCause = 'REMOTE_LOGIN' | 'TOKEN_EXPIRED' | 'BANNED_BY_SERVER';

/**
 * One event as delivered to one session: `seq` numbers the session's deliveries 1, 2, 3, … in the order
 * the session receives them (a Redis bus may keep them in a stream with explicit IDs `0-<seq>`).
 */
export interface Delivery {
  readonly seq: number;
  readonly event: HubEvent;
}

/** A session as the bus knows it. `sessionId` is unique across every process sharing the bus. */
export interface BusSession {
  readonly sessionId: number;
  readonly userId: string;
}

/**
 * What {@link MessageBus.join} did: `joined`; `member` (already in it); `full` (already in `maxChannels`
 * channels); `closed` (the session is not open).
 */
export type JoinOutcome = 'joined' | 'member' | 'full' | 'closed';

/**
 * The message bus. Every method may reject (a bus across the network can fail); none validates its
 * arguments, which the hub has checked. Messages are wire JSON: the bus may hand one object to several
 * receivers, and nobody mutates what crossed it.
 */
export interface MessageBus {
  /**
   * Opens a session for `userId`, served by `owner` (the hub that opens it: in a cluster, one node; default
   * `''`). The user's previous session, wherever it was opened, is told `aborted` (cause `REMOTE_LOGIN`) and
   * then ends as by {@link MessageBus.close}.
   */
  open(userId: string, owner?: string): Promise<BusSession>;
  /**
   * Moves an open session of `userId` to `owner` (its client came back through another node): from now on
   * only `owner` may close it by {@link MessageBus.close} with an owner, and the deliveries subscribed by
   * any other owner complete (the session moved; it did not end). Resolves `false` when the session is not
   * open or is not `userId`'s.
   */
  resume(sessionId: number, userId: string, owner: string): Promise<boolean>;
  /**
   * Ends a session: it leaves its channels (their other members are told `memberLeft`) and its
   * deliveries complete. With `owner`, only if the session is still that owner's (a node whose client
   * left for another node does not end it there). Resolves with whether it ended it; idempotent.
   */
  close(sessionId: number, owner?: string): Promise<boolean>;
  /** Tells the session `aborted` with `cause` and `reason`, then ends it as `close`. Idempotent. */
  abort(sessionId: number, cause: HubAbortCause, reason: string): Promise<boolean>;
  /**
   * The deliveries of a session numbered above `after` (default 0: all): first those the bus still keeps,
   * then each as it happens; completes when the session ends. A session the bus no longer knows completes
   * at once. If deliveries above `after` were already dropped, the stream errors with `Conflict` (the
   * caller starts afresh) rather than skipping them silently. With `owner`, it also completes when the
   * session is, or comes to be, another owner's ({@link MessageBus.resume}).
   */
  deliveries(sessionId: number, after?: number, owner?: string): Observable<Delivery>;
  /** Delivers `peerMessage` from `fromUserId` to the open session of `userId`; resolves `false` if none. */
  toUser(fromUserId: string, userId: string, message: WireMessage, serverReceivedTs: number): Promise<boolean>;
  /**
   * Delivers `channelMessage` to every other member of the channel; resolves with how many received it,
   * or `false` when the sender's session is not in the channel.
   */
  toChannel(fromSessionId: number, channelId: string, message: WireMessage, serverReceivedTs: number): Promise<number | false>;
  /**
   * Adds the session to a channel unless it is in it already or in `maxChannels` channels (checked and
   * changed at once); the other members are told `memberJoined`.
   */
  join(sessionId: number, channelId: string, maxChannels: number): Promise<JoinOutcome>;
  /** Removes the session from a channel (the others are told `memberLeft`); `false` if it was not in it. */
  leave(sessionId: number, channelId: string): Promise<boolean>;
  /** The channels a session is in, or `undefined` when it is not open. */
  channelsOf(sessionId: number): Promise<readonly string[] | undefined>;
  /** Whether a session is in a channel. */
  inChannel(sessionId: number, channelId: string): Promise<boolean>;
  /** The user IDs in a channel, sorted, or `undefined` when the asking session is not in it. */
  members(sessionId: number, channelId: string): Promise<readonly string[] | undefined>;
  /** Whether a user has an open session. */
  isOnline(userId: string): Promise<boolean>;
}

/** Options of {@link memoryBus}. */
export interface MemoryBusOptions {
  /**
   * Deliveries kept per open session for a subscriber that resumes with `after`. An ended session keeps
   * only its last delivery (the `aborted`, if it was aborted), for the last 16 ended sessions, so a
   * subscriber that comes a moment late still learns why. Messages are up to 32 KiB, so a session holds at
   * most about `replayLimit × 44 KiB` here (base64 included). Default: 4. @example memoryBus({ replayLimit: 64 })
   */
  readonly replayLimit?: number;
}

/** Ended sessions whose last delivery is kept. */
const ENDED_KEPT = 16;

interface Entry {
  readonly session: BusSession;
  owner: string;
  readonly channels: Set<string>;
  /** The last `replayLimit` deliveries, oldest first. */
  readonly kept: Delivery[];
  /** Each subscriber, with the owner it subscribed for (`undefined`: any). */
  readonly subscribers: Map<Subscriber<Delivery>, string | undefined>;
  seq: number;
  ended: boolean;
}

/**
 * The in-process bus: the default of `createHub`. Several hubs in one process may share one, as several
 * processes share a Redis bus. Deliveries are synchronous: a receiver has its event before the send
 * resolves.
 * @example const bus = memoryBus(); const a = createHub({ bus }); const b = createHub({ bus });
 */
export const memoryBus = (options: MemoryBusOptions = {}): MessageBus => {
  const replayLimit = options.replayLimit ?? 4;
  if (!(Number.isSafeInteger(replayLimit) && replayLimit >= 1)) throw new RangeError(`replayLimit must be a positive integer, got ${String(replayLimit)}`);
  let nextSessionId = 1;
  const byUser = new Map<string, Entry>();
  const bySession = new Map<number, Entry>();
  const channels = new Map<string, Set<Entry>>();
  /** Ended sessions whose last deliveries are kept, oldest first (a Map keeps insertion order). */
  const ended = new Map<number, Entry>();

  const deliver = (entry: Entry, event: HubEvent): void => {
    const delivery: Delivery = { seq: ++entry.seq, event };
    entry.kept.push(delivery);
    if (entry.kept.length > replayLimit) entry.kept.shift();
    for (const subscriber of [...entry.subscribers.keys()]) subscriber.next(delivery);
  };
  const broadcast = (channelId: string, except: Entry, event: HubEvent): number => {
    let receivers = 0;
    for (const member of channels.get(channelId) ?? []) {
      if (member === except) continue;
      deliver(member, event);
      receivers++;
    }
    return receivers;
  };
  const leaveChannel = (entry: Entry, channelId: string): void => {
    const members = channels.get(channelId);
    members?.delete(entry);
    if (members?.size === 0) channels.delete(channelId);
    entry.channels.delete(channelId);
    broadcast(channelId, entry, { type: 'memberLeft', channelId, userId: entry.session.userId });
  };
  const end = (entry: Entry): void => {
    bySession.delete(entry.session.sessionId);
    if (byUser.get(entry.session.userId) === entry) byUser.delete(entry.session.userId);
    for (const channelId of [...entry.channels]) leaveChannel(entry, channelId);
    entry.ended = true;
    entry.kept.splice(0, entry.kept.length - 1);
    ended.set(entry.session.sessionId, entry);
    for (const first of ended.keys()) {
      if (ended.size <= ENDED_KEPT) break;
      ended.delete(first);
    }
    for (const subscriber of [...entry.subscribers.keys()]) subscriber.complete();
    entry.subscribers.clear();
  };
  const abort = (entry: Entry, cause: HubAbortCause, reason: string): void => {
    deliver(entry, { type: 'aborted', reason, cause });
    end(entry);
  };

  return {
    async open(userId, owner = '') {
      const previous = byUser.get(userId);
      if (previous) abort(previous, 'REMOTE_LOGIN', 'the same user logged in elsewhere');
      const session: BusSession = { sessionId: nextSessionId++, userId };
      const entry: Entry = { session, owner, channels: new Set(), kept: [], subscribers: new Map(), seq: 0, ended: false };
      byUser.set(userId, entry);
      bySession.set(session.sessionId, entry);
      return session;
    },
    async resume(sessionId, userId, owner) {
      const entry = bySession.get(sessionId);
      if (entry?.session.userId !== userId) return false;
      entry.owner = owner;
      for (const [subscriber, by] of [...entry.subscribers]) {
        if (by === undefined || by === owner) continue;
        entry.subscribers.delete(subscriber);
        subscriber.complete();
      }
      return true;
    },
    async close(sessionId, owner) {
      const entry = bySession.get(sessionId);
      if (!entry || (owner !== undefined && entry.owner !== owner)) return false;
      end(entry);
      return true;
    },
    async abort(sessionId, cause, reason) {
      const entry = bySession.get(sessionId);
      if (entry) abort(entry, cause, reason);
      return entry !== undefined;
    },
    deliveries: (sessionId, after = 0, owner) =>
      new Observable<Delivery>((subscriber) => {
        const entry = bySession.get(sessionId) ?? ended.get(sessionId);
        if (!entry || (owner !== undefined && !entry.ended && entry.owner !== owner)) return subscriber.complete();
        const oldest = entry.kept[0]?.seq ?? entry.seq + 1;
        if (after < oldest - 1) {
          return subscriber.error(fault(Failure.conflict(`deliveries ${after + 1} to ${oldest - 1} of session ${sessionId} are no longer kept`)));
        }
        for (const delivery of entry.kept) if (delivery.seq > after) subscriber.next(delivery);
        if (entry.ended) return subscriber.complete();
        entry.subscribers.set(subscriber, owner);
        return () => entry.subscribers.delete(subscriber);
      }),
    async toUser(fromUserId, userId, message, serverReceivedTs) {
      const peer = byUser.get(userId);
      if (!peer) return false;
      deliver(peer, { type: 'peerMessage', peerId: fromUserId, message, serverReceivedTs });
      return true;
    },
    async toChannel(fromSessionId, channelId, message, serverReceivedTs) {
      const entry = bySession.get(fromSessionId);
      if (!entry?.channels.has(channelId)) return false;
      return broadcast(channelId, entry, { type: 'channelMessage', channelId, memberId: entry.session.userId, message, serverReceivedTs });
    },
    async join(sessionId, channelId, maxChannels) {
      const entry = bySession.get(sessionId);
      if (!entry) return 'closed';
      if (entry.channels.has(channelId)) return 'member';
      if (entry.channels.size >= maxChannels) return 'full';
      const members = channels.get(channelId) ?? new Set<Entry>();
      channels.set(channelId, members);
      broadcast(channelId, entry, { type: 'memberJoined', channelId, userId: entry.session.userId });
      members.add(entry);
      entry.channels.add(channelId);
      return 'joined';
    },
    async leave(sessionId, channelId) {
      const entry = bySession.get(sessionId);
      if (!entry?.channels.has(channelId)) return false;
      leaveChannel(entry, channelId);
      return true;
    },
    channelsOf: async (sessionId) => {
      const entry = bySession.get(sessionId);
      return entry && [...entry.channels];
    },
    inChannel: async (sessionId, channelId) => bySession.get(sessionId)?.channels.has(channelId) ?? false,
    async members(sessionId, channelId) {
      const entry = bySession.get(sessionId);
      if (!entry?.channels.has(channelId)) return undefined;
      return [...(channels.get(channelId) ?? [])].map((member) => member.session.userId).sort();
    },
    isOnline: async (userId) => byUser.has(userId),
  };
};
