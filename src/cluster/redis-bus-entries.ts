/**
 * What a session's stream entry holds, read back: a delivery (`n-0`, its event as flat fields) or a
 * marker (`n-k`, `k ≥ 1`: the session moved to another owner, or ended); and the scripts' answers to a
 * send and to a presence query. The scripts write them (`redis-bus-scripts.ts`); only ferry writes these
 * keys, but what is read from Redis is still checked field by field, and an entry that does not decode is
 * a typed failure, never a crash. Hand-written rather than io-ts: this runs once per delivery per
 * subscriber on the relay path (as decision 56's message decoders). Decisions 93 and 102.
 *
 * A delivery's fields: `t` its kind — `p` peer message (`f` sender, `m` message JSON, `s` server time,
 * `i` message ID, `o` `1` if it was kept offline), `c` channel message (`c` channel and the same), `j` /
 * `l` member joined / left (`c`, `f` the member, `n` the members after it), `v` presence (`u` user, `w`
 * its status letter), `a` aborted (`x` cause, `r` reason).
 * @module
 */
import { Failure, fault } from '../core/failure.js';
import type { WireMessage } from '../protocol/codec.js';
import type { ChannelSendOutcome, HubAbortCause, HubEvent, PeerOnlineState, PeerSendOutcome } from '../hub/message-bus.js';
import { PRESENCE_LETTERS } from './redis-bus-lua.js';

/** A stream entry ID as two numbers: `seq-k`. */
export interface EntryId {
  readonly seq: number;
  readonly k: number;
}

/** Parses `a-b`; a malformed ID is a typed failure. */
export const entryIdOf = (id: string): EntryId => {
  const dash = id.indexOf('-');
  const seq = Number(id.slice(0, dash));
  const k = Number(id.slice(dash + 1));
  if (dash < 1 || !Number.isSafeInteger(seq) || !Number.isSafeInteger(k)) throw fault(Failure.unknown(`the bus read a malformed stream ID ${JSON.stringify(id.slice(0, 64))}`));
  return { seq, k };
};

/** Orders two entry IDs. */
export const compareIds = (a: EntryId, b: EntryId): number => a.seq - b.seq || a.k - b.k;

/** An entry ID as Redis writes it. */
export const idText = (id: EntryId): string => `${id.seq}-${id.k}`;

/** A marker: the session moved to `owner`, or ended. */
export type Marker = { readonly kind: 'moved'; readonly owner: string } | { readonly kind: 'ended' };

const CAUSES: ReadonlySet<string> = new Set<HubAbortCause>(['REMOTE_LOGIN', 'TOKEN_EXPIRED', 'BANNED_BY_SERVER']);

const malformed = (what: string): never => {
  throw fault(Failure.unknown(`the bus read a malformed ${what} from Redis`));
};

/** The fields of an entry by name (`[name, value, name, value, …]` as Redis answers them). */
const fieldsOf = (flat: readonly unknown[]): Map<string, string> => {
  const fields = new Map<string, string>();
  for (let i = 0; i + 1 < flat.length; i += 2) {
    const name = flat[i];
    const value = flat[i + 1];
    if (typeof name !== 'string' || typeof value !== 'string') return malformed('stream entry');
    fields.set(name, value);
  }
  return fields;
};

const text = (fields: ReadonlyMap<string, string>, name: string): string => fields.get(name) ?? malformed(`stream entry (no '${name}')`);

const number = (fields: ReadonlyMap<string, string>, name: string): number => {
  const value = Number(text(fields, name));
  return Number.isFinite(value) ? value : malformed(`stream entry ('${name}' is not a number)`);
};

const count = (fields: ReadonlyMap<string, string>, name: string): number => {
  const value = number(fields, name);
  return Number.isSafeInteger(value) && value >= 0 ? value : malformed(`stream entry ('${name}' is not a count)`);
};

/** A status letter of the scripts as a status. */
export const presenceOf = (letter: unknown): PeerOnlineState =>
  typeof letter === 'string' && Object.hasOwn(PRESENCE_LETTERS, letter) ? PRESENCE_LETTERS[letter as keyof typeof PRESENCE_LETTERS] : malformed('presence');

/** The `TO_USER` script's answer: `d <ts>`, `c <ts>`, `u` or `f`. */
export const peerSendOutcomeOf = (reply: string): PeerSendOutcome => {
  if (reply === 'u') return { outcome: 'unreachable' };
  if (reply === 'f') return { outcome: 'full' };
  const [kind, ...rest] = reply.split(' ');
  const serverReceivedTs = Number(rest.at(-1));
  if (rest.length === 0 || !Number.isFinite(serverReceivedTs)) return malformed('send answer');
  // A channel send's ID used again for a peer send: its first answer says when, and nothing was delivered again.
  if (kind === 'd' || kind === 'r') return { outcome: 'delivered', serverReceivedTs };
  if (kind === 'c') return { outcome: 'cached', serverReceivedTs };
  return malformed('send answer');
};

/** The `TO_CHANNEL` script's answer: `r <receivers> <ts>`, a peer send's `d <ts>` or `c <ts>` (no receivers), or `-1` (false). */
export const channelSendOutcomeOf = (reply: string): ChannelSendOutcome | false => {
  if (reply === '-1') return false;
  const [kind, ...rest] = reply.split(' ');
  const serverReceivedTs = Number(rest.at(-1));
  const receivers = kind === 'r' && rest.length === 2 ? Number(rest[0]) : 0;
  if ((kind === 'r' ? rest.length !== 2 : kind !== 'd' && kind !== 'c') || !Number.isFinite(serverReceivedTs) || !Number.isSafeInteger(receivers)) {
    return malformed('send answer');
  }
  return { receivers, serverReceivedTs };
};

/** A message as `JSON.stringify` wrote it from a `WireMessage` the hub had validated. */
const message = (fields: ReadonlyMap<string, string>): WireMessage => {
  let parsed: unknown;
  try {
    parsed = JSON.parse(text(fields, 'm'));
  } catch (error) {
    throw fault(Failure.unknown('the bus read a message that is not JSON from Redis'), error);
  }
  return typeof parsed === 'object' && parsed !== null && !Array.isArray(parsed) ? (parsed as WireMessage) : malformed('message');
};

/** The event of a delivery entry. */
export const eventOf = (flat: readonly unknown[]): HubEvent => {
  const fields = fieldsOf(flat);
  switch (fields.get('t')) {
    case 'p': {
      const event = {
        type: 'peerMessage',
        peerId: text(fields, 'f'),
        message: message(fields),
        serverReceivedTs: number(fields, 's'),
        messageId: text(fields, 'i'),
      } as const;
      return fields.get('o') === '1' ? { ...event, isOfflineMessage: true as const } : event;
    }
    case 'c':
      return {
        type: 'channelMessage',
        channelId: text(fields, 'c'),
        memberId: text(fields, 'f'),
        message: message(fields),
        serverReceivedTs: number(fields, 's'),
        messageId: text(fields, 'i'),
      };
    case 'j':
      return { type: 'memberJoined', channelId: text(fields, 'c'), userId: text(fields, 'f'), memberCount: count(fields, 'n') };
    case 'l':
      return { type: 'memberLeft', channelId: text(fields, 'c'), userId: text(fields, 'f'), memberCount: count(fields, 'n') };
    case 'v':
      return { type: 'presence', userId: text(fields, 'u'), state: presenceOf(text(fields, 'w')) };
    case 'a': {
      const cause = text(fields, 'x');
      return CAUSES.has(cause) ? { type: 'aborted', reason: text(fields, 'r'), cause: cause as HubAbortCause } : malformed('abort cause');
    }
    default:
      return malformed('delivery');
  }
};

/** Whether two entries' flat fields are equal, value by value. */
const sameFields = (a: readonly unknown[], b: readonly unknown[]): boolean => {
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
  return true;
};

/** The message ID of a message delivery's flat fields (`i`), if it has one. */
const messageIdOf = (flat: readonly unknown[]): string | undefined => {
  for (let i = 0; i + 1 < flat.length; i += 2) if (flat[i] === 'i') return typeof flat[i + 1] === 'string' ? (flat[i + 1] as string) : undefined;
  return undefined;
};

/**
 * Decodes delivery entries ({@link eventOf}) and, within one read, hands back the same event object for
 * every entry with the same fields. A channel message is an entry in each member's stream, nearly always
 * all in the same read (a read Redis 7.0 wakes brings the one stream that woke it), so it is decoded once
 * for all the members this instance serves, and the server, which encodes each event object once for
 * every session it goes to (decision 116), encodes it once: as the in-process bus hands every member one
 * object. Message entries are matched by their message ID, then compared field by field; events are never
 * changed after decoding. One per bus; `forget` after each read, so it holds nothing between reads.
 * Decision 137.
 */
export class EventDecoder {
  private readonly seen = new Map<string, { readonly fields: readonly unknown[]; readonly event: HubEvent }>();

  /** The event of a delivery entry's fields; throws as {@link eventOf} does. */
  decode(fields: readonly unknown[]): HubEvent {
    const messageId = messageIdOf(fields);
    if (messageId === undefined) return eventOf(fields);
    const known = this.seen.get(messageId);
    if (known && sameFields(known.fields, fields)) return known.event;
    const event = eventOf(fields);
    this.seen.set(messageId, { fields, event });
    return event;
  }

  /** Forgets the events decoded so far (the read they came in is handled). */
  forget(): void {
    this.seen.clear();
  }
}

/** The marker of a marker entry. */
export const markerOf = (flat: readonly unknown[]): Marker => {
  const fields = fieldsOf(flat);
  switch (fields.get('t')) {
    case 'o':
      return { kind: 'moved', owner: text(fields, 'o') };
    case 'e':
      return { kind: 'ended' };
    default:
      return malformed('marker');
  }
};

/** Entries as XRANGE and XREAD answer them: `[[id, [field, value, …]], …]`. */
export const entriesOf = (reply: unknown): readonly (readonly [string, readonly unknown[]])[] => {
  if (!Array.isArray(reply)) return malformed('stream range');
  return reply.map((entry: unknown) =>
    Array.isArray(entry) && typeof entry[0] === 'string' && Array.isArray(entry[1]) ? ([entry[0], entry[1]] as const) : malformed('stream entry'),
  );
};
