/**
 * The replay buffer of a session (`Replay`, issue 12 defect 3): bounded by count and by bytes, it keeps
 * exactly the newest events that fit — the newest alone when it is bigger than the byte bound — and
 * `since(n)` hands out those after `n`, oldest first. Checked against a model that keeps every event
 * and computes the fitting suffix from scratch after each push.
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { Replay } from '../../src/server/replay.js';
import { fcOptions } from '../properties/support.js';

interface Pushed {
  readonly seq: number;
  readonly item: string;
  readonly bytes: number;
}

/** The longest suffix of `all` with at most `events` items and `bytes` bytes, or the newest alone. */
const fittingSuffix = (all: readonly Pushed[], events: number, bytes: number): readonly Pushed[] => {
  let from = all.length;
  let total = 0;
  while (from > 0) {
    const next = all[from - 1] as Pushed;
    if (all.length - from + 1 > events || total + next.bytes > bytes) break;
    total += next.bytes;
    from--;
  }
  return all.slice(Math.min(from, Math.max(0, all.length - 1)));
};

/** Sizes around the byte bound: small ones, halves and exact fits (where `>` and `>=` differ), and oversized ones. */
const sizeArb = (bound: number): fc.Arbitrary<number> =>
  fc.oneof(
    fc.integer({ min: 0, max: Math.ceil(bound / 4) }),
    fc.constantFrom(0, Math.floor(bound / 2), Math.floor(bound / 3), bound),
    fc.integer({ min: bound, max: 3 * bound }),
  );

const operationArb = (bound: number) =>
  fc.oneof(
    { weight: 4, arbitrary: fc.record({ op: fc.constant('push' as const), gap: fc.integer({ min: 1, max: 3 }), bytes: sizeArb(bound) }) },
    { weight: 1, arbitrary: fc.record({ op: fc.constant('since' as const), back: fc.integer({ min: -2, max: 60 }) }) },
  );

describe('the replay buffer of a session', () => {
  it('keeps exactly the newest events within its count and byte bounds (the newest alone if it is bigger), and since(n) gives those after n in order', () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 1, max: 30 }),
        fc.integer({ min: 1, max: 2_000 }).chain((bytes) => fc.tuple(fc.constant(bytes), fc.array(operationArb(bytes), { maxLength: 500 }))),
        (events, [bytes, operations]) => {
          const replay = new Replay<string>({ events, bytes });
          const all: Pushed[] = [];
          let seq = 0;
          for (const step of operations) {
            if (step.op === 'push') {
              seq += step.gap;
              const pushed = { seq, item: `e${seq}`, bytes: step.bytes };
              all.push(pushed);
              replay.push(pushed.seq, pushed.item, pushed.bytes);
            }
            const kept = fittingSuffix(all, events, bytes);
            const held: [number, string][] = [];
            replay.since(-Infinity, (s, item) => held.push([s, item]));
            expect(held).toEqual(kept.map(({ seq: s, item }) => [s, item]));
            expect(replay.size).toBe(kept.length);
            expect(replay.bytes).toBe(kept.reduce((sum, k) => sum + k.bytes, 0));
            // The bounds themselves, as the issue states them.
            expect(replay.size).toBeLessThanOrEqual(events);
            if (replay.size > 1) expect(replay.bytes).toBeLessThanOrEqual(bytes);
            if (step.op === 'since') {
              const after = seq - step.back;
              const given: number[] = [];
              replay.since(after, (s) => given.push(s));
              expect(given).toEqual(kept.filter((k) => k.seq > after).map((k) => k.seq));
            }
          }
        },
      ),
      fcOptions(300),
    );
  });

  it('holds 1 MiB of 30 KiB events as 34 of them, whatever came before', () => {
    const replay = new Replay<string>({ events: 1_000, bytes: 1024 * 1024 });
    for (let seq = 1; seq <= 3_000; seq++) replay.push(seq, '', 30 * 1024);
    expect({ size: replay.size, bytes: replay.bytes }).toEqual({ size: 34, bytes: 34 * 30 * 1024 });
    const first: number[] = [];
    replay.since(0, (s) => first.push(s));
    expect(first[0]).toBe(2_967);
  });
});
