/**
 * The node choice of a transport with several URLs (`transports/node-choice.ts`, decision 96), as
 * properties over any number of nodes and any sequence of answers and failures (fixed seed):
 * - the choice is always a valid node, and the count of failures in a row stays below the node count;
 * - an answer never moves the client (no thrashing back to a node that recovered);
 * - a failure of a node the client already left changes nothing (nine transfers dying with one node move
 *   it once);
 * - failures of the current node walk the list in order, once each, and after every node failed in a
 *   row the walk starts over from the first URL;
 * - with some nodes dead and at least one alive, a client that reports what it meets settles on a live
 *   node within one walk of the list (or, when a round of failures was under way, within the rest of
 *   that round and one walk from the first URL) and stays there.
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { afterAnswer, afterFailure, FIRST_CHOICE, type NodeChoice, nodeChoice } from '../../transports/node-choice.js';
import { fcOptions } from './support.js';

/** What a transport reports about a node. */
type Report = { readonly kind: 'answer' | 'failure'; readonly node: number };

const countArb = fc.integer({ min: 1, max: 7 });
const reportsArb = (count: number): fc.Arbitrary<Report[]> =>
  fc.array(fc.record({ kind: fc.constantFrom('answer' as const, 'failure' as const), node: fc.integer({ min: 0, max: count - 1 }) }), { maxLength: 60 });
const scenarioArb = countArb.chain((count) => fc.tuple(fc.constant(count), reportsArb(count)));

const apply = (choice: NodeChoice, report: Report, count: number): NodeChoice =>
  report.kind === 'answer' ? afterAnswer(choice, report.node) : afterFailure(choice, report.node, count);

/** Every choice reached from the first by `reports`, the first included. */
const walk = (count: number, reports: readonly Report[]): NodeChoice[] => {
  const choices = [FIRST_CHOICE];
  for (const report of reports) choices.push(apply(choices.at(-1) as NodeChoice, report, count));
  return choices;
};

describe('node choice', () => {
  it('is always a valid node, with fewer failures in a row than nodes', () => {
    fc.assert(
      fc.property(scenarioArb, ([count, reports]) => {
        for (const choice of walk(count, reports)) {
          expect(Number.isInteger(choice.current) && choice.current >= 0 && choice.current < count).toBe(true);
          expect(choice.failed >= 0 && choice.failed < Math.max(count, 1)).toBe(true);
        }
      }),
      fcOptions(500),
    );
  });

  it('never moves on an answer, and ignores a failure of a node it already left', () => {
    fc.assert(
      fc.property(scenarioArb, ([count, reports]) => {
        const choices = walk(count, reports);
        reports.forEach((report, i) => {
          const before = choices[i] as NodeChoice;
          const after = choices[i + 1] as NodeChoice;
          if (report.kind === 'answer') expect(after.current).toBe(before.current);
          if (report.kind === 'failure' && report.node !== before.current) expect(after).toEqual(before);
          if (report.kind === 'answer' && report.node === before.current) expect(after.failed).toBe(0);
        });
      }),
      fcOptions(500),
    );
  });

  it('walks the list in order on failures of the current node, each node once, then starts over from the first', () => {
    fc.assert(
      fc.property(scenarioArb, ([count, reports]) => {
        const start = walk(count, reports).at(-1) as NodeChoice;
        // The rest of the current round, from wherever the history left the choice.
        let choice = start;
        const visited: number[] = [];
        for (let i = start.failed; i < count; i++) {
          visited.push(choice.current);
          choice = afterFailure(choice, choice.current, count);
        }
        const expected = Array.from({ length: count - start.failed }, (_, i) => (start.current + i) % count);
        expect(visited).toEqual(expected);
        expect(choice).toEqual(FIRST_CHOICE);
        // A full round from the first: every node once, in the caller's order, and the first again.
        const round: number[] = [];
        for (let i = 0; i < count; i++) {
          round.push(choice.current);
          choice = afterFailure(choice, choice.current, count);
        }
        expect(round).toEqual(Array.from({ length: count }, (_, i) => i));
        expect(choice).toEqual(FIRST_CHOICE);
      }),
      fcOptions(300),
    );
  });

  it('settles on a live node within a walk of the list when some nodes are dead, and stays there', () => {
    fc.assert(
      fc.property(
        countArb.chain((count) =>
          fc.tuple(
            fc.constant(count),
            reportsArb(count),
            // Which nodes are dead: any subset but all of them.
            fc.array(fc.boolean(), { minLength: count, maxLength: count }).filter((dead) => dead.some((d) => !d)),
            fc.integer({ min: 1, max: 40 }),
          ),
        ),
        ([count, history, dead, steps]) => {
          const nodes = nodeChoice(Array.from({ length: count }, (_, i) => `http://node-${i}`));
          for (const report of history) {
            if (report.kind === 'answer') nodes.answered(report.node);
            else nodes.unreachable(report.node);
          }
          const visited: number[] = [];
          for (let step = 0; step < count + steps; step++) {
            const node = nodes.current;
            visited.push(node);
            // Each request goes to the current node and reports what it met.
            if (dead[node]) nodes.unreachable(node);
            else nodes.answered(node);
          }
          const settled = visited.findIndex((node) => !dead[node]);
          expect(settled).toBeGreaterThanOrEqual(0);
          // Failures in a row before the history ended: the rest of that round ends at the first URL.
          const { failed } = walk(count, history).at(-1) as NodeChoice;
          expect(settled).toBeLessThan(failed === 0 ? count : 2 * count - failed);
          // Once on a live node, every later request goes there.
          expect(new Set(visited.slice(settled))).toEqual(new Set([visited[settled]]));
        },
      ),
      fcOptions(300),
    );
  });

  it('never moves with one node', () => {
    fc.assert(
      fc.property(reportsArb(1), (reports) => {
        for (const choice of walk(1, reports)) expect(choice).toEqual(FIRST_CHOICE);
      }),
      fcOptions(100),
    );
  });
});
