/**
 * The answers of the messaging calls of issue 15, the same on both wires (an HTTP body, a WebSocket
 * `result` value): how a server shapes them and how a client reads them back (decision 103).
 *
 * A client reads an answer for the IDs it asked about: each must be there with a value of its kind, and a
 * key it did not ask about (`__proto__` among them) is never read. The record handed on is built from the
 * IDs asked, own properties only.
 * @module
 */
import * as E from 'fp-ts/lib/Either.js';
import * as t from 'io-ts';
import { Failure } from '../core/failure.js';
import type { PeerMessageState, PeerOnlineState } from '../core/states.js';

/** The answer to a member-count query: `{ counts: { [channelId]: members } }`. */
export interface MemberCountsAnswer {
  readonly counts: Readonly<Record<string, number>>;
}

/** The answer to an online-status query: `{ peers: { [userId]: state } }`. */
export interface PresenceAnswer {
  readonly peers: Readonly<Record<string, PeerOnlineState>>;
}

/**
 * A peer send's answer as far as a client reads it: `state` is optional, as servers before offline
 * messages answered `{ serverReceivedTs }` alone, which reads as `RECEIVED`.
 */
const PeerSendWire = t.partial({ state: t.keyof({ RECEIVED: null, CACHED_BY_SERVER: null }) });
const CountsWire = t.type({ counts: t.UnknownRecord });
const PeersWire = t.type({ peers: t.UnknownRecord });

const ONLINE_STATES: ReadonlySet<unknown> = new Set<PeerOnlineState>(['ONLINE', 'UNREACHABLE', 'OFFLINE']);
const isCount = (u: unknown): u is number => typeof u === 'number' && Number.isSafeInteger(u) && u >= 0;
const isOnlineState = (u: unknown): u is PeerOnlineState => ONLINE_STATES.has(u);

/** The answer of a member-count query, as a server sends it. */
export const memberCountsAnswer = (counts: Readonly<Record<string, number>>): MemberCountsAnswer => ({ counts });

/** The answer of an online-status query, as a server sends it. */
export const presenceAnswer = (peers: Readonly<Record<string, PeerOnlineState>>): PresenceAnswer => ({ peers });

/**
 * Where a peer send went, from its answer: its `state`, or `RECEIVED` when it has none (a server that
 * predates offline messages). `Unknown` for anything else: a state this client does not know.
 * @example peerSendStateOf({ serverReceivedTs: 1 }) // E.right('RECEIVED')
 */
export const peerSendStateOf = (answer: unknown): E.Either<Failure, PeerMessageState> => {
  const decoded = PeerSendWire.decode(answer);
  return E.isRight(decoded) ? E.right(decoded.right.state ?? 'RECEIVED') : E.left(Failure.unknown('the server answered a peer message with an unexpected shape'));
};

/** Reads `record[id]` for each ID asked, each checked by `is`; `undefined` if one is missing or wrong. */
const answered = <V>(record: Readonly<Record<string, unknown>>, ids: readonly string[], is: (u: unknown) => u is V): Record<string, V> | undefined => {
  const entries: [string, V][] = [];
  for (const id of ids) {
    const value: unknown = Object.hasOwn(record, id) ? record[id] : undefined;
    if (!is(value)) return undefined;
    entries.push([id, value]);
  }
  return Object.fromEntries(entries);
};

/**
 * The member count of each channel asked, from a member-count answer; `Unknown` if one is missing or
 * not a count. @example memberCountsOf({ counts: { lobby: 3 } }, ['lobby']) // E.right({ lobby: 3 })
 */
export const memberCountsOf = (answer: unknown, channelIds: readonly string[]): E.Either<Failure, Record<string, number>> => {
  const decoded = CountsWire.decode(answer);
  const counts = E.isRight(decoded) ? answered(decoded.right.counts, channelIds, isCount) : undefined;
  return counts ? E.right(counts) : E.left(Failure.unknown('the server answered member counts with an unexpected shape'));
};

/**
 * The online status of each peer asked, from an online-status answer; `Unknown` if one is missing or
 * not a status. @example presenceOf({ peers: { bob: 'ONLINE' } }, ['bob']) // E.right({ bob: 'ONLINE' })
 */
export const presenceOf = (answer: unknown, peerIds: readonly string[]): E.Either<Failure, Record<string, PeerOnlineState>> => {
  const decoded = PeersWire.decode(answer);
  const peers = E.isRight(decoded) ? answered(decoded.right.peers, peerIds, isOnlineState) : undefined;
  return peers ? E.right(peers) : E.left(Failure.unknown('the server answered online statuses with an unexpected shape'));
};
