/**
 * `IdMap` (`src/core/id-map.ts`) stands in for a `Map<number, V>` where IDs churn: any sequence of sets,
 * deletes and clears leaves it agreeing with a `Map` on every read, whether IDs fit its slots or spill
 * into its side map, and it lists its entries in ascending ID order.
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { IdMap } from '../../src/core/id-map.js';
import { fcOptions } from './support.js';

type Op = { readonly op: 'set'; readonly id: number; readonly value: string } | { readonly op: 'delete'; readonly id: number } | { readonly op: 'clear' };

const idArb = fc.nat({ max: 300 });
const opArb: fc.Arbitrary<Op> = fc.oneof(
  { weight: 6, arbitrary: fc.record({ op: fc.constant('set' as const), id: idArb, value: fc.string({ maxLength: 3 }) }) },
  { weight: 5, arbitrary: fc.record({ op: fc.constant('delete' as const), id: idArb }) },
  { weight: 1, arbitrary: fc.record({ op: fc.constant('clear' as const) }) },
);

describe('IdMap', () => {
  it('agrees with a Map after any sequence of sets, deletes and clears, and lists entries by ascending ID', () => {
    fc.assert(
      // 8 slots: most IDs collide, so the side map is exercised as much as the slots.
      fc.property(fc.constantFrom(8, 1024), fc.array(opArb, { maxLength: 200 }), fc.array(idArb, { maxLength: 20 }), (slots, ops, probes) => {
        const ids = new IdMap<string>(slots);
        const model = new Map<number, string>();
        for (const step of ops) {
          if (step.op === 'set') {
            ids.set(step.id, step.value);
            model.set(step.id, step.value);
          } else if (step.op === 'delete') {
            expect(ids.delete(step.id)).toBe(model.delete(step.id));
          } else {
            ids.clear();
            model.clear();
          }
          expect(ids.size).toBe(model.size);
        }
        for (const id of probes) {
          expect(ids.get(id)).toBe(model.get(id));
          expect(ids.has(id)).toBe(model.has(id));
        }
        expect(ids.snapshot()).toEqual([...model].sort((a, b) => a[0] - b[0]));
      }),
      fcOptions(500),
    );
  });

  it('keeps a value that is undefined as present', () => {
    const ids = new IdMap<undefined>();
    ids.set(7, undefined);
    expect(ids.has(7)).toBe(true);
    expect(ids.size).toBe(1);
    expect(ids.snapshot()).toEqual([[7, undefined]]);
  });

  it('refuses a slot count that is not a power of two', () => {
    expect(() => new IdMap(100)).toThrow(RangeError);
  });
});
