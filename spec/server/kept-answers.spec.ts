/**
 * The answers a WebSocket session keeps for resent calls (`KeptAnswers`): the same as a `Map` that drops
 * its oldest entry beyond the limit, for any sequence of keeps and lookups.
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { KeptAnswers } from '../../src/server/ws-sessions.js';
import type { ServerFrame } from '../../src/protocol/ws-frames.js';
import { fcOptions } from '../properties/support.js';

const frame = (id: number, n: number): ServerFrame => ({ type: 'result', id, value: n });

describe('the answers a session keeps', () => {
  it('keeps the last `limit` answers by call ID, dropping the oldest first, like a Map would', () => {
    const operation = fc.oneof(
      fc.record({ op: fc.constant('keep' as const), id: fc.oneof(fc.nat(40), fc.nat(5_000), fc.nat(2 ** 31)) }),
      fc.record({ op: fc.constant('get' as const), id: fc.oneof(fc.nat(40), fc.nat(5_000)) }),
    );
    fc.assert(
      fc.property(fc.integer({ min: 0, max: 50 }), fc.array(operation, { maxLength: 400 }), (limit, operations) => {
        const kept = new KeptAnswers(limit);
        const model = new Map<number, ServerFrame>();
        operations.forEach(({ op, id }, n) => {
          if (op === 'get') return expect(kept.get(id)).toEqual(model.get(id));
          kept.keep(id, frame(id, n));
          if (limit === 0) return;
          model.set(id, frame(id, n));
          if (model.size > limit) model.delete(model.keys().next().value as number);
        });
        for (const id of new Set(operations.map(({ id }) => id))) expect(kept.get(id)).toEqual(model.get(id));
      }),
      fcOptions(500),
    );
  });
});
