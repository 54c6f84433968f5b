/**
 * A channel handle: join, leave, send, members, and the channel's messages and presence as observables
 * filtered from the client's event stream. Creating one does no I/O.
 * @module
 */
import { filter, map, merge, Observable, Subject } from 'rxjs';
import type { Session, SessionEvent } from '../../transports/transport.js';
import { toPublicError } from '../core/errors.js';
import * as E from 'fp-ts/lib/Either.js';
import { Failure, failureOf, fault } from '../core/failure.js';
import type { Clock, TimerHandle } from '../core/clock.js';
import { isValidId, newMessageId } from '../core/ids.js';
import type { Message } from '../core/messages.js';

/** A message received in a channel. */
export interface ChannelMessageEvent {
  readonly memberId: string;
  readonly message: Message;
  readonly serverReceivedTs: number;
  /** The sender's ID of the message (`''` from a server too old to carry one). */
  readonly messageId: string;
}

/** Options of {@link Channel.sendMessage}. */
export interface ChannelSendOptions {
  /**
   * The message's ID, 1 to 64 printable ASCII characters, unique among this user's messages: a send
   * retried with the same ID within 24 hours is delivered once. Default: a new random ID per call.
   */
  readonly messageId?: string;
}

/** A channel of the client. */
export interface Channel {
  readonly channelId: string;
  /**
   * Joins. Rejects `JoinChannelError`: 3 invalid ID, 4 no answer in time, 5 already in 20 channels
   * (`limits.channels`), 6 already joined, 7 more than 50 joins in 3 s (`limits.joinRate`), 102 not logged in.
   */
  join(): Promise<void>;
  /** Leaves. Rejects `LeaveChannelError`: 3 not in channel, 102 not logged in. */
  leave(): Promise<void>;
  /**
   * Sends to every other member. Rejects `ChannelMessageError`: 2 no answer in time, 3 more than 180 peer
   * and channel messages in 3 s (`limits.messageRate`), 4 invalid message (or over 32 KiB), 5 not in channel, 102.
   */
  sendMessage(message: Message, options?: ChannelSendOptions): Promise<{ readonly messageId: string }>;
  /** Messages from other members, in arrival order. */
  readonly messages$: Observable<ChannelMessageEvent>;
  /** User IDs of members who joined after us. */
  readonly memberJoined$: Observable<string>;
  /** User IDs of members who left (or logged out, or were disconnected). */
  readonly memberLeft$: Observable<string>;
  /** The user IDs in the channel, us included, sorted. Rejects `GetMembersError`: 5 not in channel, 102. */
  getMembers(): Promise<string[]>;
  /**
   * How many members the channel has, us included, while we are in it: once when `join()` succeeds, then
   * as members join and leave, at most once a second (the latest count wins). Nothing is replayed to a
   * late subscriber. @example channel.memberCount$.subscribe((n) => (badge.textContent = String(n)))
   */
  readonly memberCount$: Observable<number>;
}

/** What a channel needs from its client. */
export interface ChannelDeps {
  readonly events$: Observable<SessionEvent>;
  /** Runs a request on the live session (or fails with `NotLoggedIn`), checks first, with a deadline. */
  readonly call: <T>(
    operation: 'join' | 'leave' | 'channelSend' | 'getMembers',
    run: (session: Session, signal: AbortSignal) => Promise<T>,
    check?: () => Failure | undefined,
  ) => Promise<T>;
  readonly checkMessage: (message: unknown) => Failure | undefined;
  /** The client's clock: `memberCount$` waits on it. */
  readonly clock: Clock;
}

/** The most often `memberCount$` emits: once a second, as Agora's member-count callback. */
const MEMBER_COUNT_INTERVAL_MS = 1_000;

/**
 * `counts` at most once per `intervalMs` on `clock`: the first at once, then the latest of each interval
 * at its end; a count equal to the last emitted is not repeated.
 */
const throttledCounts = (counts: Observable<number>, clock: Clock, intervalMs: number): Observable<number> =>
  new Observable<number>((subscriber) => {
    let last: number | undefined;
    let pending: number | undefined;
    let timer: TimerHandle | undefined;
    const emit = (count: number): void => {
      if (count !== last) subscriber.next(count);
      last = count;
      timer = clock.setTimeout(() => {
        timer = undefined;
        if (pending === undefined) return;
        const next = pending;
        pending = undefined;
        emit(next);
      }, intervalMs);
    };
    const subscription = counts.subscribe({
      next: (count) => {
        if (timer === undefined) emit(count);
        else pending = count;
      },
      error: (error: unknown) => subscriber.error(error),
      complete: () => subscriber.complete(),
    });
    return () => {
      subscription.unsubscribe();
      clock.clearTimeout(timer);
    };
  });

/** Creates a channel handle bound to a client. */
export const createChannel = (channelId: string, deps: ChannelDeps): Channel => {
  const mine = <E extends SessionEvent['type']>(type: E) =>
    deps.events$.pipe(filter((event): event is Extract<SessionEvent, { type: E }> => event.type === type && 'channelId' in event && event.channelId === channelId));
  /** Counts learnt at each join (the members then); the member events carry the rest. */
  const joinedCounts = new Subject<number>();
  /** Member events seen: a count asked at a join is stale if one came while it was asked. */
  let changes = 0;
  const memberCounts = merge(
    joinedCounts,
    merge(mine('memberJoined'), mine('memberLeft')).pipe(
      map((event) => {
        changes++;
        return event.memberCount;
      }),
      filter((count): count is number => count !== undefined),
    ),
  );
  return {
    channelId,
    join: () =>
      deps.call('join', (s, signal) => s.joinChannel(channelId, { signal })).then(() => {
        // The joiner is told no `memberJoined` of its own: its count comes from the members now, asked as
        // any call is (with the client's deadline). Best effort: the join stands whatever this answers.
        const before = changes;
        deps.call('getMembers', (s, signal) => s.channelMembers(channelId, { signal })).then(
          (members) => (changes === before ? joinedCounts.next(members.length) : undefined),
          () => undefined,
        );
      }),
    leave: () => deps.call('leave', (s, signal) => s.leaveChannel(channelId, { signal })),
    sendMessage: (message, options) => {
      // Only an absent ID is chosen here: a given one, `null` included, is checked (as a peer send's is).
      const messageId = messageIdOf((options as { messageId?: unknown } | undefined)?.messageId);
      return deps.call(
        'channelSend',
        async (s, signal) => {
          if (E.isLeft(messageId)) throw fault(messageId.left);
          await s.sendToChannel(channelId, message, { signal, messageId: messageId.right });
          return { messageId: messageId.right };
        },
        () =>
          options !== undefined && (options === null || typeof options !== 'object')
            ? Failure.invalidArgument('options', 'expected an object')
            : E.isLeft(messageId)
              ? messageId.left
              : deps.checkMessage(message),
      );
    },
    getMembers: () => deps.call('getMembers', (s, signal) => s.channelMembers(channelId, { signal })),
    memberCount$: throttledCounts(memberCounts, deps.clock, MEMBER_COUNT_INTERVAL_MS),
    messages$: mine('channelMessage').pipe(
      map(({ memberId, message, serverReceivedTs, messageId }) => ({ memberId, message, serverReceivedTs, messageId: messageId ?? '' })),
    ),
    memberJoined$: mine('memberJoined').pipe(map((event) => event.userId)),
    memberLeft$: mine('memberLeft').pipe(map((event) => event.userId)),
  };
};

/**
 * A send's message ID: a new random one when none is given; a given one (`null` included) checked, 1 to 64
 * printable ASCII characters, else `InvalidArgument` naming `messageId`. Peer and channel sends share it.
 */
export const messageIdOf = (given: unknown): E.Either<Failure, string> =>
  given === undefined
    ? E.right(newMessageId())
    : isValidId(given)
      ? E.right(given)
      : E.left(Failure.invalidArgument('messageId', `expected 1 to 64 printable ASCII characters, got ${JSON.stringify(given)}`));

/**
 * Runs `run`, turning any failure (thrown or rejected) into the public error of `operation`. Not `async`:
 * every chat message goes through here, and a wrapping promise would be a cost per message.
 */
export const asPublic = <T>(operation: Parameters<typeof toPublicError>[0], run: () => Promise<T>): Promise<T> => {
  const publicError = (error: unknown) => toPublicError(operation, failureOf(error), error);
  let running: Promise<T>;
  try {
    running = run();
  } catch (error) {
    return Promise.reject(publicError(error));
  }
  return running.catch((error: unknown) => {
    throw publicError(error);
  });
};
