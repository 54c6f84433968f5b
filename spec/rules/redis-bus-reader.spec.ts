/**
 * The Redis bus's stream reader (decision 137), against a scripted connection so that every read's answer
 * is chosen: a read's entries go out one of each stream in turn, the streams lined up by their last
 * entries; a follower that comes, while a read is in flight, from further back than the read asked is
 * handed nothing of it and everything from its position by the next; within one read a follower that
 * throws, answers `false` or has a malformed entry fails or stops alone; the bus is told after each read.
 */
import { describe, expect, it } from 'vitest';
import type { Redis } from 'ioredis';
import type { EntryId } from '../../src/cluster/redis-bus-entries.js';
import { streamReader } from '../../src/cluster/redis-bus-reader.js';
import { systemClock } from '../../src/core/clock.js';

interface Call {
  readonly args: readonly unknown[];
  answer(reply: unknown): void;
}

/** A connection whose `XREAD`s wait for the spec to answer them, one at a time; closing it fails the one waiting. */
const scripted = () => {
  const calls: Call[] = [];
  let waiting: (() => void) | undefined;
  let pending: ((error: Error) => void) | undefined;
  const connection = {
    on: () => connection,
    call: (_command: string, ...args: unknown[]) =>
      new Promise<unknown>((resolve, reject) => {
        pending = reject;
        calls.push({ args, answer: resolve });
        waiting?.();
      }),
    disconnect: () => pending?.(new Error('Connection is closed.')),
  };
  const next = async (): Promise<Call> => {
    while (calls.length === 0) await new Promise<void>((resolve) => (waiting = resolve));
    return calls.shift() as Call;
  };
  return { redis: { duplicate: () => connection } as unknown as Redis, next };
};

/** The stream → ID pairs a read asked for. */
const asked = (call: Call): Record<string, unknown> => {
  const rest = call.args.slice(call.args.indexOf('STREAMS') + 1);
  const half = rest.length / 2;
  return Object.fromEntries(rest.slice(0, half).map((key, i) => [key, rest[half + i]]));
};

const at = (seq: number): EntryId => ({ seq, k: 0 });
/** Entries `from`..`to` of a stream, each carrying the text of message `first + i`. */
const entries = (from: number, to: number, first = from): [string, string[]][] =>
  Array.from({ length: to - from + 1 }, (_, i) => [`${from + i}-0`, ['m', `m${first + i}`]]);

const fail = (error: unknown): never => {
  throw error;
};

describe('the Redis bus stream reader', () => {
  it('hands a read out one entry of each stream in turn, lined up by the streams\' last entries', async () => {
    const redis = scripted();
    let reads = 0;
    const reader = streamReader({ redis: redis.redis, doorbell: 'bell', ring: async () => undefined, clock: systemClock, onError: fail, onDispatched: () => reads++ });
    const order: string[] = [];
    for (const [key, after] of [['A', 0], ['B', 11], ['C', 4]] as const) {
      reader.follow(key, at(after), (_, fields) => (order.push(`${key}:${String(fields[1])}`), true), fail);
    }
    // The first read asked for A alone; B and C rang the doorbell. It is answered empty.
    (await redis.next()).answer(null);
    const read = await redis.next();
    expect(asked(read)).toMatchObject({ A: '0-0', B: '11-0', C: '4-0' });
    // B's stream is a message ahead: its read began after m1 had reached it.
    read.answer([
      ['A', entries(1, 3)],
      ['B', entries(12, 13, 2)],
      ['C', entries(5, 7, 1)],
    ]);
    await redis.next();
    expect(order).toEqual(['A:m1', 'C:m1', 'A:m2', 'B:m2', 'C:m2', 'A:m3', 'B:m3', 'C:m3']);
    expect(reads).toBe(2);
    await reader.close();
  });

  it('hands a follower from further back than the read in flight nothing of it, then everything from its position', async () => {
    const redis = scripted();
    let rings = 0;
    const reader = streamReader({
      redis: redis.redis,
      doorbell: 'bell',
      ring: async () => {
        rings++;
      },
      clock: systemClock,
      onError: fail,
    });
    const ahead: number[] = [];
    const behind: number[] = [];
    reader.follow('K', at(5), (id) => (ahead.push(id.seq), true), fail);
    const first = await redis.next();
    expect(asked(first)).toMatchObject({ K: '5-0' });
    reader.follow('K', at(2), (id) => (behind.push(id.seq), true), fail);
    expect(rings).toBe(1);
    first.answer([['K', entries(6, 7)]]);
    const second = await redis.next();
    expect([ahead, behind]).toEqual([[6, 7], []]);
    expect(asked(second)).toMatchObject({ K: '2-0' });
    second.answer([['K', entries(3, 8)]]);
    const third = await redis.next();
    expect([ahead, behind]).toEqual([
      [6, 7, 8],
      [3, 4, 5, 6, 7, 8],
    ]);
    expect(asked(third)).toMatchObject({ K: '8-0' });
    await reader.close();
  });

  it('fails or stops alone a follower that throws, answers false or reads a malformed entry; the others go on', async () => {
    const redis = scripted();
    const errors: unknown[] = [];
    const reader = streamReader({ redis: redis.redis, doorbell: 'bell', ring: async () => undefined, clock: systemClock, onError: (error) => errors.push(error) });
    const log: string[] = [];
    const follow = (key: string, answer: (seq: number) => boolean): void => {
      reader.follow(key, at(0), (id) => (log.push(`${key}${id.seq}`), answer(id.seq)), () => log.push(`${key} failed`));
    };
    follow('T', (seq) => {
      if (seq === 2) throw new Error('a reader bug');
      return true;
    });
    follow('F', (seq) => seq < 2);
    follow('M', () => true);
    follow('G', () => true);
    (await redis.next()).answer(null);
    const read = await redis.next();
    read.answer([
      ['T', entries(1, 3)],
      ['F', entries(1, 3)],
      ['M', [['1-0', ['m', 'x']], ['not-an-id', ['m', 'y']], ['3-0', ['m', 'z']]]],
      ['G', entries(1, 3)],
    ]);
    const after = await redis.next();
    expect(log).toEqual(['T1', 'F1', 'M1', 'G1', 'T2', 'T failed', 'F2', 'M failed', 'G2', 'G3']);
    // Only G is still followed.
    expect(Object.keys(asked(after))).toEqual(['G', 'bell']);
    expect(errors).toEqual([]);
    await reader.close();
  });
});
