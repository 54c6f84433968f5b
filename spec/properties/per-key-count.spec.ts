/**
 * The caps counted per key (connections per client address, WebSocket transfers per user): for any
 * sequence of takes and gives back, a key holds at most its limit, a take is refused exactly when the key
 * holds the limit, and keys that hold nothing are forgotten.
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { PerKeyCount } from '../../src/server/per-key-count.js';
import { fcOptions } from './support.js';

describe('a cap counted per key', () => {
  it('refuses a take exactly when the key holds the limit, and forgets keys that hold nothing, like a model', () => {
    const step = fc.record({ take: fc.boolean(), key: fc.constantFrom('10.0.0.1', '10.0.0.2', '::1') });
    fc.assert(
      fc.property(fc.integer({ min: 1, max: 5 }), fc.array(step, { maxLength: 200 }), (limit, steps) => {
        const count = new PerKeyCount(limit);
        const model = new Map<string, number>();
        for (const { take, key } of steps) {
          const held = model.get(key) ?? 0;
          if (take) {
            expect(count.acquire(key)).toBe(held < limit);
            if (held < limit) model.set(key, held + 1);
          } else if (held > 0) {
            // Only what was taken is given back (a socket closes once).
            count.release(key);
            if (held === 1) model.delete(key);
            else model.set(key, held - 1);
          }
          expect(count.of(key)).toBe(model.get(key) ?? 0);
          expect(count.keys).toBe(model.size);
        }
      }),
      fcOptions(300),
    );
  });

  it('never refuses when the limit is 0 (off)', () => {
    const count = new PerKeyCount(0);
    for (let i = 0; i < 10_000; i++) expect(count.acquire('proxy')).toBe(true);
  });
});
