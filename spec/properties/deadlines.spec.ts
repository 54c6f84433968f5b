/**
 * `Deadlines` (src/core/deadlines.ts), the one timer behind every session's token expiry (decision 134),
 * against a model under virtual time: any sequence of schedules, moves, cancels and clock steps hands each
 * entry to `onDue` once, in the clock step that reaches its latest `at`, earliest first; a cancelled entry
 * never; and the clock never holds more than one timer for it.
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { virtualClock } from '../../src/core/clock.js';
import { type Deadline, Deadlines } from '../../src/core/deadlines.js';
import { MAX_TIMER_MS } from '../../src/core/limits.js';
import { fcOptions } from './support.js';

class Entry implements Deadline {
  at = 0;
  slot = -1;
  constructor(readonly name: number) {}
}

type Step =
  | { readonly kind: 'schedule'; readonly entry: number; readonly inMs: number }
  | { readonly kind: 'cancel'; readonly entry: number }
  | { readonly kind: 'advance'; readonly ms: number };

const ENTRIES = 12;

/** Schedules weigh most, so that heaps of many entries (and their reordering) are common. */
const step: fc.Arbitrary<Step> = fc.oneof(
  { weight: 5, arbitrary: fc.record({ kind: fc.constant('schedule' as const), entry: fc.nat(ENTRIES - 1), inMs: fc.oneof(fc.nat(100), fc.constant(0), fc.integer({ min: -50, max: -1 })) }) },
  { weight: 1, arbitrary: fc.record({ kind: fc.constant('cancel' as const), entry: fc.nat(ENTRIES - 1) }) },
  { weight: 2, arbitrary: fc.record({ kind: fc.constant('advance' as const), ms: fc.oneof(fc.nat(60), fc.constant(0)) }) },
);

describe('Deadlines: many deadlines on one timer', () => {
  it('hands every entry to onDue once, when the clock reaches its latest time, in due order; never a cancelled one', () => {
    fc.assert(
      fc.property(fc.array(step, { maxLength: 80 }), (steps) => {
        const clock = virtualClock(1_000);
        const fired: { name: number; at: number; now: number }[] = [];
        const deadlines = new Deadlines<Entry>(clock, (entry) => fired.push({ name: entry.name, at: entry.at, now: clock.now() }));
        const entries = Array.from({ length: ENTRIES }, (_, name) => new Entry(name));
        /** The model: when each queued entry is due. */
        const due = new Map<number, number>();
        for (const s of steps) {
          if (s.kind === 'schedule') {
            deadlines.schedule(entries[s.entry] as Entry, clock.now() + s.inMs);
            due.set(s.entry, clock.now() + s.inMs);
          } else if (s.kind === 'cancel') {
            deadlines.cancel(entries[s.entry] as Entry);
            due.delete(s.entry);
          } else {
            fired.length = 0;
            const until = clock.now() + s.ms;
            clock.advance(s.ms);
            const expected = [...due].filter(([, at]) => at <= until);
            for (const [name] of expected) due.delete(name);
            // Each due entry once, none early, and in due order (ties in any order).
            expect(fired.map((f) => f.name).sort((a, b) => a - b)).toEqual(expected.map(([name]) => name).sort((a, b) => a - b));
            for (const f of fired) {
              expect(f.at).toBe(expected.find(([name]) => name === f.name)?.[1]);
              expect(f.now).toBeGreaterThanOrEqual(f.at);
            }
            for (let i = 1; i < fired.length; i++) expect((fired[i] as { at: number }).at).toBeGreaterThanOrEqual((fired[i - 1] as { at: number }).at);
          }
          expect(deadlines.size).toBe(due.size);
          expect(clock.pendingTimers).toBe(due.size === 0 ? 0 : 1);
        }
      }),
      fcOptions(500),
    );
  });

  it('lets onDue schedule again, itself included: a renewal from inside the callback is kept', () => {
    const clock = virtualClock(0);
    const seen: number[] = [];
    const entry = new Entry(1);
    const deadlines = new Deadlines<Entry>(clock, (due) => {
      seen.push(clock.now());
      if (seen.length < 3) deadlines.schedule(due, clock.now() + 10);
    });
    deadlines.schedule(entry, 10);
    clock.advance(100);
    expect(seen).toEqual([10, 20, 30]);
    expect(deadlines.size).toBe(0);
    expect(clock.pendingTimers).toBe(0);
  });

  it('hands over the other due entries, and keeps its timer, when onDue throws', () => {
    const clock = virtualClock(0);
    const seen: number[] = [];
    const deadlines = new Deadlines<Entry>(clock, (due) => {
      seen.push(due.name);
      if (due.name === 1) throw new Error('a bug in onDue');
    });
    for (const name of [1, 2, 3]) deadlines.schedule(new Entry(name), 10 * name);
    expect(() => clock.advance(10)).toThrow('a bug in onDue');
    clock.advance(100);
    expect(seen).toEqual([1, 2, 3]);
    expect(clock.pendingTimers).toBe(0);
  });

  it('hands an entry that onDue schedules again for now at the next timer, not in the same loop', () => {
    // A clock whose timers run only when the spec says, one at a time.
    let now = 0;
    const timers: (() => void)[] = [];
    const clock = { now: () => now, setTimeout: (callback: () => void) => timers.push(callback), clearTimeout: () => undefined };
    const seen: number[] = [];
    const deadlines = new Deadlines<Entry>(clock, (due) => {
      seen.push(due.name);
      if (seen.length === 1) deadlines.schedule(due, clock.now());
    });
    deadlines.schedule(new Entry(1), 5);
    deadlines.schedule(new Entry(2), 5);
    now = 5;
    timers.shift()?.();
    expect(seen).toEqual([1, 2]);
    expect(deadlines.size).toBe(1);
    while (timers.length > 0) timers.shift()?.();
    expect(seen).toEqual([1, 2, 1]);
    expect(deadlines.size).toBe(0);
  });

  it('waits past the longest timer a platform takes by re-arming, without firing early', () => {
    const clock = virtualClock(0);
    const seen: number[] = [];
    const deadlines = new Deadlines<Entry>(clock, () => seen.push(clock.now()));
    const far = 3 * MAX_TIMER_MS + 5;
    deadlines.schedule(new Entry(1), far);
    clock.advance(2 * MAX_TIMER_MS);
    expect(seen).toEqual([]);
    expect(clock.pendingTimers).toBe(1);
    clock.advance(MAX_TIMER_MS + 5);
    expect(seen).toEqual([far]);
  });
});
