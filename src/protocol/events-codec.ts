/**
 * The wire form of session events (what the HTTP server streams as server-sent events and the
 * WebSocket server will send as frames), decoded with io-ts. Messages inside are decoded with the
 * message codec, so a receiver gets its own frozen message.
 * @module
 */
import * as E from 'fp-ts/lib/Either.js';
import { pipe } from 'fp-ts/lib/function.js';
import * as t from 'io-ts';
import type { Message } from '../core/messages.js';
import type { PeerOnlineState } from '../core/states.js';
import { isFields, MessageCodec, messageOf, reportErrors } from './codec.js';
import { Failure } from '../core/failure.js';

/** What a session hears from the hub, in order. */
export type SessionEvent =
  | {
      readonly type: 'peerMessage';
      readonly peerId: string;
      readonly message: Message;
      readonly serverReceivedTs: number;
      /** The sender's message ID (absent from servers before message IDs). */
      readonly messageId?: string;
      /** Present (`true`) when the server kept the message while this user was offline. */
      readonly isOfflineMessage?: boolean;
    }
  | {
      readonly type: 'channelMessage';
      readonly channelId: string;
      readonly memberId: string;
      readonly message: Message;
      readonly serverReceivedTs: number;
      readonly messageId?: string;
    }
  /** `memberCount`: the channel's members after the change (absent from older servers). */
  | { readonly type: 'memberJoined'; readonly channelId: string; readonly userId: string; readonly memberCount?: number }
  | { readonly type: 'memberLeft'; readonly channelId: string; readonly userId: string; readonly memberCount?: number }
  /** A watched peer's online status, as it is when the watch begins, then at each change. */
  | { readonly type: 'presence'; readonly userId: string; readonly state: PeerOnlineState }
  /** The link dropped and the transport is trying again (`RECONNECTING`), or it is back (`CONNECTED`). */
  | { readonly type: 'connection'; readonly state: 'RECONNECTING' | 'CONNECTED' }
  /**
   * The hub ended this session. Final. `cause` says why as data: an {@link AbortCause}, or one a newer
   * server added (read it with `abortCauseOf`); absent from older servers, whose only ending was
   * `REMOTE_LOGIN`. `reason` is prose for people.
   */
  | { readonly type: 'aborted'; readonly reason: string; readonly cause?: string };

/** The io-ts definition of session events; {@link sessionEventOf} is its fast equivalent. */
export const EventWire = t.union([
  t.intersection([
    t.type({ type: t.literal('peerMessage'), peerId: t.string, message: MessageCodec, serverReceivedTs: t.number }),
    t.partial({ messageId: t.string, isOfflineMessage: t.boolean }),
  ]),
  t.intersection([
    t.type({ type: t.literal('channelMessage'), channelId: t.string, memberId: t.string, message: MessageCodec, serverReceivedTs: t.number }),
    t.partial({ messageId: t.string }),
  ]),
  t.intersection([t.type({ type: t.literal('memberJoined'), channelId: t.string, userId: t.string }), t.partial({ memberCount: t.number })]),
  t.intersection([t.type({ type: t.literal('memberLeft'), channelId: t.string, userId: t.string }), t.partial({ memberCount: t.number })]),
  t.type({ type: t.literal('presence'), userId: t.string, state: t.keyof({ ONLINE: null, UNREACHABLE: null, OFFLINE: null }) }),
  // `cause` is optional so older peers decode; any string, so a cause a newer server adds still decodes.
  t.intersection([t.type({ type: t.literal('aborted'), reason: t.string }), t.partial({ cause: t.string })]),
]);

/**
 * The event {@link EventWire} decodes `u` into, or `undefined` where it reports an error: the same checks
 * written out (io-ts keeps the wire object, or a shallow copy of it with the decoded message), for the
 * one decode every delivered message goes through. `spec/properties/codec.spec.ts` checks that both agree.
 */
export const sessionEventOf = (u: unknown): SessionEvent | undefined => {
  if (!isFields(u)) return undefined;
  switch (u['type']) {
    case 'peerMessage': {
      if (typeof u['peerId'] !== 'string' || typeof u['serverReceivedTs'] !== 'number') return undefined;
      if (!optional(u['messageId'], 'string') || !optional(u['isOfflineMessage'], 'boolean')) return undefined;
      const message = messageOf(u['message']);
      return message ? ({ ...u, message } as SessionEvent) : undefined;
    }
    case 'channelMessage': {
      if (typeof u['channelId'] !== 'string' || typeof u['memberId'] !== 'string' || typeof u['serverReceivedTs'] !== 'number') return undefined;
      if (!optional(u['messageId'], 'string')) return undefined;
      const message = messageOf(u['message']);
      return message ? ({ ...u, message } as SessionEvent) : undefined;
    }
    case 'memberJoined':
    case 'memberLeft':
      return typeof u['channelId'] === 'string' && typeof u['userId'] === 'string' && optional(u['memberCount'], 'number') ? (u as SessionEvent) : undefined;
    case 'presence':
      return typeof u['userId'] === 'string' && (u['state'] === 'ONLINE' || u['state'] === 'UNREACHABLE' || u['state'] === 'OFFLINE')
        ? (u as SessionEvent)
        : undefined;
    case 'aborted':
      return typeof u['reason'] === 'string' && (u['cause'] === undefined || typeof u['cause'] === 'string') ? (u as SessionEvent) : undefined;
    default:
      return undefined;
  }
};

/** Whether an optional field is absent or of the type. */
const optional = (value: unknown, type: 'string' | 'number' | 'boolean'): boolean => value === undefined || typeof value === type;

/** Decodes one session event from its JSON form; a failure names the offending path. */
export const decodeSessionEvent = (u: unknown): E.Either<Failure, SessionEvent> => {
  const event = sessionEventOf(u);
  if (event) return E.right(event);
  return pipe(
    EventWire.decode(u),
    E.mapLeft((errors) => Failure.invalidMessage(`session event: ${reportErrors(errors)}`)),
  );
};
