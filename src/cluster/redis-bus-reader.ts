/**
 * One bus instance's live reading of the session streams it follows: a connection of its own, duplicated
 * from the bus's, in one blocking `XREAD` over every followed stream from the last entry each follower
 * has, re-issued after each answer. The streams are the truth: nothing is pushed, so nothing is lost
 * while the instance is away or Redis restarts (ioredis reconnects and sends the read again with the same
 * IDs). A follower that arrives while a read blocks without its stream rings the instance's doorbell (a
 * one-entry stream every read also waits on), so the read is answered and re-issued with it. Decision 93.
 * @module
 */
import type { Redis } from 'ioredis';
import { type Clock, unrefTimer } from '../core/clock.js';
import { Failure, fault } from '../core/failure.js';
import { compareIds, type EntryId, entriesOf, entryIdOf, idText } from './redis-bus-entries.js';

/** Takes one entry of a followed stream, in order; answers whether to go on following. */
export type EntryHandler = (id: EntryId, fields: readonly unknown[]) => boolean;

/** The streams one bus instance follows. */
export interface StreamReader {
  /**
   * Calls `handle` with each entry of `key` after `after`, as they come, until it answers `false` or the
   * returned function is called; `fail` is told (once, then nothing more) if the entries cannot be read.
   */
  follow(key: string, after: EntryId, handle: EntryHandler, fail: (error: unknown) => void): () => void;
  /** Stops reading and closes the reader's connection; followers hear nothing more. */
  close(): Promise<void>;
}

/** Options of {@link streamReader}. */
export interface StreamReaderOptions {
  /** The bus's connection: duplicated for the blocking read, never used for it. */
  readonly redis: Redis;
  /** The doorbell stream each read also waits on. */
  readonly doorbell: string;
  /** Rings the doorbell (a write on the bus's own connection). */
  readonly ring: () => Promise<void>;
  /** The clock of the pause after a failed read. */
  readonly clock: Clock;
  readonly onError: (error: unknown) => void;
  /** Told after the entries of each read were handed over (the bus's decoder forgets that read's events). */
  readonly onDispatched?: () => void;
}

/** Entries read per stream per read: bounds one answer to this × the followed streams. */
const COUNT = 256;
/** A read that nothing answers ends after this long (then, with no follower left, the loop stops). */
const BLOCK_MS = 5_000;

interface Tail {
  readonly key: string;
  last: EntryId;
  readonly handle: EntryHandler;
  readonly fail: (error: unknown) => void;
  active: boolean;
}

/** The reader of one bus instance. */
export const streamReader = (options: StreamReaderOptions): StreamReader => {
  const { doorbell, clock, onError } = options;
  // Its own options: wait out any outage (never give a read up after N reconnects), send a read that was
  // in flight again after a reconnect (ioredis's default, kept on purpose), and name the connection.
  const reader = options.redis.duplicate({ maxRetriesPerRequest: null, autoResendUnfulfilledCommands: true, connectionName: 'ferry-bus-reader' });
  // One report per outage: ioredis emits an error at every reconnection attempt.
  let reported = false;
  reader.on('error', (error: unknown) => {
    if (reported) return;
    reported = true;
    onError(error);
  });
  reader.on('ready', () => {
    reported = false;
  });

  const tails = new Map<string, Set<Tail>>();
  let state: 'idle' | 'reading' | 'closed' = 'idle';
  let loop: Promise<void> = Promise.resolve();
  /** The streams and positions of the read in flight. */
  let inFlight: Map<string, EntryId> | undefined;
  let rung = false;
  let bell = '0-0';
  let failures = 0;

  const stop = (tail: Tail): void => {
    tail.active = false;
    const set = tails.get(tail.key);
    set?.delete(tail);
    if (set?.size === 0) tails.delete(tail.key);
  };
  /** Ends the pause under way, if any: `close` must not wait for a timer (a virtual clock may never fire it). */
  let endPause: (() => void) | undefined;
  const pause = (ms: number): Promise<void> =>
    new Promise((resolve) => {
      const handle = clock.setTimeout(() => endPause?.(), ms);
      unrefTimer(handle);
      endPause = () => {
        endPause = undefined;
        clock.clearTimeout(handle);
        resolve();
      };
    });
  const positions = (): Map<string, EntryId> => {
    const ids = new Map<string, EntryId>();
    for (const [key, set] of tails) {
      let first: EntryId | undefined;
      for (const tail of set) if (!first || compareIds(tail.last, first) < 0) first = tail.last;
      if (first) ids.set(key, first);
    }
    return ids;
  };
  /** Hands `tail` one entry of its stream; a handler that throws fails that follower alone. */
  const deliver = (tail: Tail, id: EntryId, fields: readonly unknown[]): void => {
    if (!tail.active || compareIds(id, tail.last) <= 0) return;
    tail.last = id;
    try {
      if (!tail.handle(id, fields)) stop(tail);
    } catch (error) {
      stop(tail);
      tail.fail(error);
    }
  };
  /**
   * Hands each follower its entries, in order within each stream, and across streams one entry of each in
   * turn, the streams lined up by their last entries. A channel message is an entry in every member's
   * stream, written by one script, so a read ends with the same messages in each member's stream while
   * where they start may differ (Redis 7.0 answers a read it woke with the one stream that woke it, so the
   * next read finds that stream one message ahead). Lined up from the end, the members are handed each
   * message one after another, and the server's memo of the last event it encoded hits (decision 137).
   * A follower that came while the read was in flight, from further back than the read asked (`asked`),
   * is handed nothing of it: the entries between are not in it. The next read starts from its position.
   */
  const dispatch = (reply: unknown, asked: ReadonlyMap<string, EntryId>): void => {
    if (reply === null) return;
    if (!Array.isArray(reply)) throw fault(Failure.unknown('the bus read a malformed XREAD answer from Redis'));
    const streams: { readonly entries: readonly (readonly [string, readonly unknown[]])[]; readonly followers: readonly Tail[] }[] = [];
    let rounds = 0;
    for (const stream of reply as unknown[]) {
      if (!Array.isArray(stream) || typeof stream[0] !== 'string') throw fault(Failure.unknown('the bus read a malformed XREAD answer from Redis'));
      const key = stream[0];
      const entries = entriesOf(stream[1]);
      if (key === doorbell) {
        bell = entries.at(-1)?.[0] ?? bell;
        continue;
      }
      const from = asked.get(key);
      const followers = [...(tails.get(key) ?? [])].filter((tail) => from !== undefined && compareIds(from, tail.last) <= 0);
      if (followers.length === 0) continue;
      streams.push({ entries, followers });
      rounds = Math.max(rounds, entries.length);
    }
    for (let round = 0; round < rounds; round++) {
      for (const { entries, followers } of streams) {
        // A stream with fewer entries starts that many rounds later.
        const entry = entries[round - (rounds - entries.length)];
        if (entry === undefined) continue;
        let id: EntryId;
        try {
          id = entryIdOf(entry[0]);
        } catch (error) {
          for (const tail of followers) {
            if (!tail.active) continue;
            stop(tail);
            tail.fail(error);
          }
          continue;
        }
        for (const tail of followers) deliver(tail, id, entry[1]);
      }
    }
  };
  const read = async (): Promise<void> => {
    while (state === 'reading' && tails.size > 0) {
      const ids = positions();
      inFlight = ids;
      rung = false;
      const args = ['COUNT', COUNT, 'BLOCK', BLOCK_MS, 'STREAMS', ...ids.keys(), doorbell, ...[...ids.values()].map(idText), bell];
      let reply: unknown;
      try {
        reply = await reader.call('XREAD', ...args);
        failures = 0;
      } catch (error) {
        inFlight = undefined;
        if (state !== 'reading') break;
        onError(error);
        // A refused read (not an outage: ioredis waits those out) is retried after a growing pause.
        await pause(Math.min(50 * 2 ** failures++, 2_000));
        continue;
      }
      inFlight = undefined;
      try {
        dispatch(reply, ids);
      } catch (error) {
        onError(error);
      } finally {
        options.onDispatched?.();
      }
    }
    if (state === 'reading') state = 'idle';
  };

  return {
    follow(key, after, handle, fail) {
      const tail: Tail = { key, last: after, handle, fail, active: true };
      const set = tails.get(key) ?? new Set<Tail>();
      tails.set(key, set.add(tail));
      if (state === 'idle') {
        state = 'reading';
        loop = read();
      } else if (state === 'reading' && inFlight && !rung) {
        const reading = inFlight.get(key);
        if (reading === undefined || compareIds(reading, after) > 0) {
          rung = true;
          options.ring().catch(onError);
        }
      }
      return () => stop(tail);
    },
    async close() {
      if (state === 'closed') return;
      state = 'closed';
      for (const set of [...tails.values()]) for (const tail of [...set]) stop(tail);
      reader.disconnect();
      endPause?.();
      await loop;
    },
  };
};
