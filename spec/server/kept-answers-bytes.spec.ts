/**
 * The answers a WebSocket session keeps for resent calls are bounded by bytes as well as by count
 * (`KeptAnswers`, issue 12 defect 3: a session kept 1,000 answers echoing oversized IDs). For any
 * sequence of answers of any size: at most `limit` answers and `maxBytes` bytes are held (an answer
 * bigger than the bound alone), the oldest go first, and what is held is exactly the newest that fit.
 * `kept-answers.spec.ts` checks the count bound alone against a `Map`.
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { KeptAnswers, sizeOfAnswer } from '../../src/server/ws-sessions.js';
import type { ServerFrame } from '../../src/protocol/ws-frames.js';
import { fcOptions } from '../properties/support.js';

/** An answer with a string of `length` characters in it: a result, or an error quoting a long text. */
const answer = (id: number, length: number, error: boolean): ServerFrame =>
  error
    ? ({ type: 'error', id, message: 'x'.repeat(length), failure: { _tag: 'InvalidArgument', argument: 'peerId', detail: 'y'.repeat(length) } } as unknown as ServerFrame)
    : { type: 'result', id, value: { mediaId: 'z'.repeat(length) } };

/** What `sizeOfAnswer` adds to the length of a result's one string field. */
const RESULT_OVERHEAD = sizeOfAnswer(answer(0, 0, false));

describe('the answers a session keeps, by bytes', () => {
  it('holds the newest answers that fit in `limit` answers and `maxBytes` bytes (a bigger one alone), dropping the oldest first', () => {
    /** Answers of any size, and results that fill the bound exactly, by halves or by thirds (where `>` and `>=` differ). */
    const keepArb = (maxBytes: number) =>
      fc.oneof(
        fc.record({ length: fc.oneof(fc.nat(20), fc.nat(500), fc.nat(5_000)), error: fc.boolean() }),
        fc.record({ length: fc.constantFrom(...[1, 2, 3].map((parts) => Math.max(0, Math.floor(maxBytes / parts) - RESULT_OVERHEAD))), error: fc.constant(false) }),
      );
    const runArb = fc.integer({ min: 100, max: 8_000 }).chain((maxBytes) => fc.tuple(fc.constant(maxBytes), fc.array(keepArb(maxBytes), { maxLength: 300 })));
    fc.assert(
      fc.property(fc.integer({ min: 1, max: 40 }), runArb, (limit, [maxBytes, keeps]) => {
        const kept = new KeptAnswers(limit, maxBytes);
        /** Every answer kept so far, oldest first; call IDs are distinct, as a client numbers its calls. */
        const all: { id: number; frame: ServerFrame; bytes: number }[] = [];
        keeps.forEach(({ length, error }, n) => {
          const id = n + 1;
          const frame = answer(id, length, error);
          kept.keep(id, frame);
          all.push({ id, frame, bytes: sizeOfAnswer(frame) });
          // The model: the longest suffix within both bounds, or the newest alone.
          let from = all.length;
          let total = 0;
          while (from > 0 && all.length - from + 1 <= limit && total + (all[from - 1]?.bytes ?? 0) <= maxBytes) total += all[--from]?.bytes ?? 0;
          from = Math.min(from, all.length - 1);
          const held = all.slice(from);
          expect(kept.bytes).toBe(held.reduce((sum, a) => sum + a.bytes, 0));
          if (held.length > 1) expect(kept.bytes).toBeLessThanOrEqual(maxBytes);
          expect(held.length).toBeLessThanOrEqual(limit);
          expect(kept.get(id)).toBe(frame);
          for (const a of all) expect(kept.get(a.id)).toBe(a.id >= (held[0]?.id ?? Infinity) ? a.frame : undefined);
        });
      }),
      fcOptions(300),
    );
  });

  it('counts an answer by the strings in it, so one quoting a long ID costs what it quotes', () => {
    expect(sizeOfAnswer(answer(1, 10_000, false))).toBeGreaterThan(10_000);
    expect(sizeOfAnswer(answer(1, 10_000, true))).toBeGreaterThan(20_000);
    const kept = new KeptAnswers(1_000, 256 * 1024);
    for (let id = 1; id <= 1_000; id++) kept.keep(id, answer(id, 10_000, false));
    expect(kept.bytes).toBeLessThanOrEqual(256 * 1024);
    expect(kept.get(1_000)).toBeDefined();
    expect(kept.get(1)).toBeUndefined();
  });

  it('counts a record answer (member counts, online statuses) by its keys and string values', () => {
    const peers = Object.fromEntries(Array.from({ length: 256 }, (_, i) => [`peer-${'p'.repeat(50)}-${i}`, 'UNREACHABLE']));
    const frame: ServerFrame = { type: 'result', id: 1, value: { peers } };
    const text = JSON.stringify(peers).length;
    expect(sizeOfAnswer(frame)).toBeGreaterThan(text);
    const counts: ServerFrame = { type: 'result', id: 2, value: { counts: Object.fromEntries(Array.from({ length: 32 }, (_, i) => [`${'c'.repeat(60)}${i}`, i])) } };
    expect(sizeOfAnswer(counts)).toBeGreaterThan(32 * 60);
  });
});
