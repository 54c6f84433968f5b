/**
 * What a session's stream entry holds, read back: a delivery (`n-0`, its event as flat fields) or a
 * marker (`n-k`, `k ≥ 1`: the session moved to another owner, or ended). The scripts write them
 * (`redis-bus-scripts.ts`); only ferry writes these keys, but what is read from Redis is still checked
 * field by field, and an entry that does not decode is a typed failure, never a crash. Hand-written
 * rather than io-ts: this runs once per delivery per subscriber on the relay path (as decision 56's
 * message decoders). Decision 93.
 * @module
 */
import { Failure, fault } from '../core/failure.js';
import type { WireMessage } from '../protocol/codec.js';
import type { HubAbortCause, HubEvent } from '../hub/message-bus.js';

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
    case 'p':
      return { type: 'peerMessage', peerId: text(fields, 'f'), message: message(fields), serverReceivedTs: number(fields, 's') };
    case 'c':
      return {
        type: 'channelMessage',
        channelId: text(fields, 'c'),
        memberId: text(fields, 'f'),
        message: message(fields),
        serverReceivedTs: number(fields, 's'),
      };
    case 'j':
      return { type: 'memberJoined', channelId: text(fields, 'c'), userId: text(fields, 'f') };
    case 'l':
      return { type: 'memberLeft', channelId: text(fields, 'c'), userId: text(fields, 'f') };
    case 'a': {
      const cause = text(fields, 'x');
      return CAUSES.has(cause) ? { type: 'aborted', reason: text(fields, 'r'), cause: cause as HubAbortCause } : malformed('abort cause');
    }
    default:
      return malformed('delivery');
  }
};

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
