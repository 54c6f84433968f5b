/**
 * One subscriber's deliveries from a session's stream: a snapshot of the session taken in one script, the
 * deliveries kept above the subscriber's number up to the snapshot's last entry, then the stream followed
 * live from exactly there. Markers older than the snapshot are already in its state (a session moved away
 * and back is with its owner now); later ones complete the subscriber when the session moves to another
 * owner or ends. Each delivery is passed on only if it is the next number: a gap (deliveries trimmed
 * while the subscriber lagged, or an ended stream expired while it was read) is `Conflict`, never a skip.
 * Decision 93.
 * @module
 */
import type { Subscriber } from 'rxjs';
import { Failure, fault, type FaultError } from '../core/failure.js';
import type { Delivery, HubEvent } from '../hub/message-bus.js';
import { type EntryId, entriesOf, entryIdOf, type EventDecoder, eventOf, markerOf } from './redis-bus-entries.js';
import type { EntryHandler } from './redis-bus-reader.js';

/** What following one session's stream needs of the bus. */
export interface SessionStream {
  /** The `SNAPSHOT` script's answer for the session. */
  snapshot(): Promise<unknown>;
  /** `XRANGE` of the session's stream from `from` to `to` (IDs; `(` excludes), at most `count` entries. */
  range(from: string, to: string, count: number): Promise<unknown>;
  /** Follows the stream live after `after` (the bus's reader); answers how to stop. */
  follow(after: EntryId, handle: EntryHandler, fail: (error: unknown) => void): () => void;
  /** The event of a delivery entry read live (the bus's {@link EventDecoder}, shared by its sessions). */
  decode(fields: readonly unknown[]): HubEvent;
}

/** Stream entries read per request while replaying. */
const PAGE = 128;

/** The fields of an ended session's last delivery, as its hash keeps them (a JSON array). */
const keptFields = (kept: string): readonly unknown[] => {
  let fields: unknown;
  try {
    fields = JSON.parse(kept);
  } catch (error) {
    throw fault(Failure.unknown('the bus read a malformed kept delivery from Redis'), error);
  }
  if (!Array.isArray(fields)) throw fault(Failure.unknown('the bus read a malformed kept delivery from Redis'));
  return fields;
};

/**
 * Feeds `subscriber` the deliveries of session `sessionId` above `after` (for `owner`, if given), then
 * completes or errors it as the contract says. Resolves with how to stop following live, or `undefined`
 * when the subscriber is done already; rejects when Redis does.
 */
export const followDeliveries = async (
  stream: SessionStream,
  subscriber: Subscriber<Delivery>,
  sessionId: number,
  after: number,
  owner: string | undefined,
): Promise<(() => void) | undefined> => {
  const snapshot = await stream.snapshot();
  if (subscriber.closed) return undefined;
  if (!Array.isArray(snapshot) || snapshot[0] === 0) {
    subscriber.complete();
    return undefined;
  }
  const [status, currentOwner, seqText, lastText, firstText, kept] = snapshot as [number, string, string, string, string, string | null];
  const ended = status === 2;
  if (!ended && owner !== undefined && currentOwner !== owner) {
    subscriber.complete();
    return undefined;
  }
  const seq = Number(seqText);
  const first = firstText === '' ? undefined : entryIdOf(firstText);
  // The oldest delivery kept: the stream's first entry, unless that is a marker after a trimmed delivery;
  // with no stream, an ended session's kept last delivery, or none (then the next number).
  const oldest = first ? (first.k === 0 ? first.seq : first.seq + 1) : ended && kept !== null ? seq : seq + 1;
  const conflict = (from: number, to: number): FaultError => fault(Failure.conflict(`deliveries ${from} to ${to} of session ${sessionId} are no longer kept`));
  if (after < oldest - 1) {
    subscriber.error(conflict(after + 1, oldest - 1));
    return undefined;
  }
  let last = after;
  /**
   * Passes one delivery on if it is the next: never a gap, never twice. Answers whether to go on. Entries
   * read live are decoded by the bus's shared decoder; replayed ones (one session's pages) by `eventOf`.
   */
  const emit = (number: number, fields: readonly unknown[], decode: (fields: readonly unknown[]) => HubEvent = eventOf): boolean => {
    if (number <= last) return true;
    if (number !== last + 1) {
      subscriber.error(conflict(last + 1, number - 1));
      return false;
    }
    last = number;
    subscriber.next({ seq: number, event: decode(fields) });
    return !subscriber.closed;
  };
  if (first) {
    let from = `${after + 1}-0`;
    for (;;) {
      const page = entriesOf(await stream.range(from, lastText, PAGE));
      if (subscriber.closed) return undefined;
      for (const [id, fields] of page) {
        const parsed = entryIdOf(id);
        if (parsed.k === 0 && !emit(parsed.seq, fields)) return undefined;
      }
      if (page.length < PAGE) break;
      from = `(${page[page.length - 1]![0]}`;
    }
  } else if (ended && kept !== null && seq > after) {
    if (!emit(seq, keptFields(kept))) return undefined;
  }
  if (ended) {
    if (last < seq) subscriber.error(conflict(last + 1, seq));
    else subscriber.complete();
    return undefined;
  }
  return stream.follow(
    entryIdOf(lastText),
    (id, fields) => {
      if (id.k === 0) return emit(id.seq, fields, stream.decode);
      const marker = markerOf(fields);
      if (marker.kind === 'moved' && (owner === undefined || marker.owner === owner)) return true;
      subscriber.complete();
      return false;
    },
    (error) => subscriber.error(error),
  );
};
