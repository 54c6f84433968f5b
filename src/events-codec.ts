/**
 * The wire form of session events (what the HTTP server streams as server-sent events and the
 * WebSocket server will send as frames), decoded with io-ts. Messages inside are decoded with the
 * message codec, so a receiver gets its own frozen message.
 * @module
 */
import * as E from 'fp-ts/lib/Either.js';
import { pipe } from 'fp-ts/lib/function.js';
import * as t from 'io-ts';
import type { SessionEvent } from '../transports/transport.js';
import { MessageCodec, reportErrors } from './codec.js';
import { Failure } from './failure.js';

const EventWire = t.union([
  t.type({ type: t.literal('peerMessage'), peerId: t.string, message: MessageCodec, serverReceivedTs: t.number }),
  t.type({ type: t.literal('channelMessage'), channelId: t.string, memberId: t.string, message: MessageCodec, serverReceivedTs: t.number }),
  t.type({ type: t.literal('memberJoined'), channelId: t.string, userId: t.string }),
  t.type({ type: t.literal('memberLeft'), channelId: t.string, userId: t.string }),
  t.type({ type: t.literal('aborted'), reason: t.string }),
]);

/** Decodes one session event from its JSON form; a failure names the offending path. */
export const decodeSessionEvent = (u: unknown): E.Either<Failure, SessionEvent> =>
  pipe(
    EventWire.decode(u),
    E.mapLeft((errors) => Failure.invalidMessage(`session event: ${reportErrors(errors)}`)),
  );
