/**
 * A channel handle: join, leave, send, members, and the channel's messages and presence as observables
 * filtered from the client's event stream. Creating one does no I/O.
 * @module
 */
import { filter, map, type Observable } from 'rxjs';
import type { Session, SessionEvent } from '../../transports/transport.js';
import { toPublicError } from '../core/errors.js';
import { type Failure, failureOf } from '../core/failure.js';
import type { Message } from '../core/messages.js';

/** A message received in a channel. */
export interface ChannelMessageEvent {
  readonly memberId: string;
  readonly message: Message;
  readonly serverReceivedTs: number;
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
  sendMessage(message: Message): Promise<void>;
  /** Messages from other members, in arrival order. */
  readonly messages$: Observable<ChannelMessageEvent>;
  /** User IDs of members who joined after us. */
  readonly memberJoined$: Observable<string>;
  /** User IDs of members who left (or logged out, or were disconnected). */
  readonly memberLeft$: Observable<string>;
  /** The user IDs in the channel, us included, sorted. Rejects `GetMembersError`: 5 not in channel, 102. */
  getMembers(): Promise<string[]>;
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
}

/** Creates a channel handle bound to a client. */
export const createChannel = (channelId: string, deps: ChannelDeps): Channel => {
  const mine = <E extends SessionEvent['type']>(type: E) =>
    deps.events$.pipe(filter((event): event is Extract<SessionEvent, { type: E }> => event.type === type && 'channelId' in event && event.channelId === channelId));
  return {
    channelId,
    join: () => deps.call('join', (s, signal) => s.joinChannel(channelId, { signal })),
    leave: () => deps.call('leave', (s, signal) => s.leaveChannel(channelId, { signal })),
    sendMessage: (message) => deps.call('channelSend', (s, signal) => s.sendToChannel(channelId, message, { signal }), () => deps.checkMessage(message)),
    getMembers: () => deps.call('getMembers', (s, signal) => s.channelMembers(channelId, { signal })),
    messages$: mine('channelMessage').pipe(map(({ memberId, message, serverReceivedTs }) => ({ memberId, message, serverReceivedTs }))),
    memberJoined$: mine('memberJoined').pipe(map((event) => event.userId)),
    memberLeft$: mine('memberLeft').pipe(map((event) => event.userId)),
  };
};

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
