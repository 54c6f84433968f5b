/**
 * The message bus: who is online, who is in which channel, and the numbered deliveries of each session.
 * The hub decides every rule and then asks the bus to carry out what it decided; the bus decides nothing
 * but what must be atomic where its state lives (one session per user, at most `maxChannels` channels per
 * session). Everything crossing it is wire data (numbers, strings, JSON-safe messages), so a bus whose
 * state lives outside the process (Redis streams, the next issue) has the same interface as
 * {@link memoryBus}, the default. Contract: `spec/contract/bus-contract.ts`; decision 84.
 * @module
 */
import { Observable, type Unsubscribable } from 'rxjs';
import { Failure, fault } from '../core/failure.js';
import { MESSAGE_IDS_PER_SENDER, OFFLINE_MESSAGES_PER_RECEIVER } from '../core/limits.js';
import type { PeerOnlineState } from '../core/states.js';
import type { WireMessage } from '../protocol/codec.js';

export type { PeerOnlineState } from '../core/states.js';

/** What the hub tells a session. */
export type HubEvent =
  | {
      readonly type: 'peerMessage';
      readonly peerId: string;
      readonly message: WireMessage;
      readonly serverReceivedTs: number;
      /** The sender's ID of the message: a send retried with it is delivered once. */
      readonly messageId: string;
      /** Present when the message was kept for the receiver while it was offline. */
      readonly isOfflineMessage?: true;
    }
  | {
      readonly type: 'channelMessage';
      readonly channelId: string;
      readonly memberId: string;
      readonly message: WireMessage;
      readonly serverReceivedTs: number;
      readonly messageId: string;
    }
  /** `memberCount`: the channel's members right after the change, this one included. */
  | { readonly type: 'memberJoined'; readonly channelId: string; readonly userId: string; readonly memberCount: number }
  | { readonly type: 'memberLeft'; readonly channelId: string; readonly userId: string; readonly memberCount: number }
  /** A watched user's online status changed, or is told once as it is when the watch begins. */
  | { readonly type: 'presence'; readonly userId: string; readonly state: PeerOnlineState }
  /** The hub ended the session; `cause` says why as data (optional on the wire, for older peers). */
  | { readonly type: 'aborted'; readonly reason: string; readonly cause?: HubAbortCause };

/** How a peer message is sent: its ID, and whether and how long to keep it for a receiver who is offline. */
export interface PeerSend {
  /** The sender's ID of the message. A send with an ID of the same sender seen within its window delivers nothing again. */
  readonly messageId: string;
  /** How long the ID is remembered from this send (ms), at most `MESSAGE_IDS_PER_SENDER` per sender. */
  readonly rememberMs: number;
  /**
   * Keep the message for a receiver with no session: until `expiresAt` (on the caller's clock), the newest
   * `OFFLINE_MESSAGES_PER_RECEIVER` per receiver, at most `perSender` of this sender's kept at once.
   */
  readonly offline?: { readonly expiresAt: number; readonly perSender: number };
}

/**
 * What {@link MessageBus.toUser} did: `delivered` to the receiver's session, or `cached` for it while it is
 * offline (a send whose ID was seen gets the first send's outcome and time); `unreachable`: no session and
 * not kept; `full`: not kept, as the sender already has `perSender` messages kept.
 */
export type PeerSendOutcome =
  | { readonly outcome: 'delivered' | 'cached'; readonly serverReceivedTs: number }
  | { readonly outcome: 'unreachable' | 'full' };

/** What {@link MessageBus.toChannel} did: how many received it and when (those of the first send, for a repeated ID). */
export interface ChannelSendOutcome {
  readonly receivers: number;
  readonly serverReceivedTs: number;
}

/** What {@link MessageBus.watch} did: `watching`; `full` (nothing added: it would pass `max`); `closed`. */
export type WatchOutcome = 'watching' | 'full' | 'closed';

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
  /**
   * Optional: {@link MessageBus.deliveries}, handed to `observer` as they are to a subscriber, for an
   * observer that stays as long as the session (a hub serving it), without an RxJS subscription: a
   * subscriber, its observer and finalizers cost several hundred bytes for every logged-in session
   * (decision 134). `unsubscribe` on what it returns stops them; after `complete` or `error`, nothing
   * comes. A bus without it is followed through `deliveries`; a bus that wraps another and changes
   * `deliveries` must change or leave out `follow` too.
   */
  follow?(sessionId: number, after: number, owner: string | undefined, observer: DeliveryObserver): Unsubscribable;
  /**
   * Delivers `peerMessage` from `fromUserId` to the open session of `userId`, or, with `send.offline` and
   * no session, keeps it for the user until {@link MessageBus.takeOffline} delivers it. A `send.messageId`
   * of the same sender seen within its window delivers nothing and answers as the first send did.
   * Checked and done at once.
   */
  toUser(fromUserId: string, userId: string, message: WireMessage, serverReceivedTs: number, send: PeerSend): Promise<PeerSendOutcome>;
  /**
   * Delivers `channelMessage` to every other member of the channel; resolves with how many received it,
   * or `false` when the sender's session is not in the channel. A `messageId` of the same sender seen within
   * `rememberMs` delivers nothing and answers as the first send did.
   */
  toChannel(
    fromSessionId: number,
    channelId: string,
    message: WireMessage,
    serverReceivedTs: number,
    send: { readonly messageId: string; readonly rememberMs: number },
  ): Promise<ChannelSendOutcome | false>;
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
  /** How many sessions are in each channel (0 for one nobody is in), in the order asked. */
  memberCounts(channelIds: readonly string[]): Promise<readonly number[]>;
  /**
   * Delivers to an open session the oldest messages kept for its user while offline (`peerMessage` with
   * `isOfflineMessage`), in the order sent, up to `limit.messages` of them and, after the first, as long as
   * their messages' JSON stays within `limit.bytes`; expired ones (by `now`) are dropped. Resolves with how
   * many are still kept for the user (0: none left). The caller paces the batches (a server takes the next
   * when its client has read the last), so no buffer between the bus and a client need hold 200 at once.
   * A session that is not open takes nothing.
   */
  takeOffline(sessionId: number, now: number, limit: { readonly messages: number; readonly bytes: number }): Promise<number>;
  /** Whether a user has an open session. */
  isOnline(userId: string): Promise<boolean>;
  /** Each user's online status, in the order asked. */
  presence(userIds: readonly string[]): Promise<readonly PeerOnlineState[]>;
  /**
   * Records whether an open session's link is up (sessions open with it up). When its user's status
   * changes, every session watching the user is told `presence`. A session that is not open is ignored.
   */
  setReachable(sessionId: number, reachable: boolean): Promise<void>;
  /**
   * Makes the session watch the users (it is told `presence` whenever their status changes) unless it
   * would then watch more than `max` (checked and changed at once); then tells it each one's status now,
   * in the order given. Watches end with the session.
   */
  watch(sessionId: number, userIds: readonly string[], max: number): Promise<WatchOutcome>;
  /** Stops the session watching the users; users it did not watch are ignored. */
  unwatch(sessionId: number, userIds: readonly string[]): Promise<void>;
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

/** Sends between two prunes of every sender's remembered message IDs, at least (amortized, as `RateLimiter`). */
const PRUNE_EVERY = 1_024;

/** What {@link MessageBus.follow} hands a session's deliveries to: an RxJS observer's three methods. */
export interface DeliveryObserver {
  next(delivery: Delivery): void;
  error(error: unknown): void;
  complete(): void;
}

/**
 * A follower of a session's deliveries, with the owner it followed for (`undefined`: any); it is also
 * what stops it, so following costs this one object (decision 134).
 */
class Subscribed implements Unsubscribable {
  /**
   * Unsubscribed or completed: handed nothing more, also by a delivery under way whose list still has it
   * (a list is replaced, never changed in place).
   */
  stopped = false;

  constructor(
    private readonly observer: DeliveryObserver,
    readonly owner: string | undefined,
    private readonly entry: Entry,
  ) {}

  unsubscribe(): void {
    this.stopped = true;
    this.entry.subscribers = this.entry.subscribers.filter((other) => other !== this);
  }

  next(delivery: Delivery): void {
    if (!this.stopped) this.observer.next(delivery);
  }

  complete(): void {
    if (this.stopped) return;
    this.stopped = true;
    this.observer.complete();
  }
}

/** What a follow that ended at once returns: nothing to stop. */
const STOPPED: Unsubscribable = { unsubscribe: () => undefined };

/** No subscribers: shared by every entry until its first (a list is replaced, never changed in place). */
const NO_SUBSCRIBERS: readonly Subscribed[] = [];

/**
 * A session as the bus keeps it. What a session that never joins or watches does not need is made when
 * first needed, and its subscribers are a list replaced on change rather than a `Map` (decision 119):
 * this record is kept for every logged-in session.
 */
interface Entry {
  readonly session: BusSession;
  owner: string;
  /** Its channels; `undefined` until it joins one. */
  channels: Set<string> | undefined;
  /** The last `replayLimit` deliveries, oldest first. */
  readonly kept: Delivery[];
  /**
   * Its subscribers (one but for a moment: its hub resuming it), replaced, never changed in place, so a
   * delivery goes to the list as it was when it began.
   */
  subscribers: readonly Subscribed[];
  seq: number;
  ended: boolean;
  /** Whether its link is up (`setReachable`). */
  reachable: boolean;
  /** The users it watches; `undefined` until it watches one. */
  watching: Set<string> | undefined;
}

/** A message kept for an offline receiver. */
interface Kept {
  readonly from: string;
  readonly message: WireMessage;
  readonly serverReceivedTs: number;
  readonly messageId: string;
  readonly expiresAt: number;
  /** Until delivered, replaced or expired. */
  alive: boolean;
  /** The message's JSON length, for the batches of `takeOffline`. */
  readonly bytes: number;
}

/** What one sender has kept for offline receivers: `live` counted exactly, `queue` oldest first (with dead ones, compacted). */
interface Holding {
  live: number;
  queue: Kept[];
}

/** An answer remembered for a sender's message ID, until `until`. */
interface Remembered {
  readonly until: number;
  readonly answer: PeerSendOutcome | ChannelSendOutcome;
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
  /** The sessions watching each user. */
  const watchers = new Map<string, Set<Entry>>();
  /** Offline messages per receiver, oldest first, at most `OFFLINE_MESSAGES_PER_RECEIVER` alive. */
  const inboxes = new Map<string, Kept[]>();
  const holdings = new Map<string, Holding>();
  /**
   * Each sender's remembered message IDs, oldest first, keyed `p <id>` for peer sends and `c <id>` for
   * channel sends: an ID reused across the two kinds names two sends (neither answers for the other).
   */
  const sent = new Map<string, Map<string, Remembered>>();
  let sends = 0;
  let nextPrune = PRUNE_EVERY;

  const deliver = (entry: Entry, event: HubEvent): void => {
    const delivery: Delivery = { seq: ++entry.seq, event };
    entry.kept.push(delivery);
    if (entry.kept.length > replayLimit) entry.kept.shift();
    // The list as it is now: one replaced by a `next` (a subscriber added, which had this delivery from
    // `kept`) does not change who is handed this one.
    for (const subscribed of entry.subscribers) subscribed.next(delivery);
  };
  const stateOf = (userId: string): PeerOnlineState => {
    const entry = byUser.get(userId);
    return entry === undefined ? 'OFFLINE' : entry.reachable ? 'ONLINE' : 'UNREACHABLE';
  };
  /** Tells the user's watchers its status, if it is not `before` any more. */
  const told = (userId: string, before: PeerOnlineState): void => {
    const state = stateOf(userId);
    if (state === before) return;
    for (const watcher of [...(watchers.get(userId) ?? [])]) deliver(watcher, { type: 'presence', userId, state });
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
    entry.channels?.delete(channelId);
    broadcast(channelId, entry, { type: 'memberLeft', channelId, userId: entry.session.userId, memberCount: members?.size ?? 0 });
  };
  const end = (entry: Entry): void => {
    const { userId } = entry.session;
    const before = stateOf(userId);
    bySession.delete(entry.session.sessionId);
    if (byUser.get(userId) === entry) byUser.delete(userId);
    for (const channelId of [...(entry.channels ?? [])]) leaveChannel(entry, channelId);
    for (const watched of entry.watching ?? []) {
      const set = watchers.get(watched);
      set?.delete(entry);
      if (set?.size === 0) watchers.delete(watched);
    }
    entry.watching = undefined;
    entry.ended = true;
    entry.kept.splice(0, entry.kept.length - 1);
    ended.set(entry.session.sessionId, entry);
    for (const first of ended.keys()) {
      if (ended.size <= ENDED_KEPT) break;
      ended.delete(first);
    }
    const subscribers = entry.subscribers;
    entry.subscribers = NO_SUBSCRIBERS;
    for (const subscribed of subscribers) subscribed.complete();
    told(userId, before);
  };
  const follow = (sessionId: number, after: number, owner: string | undefined, observer: DeliveryObserver): Unsubscribable => {
    const entry = bySession.get(sessionId) ?? ended.get(sessionId);
    if (!entry || (owner !== undefined && !entry.ended && entry.owner !== owner)) {
      observer.complete();
      return STOPPED;
    }
    const oldest = entry.kept[0]?.seq ?? entry.seq + 1;
    if (after < oldest - 1) {
      observer.error(fault(Failure.conflict(`deliveries ${after + 1} to ${oldest - 1} of session ${sessionId} are no longer kept`)));
      return STOPPED;
    }
    for (const delivery of entry.kept) if (delivery.seq > after) observer.next(delivery);
    if (entry.ended) {
      observer.complete();
      return STOPPED;
    }
    const subscribed = new Subscribed(observer, owner, entry);
    // A list of exactly its length (a spread or a push into an empty array reserves 17 slots).
    entry.subscribers = entry.subscribers.length === 0 ? [subscribed] : [...entry.subscribers, subscribed];
    return subscribed;
  };
  const abort = (entry: Entry, cause: HubAbortCause, reason: string): void => {
    deliver(entry, { type: 'aborted', reason, cause });
    end(entry);
  };

  /** The first answer to a sender's message ID, if it is remembered at `now`. */
  const recall = (userId: string, messageId: string, now: number): Remembered['answer'] | undefined => {
    const remembered = sent.get(userId)?.get(messageId);
    return remembered !== undefined && remembered.until > now ? remembered.answer : undefined;
  };
  const forgetExpired = (ids: Map<string, Remembered>, now: number): void => {
    for (const [id, remembered] of ids) {
      if (remembered.until > now) break;
      ids.delete(id);
    }
  };
  const remember = (userId: string, messageId: string, until: number, answer: Remembered['answer'], now: number): void => {
    let ids = sent.get(userId);
    if (!ids) {
      ids = new Map();
      sent.set(userId, ids);
    }
    ids.delete(messageId);
    ids.set(messageId, { until, answer });
    forgetExpired(ids, now);
    for (const first of ids.keys()) {
      if (ids.size <= MESSAGE_IDS_PER_SENDER) break;
      ids.delete(first);
    }
    // Senders who stopped sending are forgotten now and then, so the map holds only recent senders.
    if (++sends < nextPrune) return;
    sends = 0;
    for (const [user, theirs] of sent) {
      forgetExpired(theirs, now);
      if (theirs.size === 0) sent.delete(user);
    }
    nextPrune = Math.max(PRUNE_EVERY, sent.size);
  };

  /** Marks a kept message gone (delivered, replaced or expired) and releases it from its sender's count. */
  const release = (kept: Kept): void => {
    if (!kept.alive) return;
    kept.alive = false;
    const holding = holdings.get(kept.from);
    if (holding) holding.live--;
  };
  /** The sender's holding at `now`: expired messages at its front released, dead ones compacted away. */
  const holdingOf = (userId: string, now: number): Holding => {
    let holding = holdings.get(userId);
    if (!holding) {
      holding = { live: 0, queue: [] };
      holdings.set(userId, holding);
    }
    let drop = 0;
    for (const kept of holding.queue) {
      if (kept.alive && kept.expiresAt > now) break;
      release(kept);
      drop++;
    }
    if (drop > 0) holding.queue.splice(0, drop);
    if (holding.queue.length > 2 * holding.live + 16) holding.queue = holding.queue.filter((kept) => kept.alive);
    return holding;
  };
  const forgetHolding = (userId: string): void => {
    const holding = holdings.get(userId);
    if (holding?.live === 0) holdings.delete(userId);
  };
  /** Keeps a message for an offline receiver; the oldest of the receiver's goes beyond the limit. */
  const keep = (userId: string, kept: Kept, holding: Holding, now: number): void => {
    // Counted first: when the oldest that goes is the sender's own last one, its holding (in the map, with
    // this message in it) must not be forgotten, or the sender's next sends would count from zero.
    holding.live++;
    holding.queue.push(kept);
    const inbox = (inboxes.get(userId) ?? []).filter((old) => old.alive && old.expiresAt > now);
    inboxes.set(userId, inbox);
    while (inbox.length >= OFFLINE_MESSAGES_PER_RECEIVER) {
      const oldest = inbox.shift() as Kept;
      release(oldest);
      forgetHolding(oldest.from);
    }
    inbox.push(kept);
  };
  /** Delivers the oldest of a user's kept messages to its session, as `takeOffline` says; answers how many are left. */
  const deliverKept = (entry: Entry, now: number, limit: { readonly messages: number; readonly bytes: number }): number => {
    const { userId } = entry.session;
    const inbox = inboxes.get(userId);
    if (!inbox) return 0;
    let delivered = 0;
    let bytes = 0;
    let taken = 0;
    for (const kept of inbox) {
      if (kept.alive && kept.expiresAt > now) {
        if (delivered >= limit.messages || (delivered > 0 && bytes + kept.bytes > limit.bytes)) break;
        delivered++;
        bytes += kept.bytes;
        const { from: peerId, message, serverReceivedTs, messageId } = kept;
        deliver(entry, { type: 'peerMessage', peerId, message, serverReceivedTs, messageId, isOfflineMessage: true });
      }
      release(kept);
      forgetHolding(kept.from);
      taken++;
    }
    inbox.splice(0, taken);
    const left = inbox.filter((kept) => kept.alive && kept.expiresAt > now).length;
    if (left === 0) inboxes.delete(userId);
    return left;
  };

  return {
    async open(userId, owner = '') {
      const before = stateOf(userId);
      const previous = byUser.get(userId);
      if (previous) {
        deliver(previous, { type: 'aborted', reason: 'the same user logged in elsewhere', cause: 'REMOTE_LOGIN' });
        // Replaced, not gone: watchers hear of the new session's status only, below.
        byUser.delete(userId);
        end(previous);
      }
      const session: BusSession = { sessionId: nextSessionId++, userId };
      const entry: Entry = {
        session,
        owner,
        channels: undefined,
        kept: [],
        subscribers: NO_SUBSCRIBERS,
        seq: 0,
        ended: false,
        reachable: true,
        watching: undefined,
      };
      byUser.set(userId, entry);
      bySession.set(session.sessionId, entry);
      told(userId, before);
      return session;
    },
    async resume(sessionId, userId, owner) {
      const entry = bySession.get(sessionId);
      if (entry?.session.userId !== userId) return false;
      entry.owner = owner;
      const others = entry.subscribers.filter(({ owner: by }) => by !== undefined && by !== owner);
      if (others.length > 0) entry.subscribers = entry.subscribers.filter((subscribed) => !others.includes(subscribed));
      for (const subscribed of others) subscribed.complete();
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
    deliveries: (sessionId, after = 0, owner) => new Observable<Delivery>((subscriber) => follow(sessionId, after, owner, subscriber)),
    follow,
    async toUser(fromUserId, userId, message, serverReceivedTs, send) {
      const { messageId, rememberMs, offline } = send;
      const first = recall(fromUserId, `p ${messageId}`, serverReceivedTs);
      if (first) return first as PeerSendOutcome;
      const peer = byUser.get(userId);
      let answer: PeerSendOutcome;
      if (peer) {
        deliver(peer, { type: 'peerMessage', peerId: fromUserId, message, serverReceivedTs, messageId });
        answer = { outcome: 'delivered', serverReceivedTs };
      } else {
        if (!offline) return { outcome: 'unreachable' };
        const holding = holdingOf(fromUserId, serverReceivedTs);
        if (holding.live >= offline.perSender) return { outcome: 'full' };
        const kept: Kept = { from: fromUserId, message, serverReceivedTs, messageId, expiresAt: offline.expiresAt, alive: true, bytes: JSON.stringify(message).length };
        keep(userId, kept, holding, serverReceivedTs);
        answer = { outcome: 'cached', serverReceivedTs };
      }
      remember(fromUserId, `p ${messageId}`, serverReceivedTs + rememberMs, answer, serverReceivedTs);
      return answer;
    },
    async toChannel(fromSessionId, channelId, message, serverReceivedTs, { messageId, rememberMs }) {
      const entry = bySession.get(fromSessionId);
      if (entry?.channels?.has(channelId) !== true) return false;
      const memberId = entry.session.userId;
      const first = recall(memberId, `c ${messageId}`, serverReceivedTs);
      if (first) return first as ChannelSendOutcome;
      const receivers = broadcast(channelId, entry, { type: 'channelMessage', channelId, memberId, message, serverReceivedTs, messageId });
      const answer: ChannelSendOutcome = { receivers, serverReceivedTs };
      remember(memberId, `c ${messageId}`, serverReceivedTs + rememberMs, answer, serverReceivedTs);
      return answer;
    },
    async join(sessionId, channelId, maxChannels) {
      const entry = bySession.get(sessionId);
      if (!entry) return 'closed';
      if (entry.channels?.has(channelId) === true) return 'member';
      if ((entry.channels?.size ?? 0) >= maxChannels) return 'full';
      const members = channels.get(channelId) ?? new Set<Entry>();
      channels.set(channelId, members);
      broadcast(channelId, entry, { type: 'memberJoined', channelId, userId: entry.session.userId, memberCount: members.size + 1 });
      members.add(entry);
      (entry.channels ??= new Set()).add(channelId);
      return 'joined';
    },
    async leave(sessionId, channelId) {
      const entry = bySession.get(sessionId);
      if (entry?.channels?.has(channelId) !== true) return false;
      leaveChannel(entry, channelId);
      return true;
    },
    channelsOf: async (sessionId) => {
      const entry = bySession.get(sessionId);
      return entry && [...(entry.channels ?? [])];
    },
    inChannel: async (sessionId, channelId) => bySession.get(sessionId)?.channels?.has(channelId) ?? false,
    async members(sessionId, channelId) {
      const entry = bySession.get(sessionId);
      if (entry?.channels?.has(channelId) !== true) return undefined;
      return [...(channels.get(channelId) ?? [])].map((member) => member.session.userId).sort();
    },
    memberCounts: async (channelIds) => channelIds.map((channelId) => channels.get(channelId)?.size ?? 0),
    async takeOffline(sessionId, now, limit) {
      const entry = bySession.get(sessionId);
      return entry ? deliverKept(entry, now, limit) : 0;
    },
    isOnline: async (userId) => byUser.has(userId),
    presence: async (userIds) => userIds.map(stateOf),
    async setReachable(sessionId, reachable) {
      const entry = bySession.get(sessionId);
      if (!entry || entry.reachable === reachable) return;
      const before = stateOf(entry.session.userId);
      entry.reachable = reachable;
      told(entry.session.userId, before);
    },
    async watch(sessionId, userIds, max) {
      const entry = bySession.get(sessionId);
      if (!entry) return 'closed';
      const adding = new Set(userIds.filter((userId) => entry.watching?.has(userId) !== true));
      if ((entry.watching?.size ?? 0) + adding.size > max) return 'full';
      for (const userId of adding) {
        (entry.watching ??= new Set()).add(userId);
        const set = watchers.get(userId) ?? new Set<Entry>();
        watchers.set(userId, set);
        set.add(entry);
      }
      for (const userId of new Set(userIds)) deliver(entry, { type: 'presence', userId, state: stateOf(userId) });
      return 'watching';
    },
    async unwatch(sessionId, userIds) {
      const entry = bySession.get(sessionId);
      if (!entry) return;
      for (const userId of userIds) {
        if (entry.watching?.delete(userId) !== true) continue;
        const set = watchers.get(userId);
        set?.delete(entry);
        if (set?.size === 0) watchers.delete(userId);
      }
    },
  };
};
