/**
 * The link machine against a tiny model, on a virtual clock: for any sequence of drops, attempt
 * outcomes, server endings, closes and ticks, it is where the model says, starts each reconnect attempt
 * exactly when the delay table (or the server's `Retry-After`) says, never starts one once closing
 * began, aborts the one in flight when closing starts, and ends in `ended` after a close, telling so once.
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { createActor } from 'xstate';
import { type LinkAttemptOutcome, type LinkEmitted, type LinkEvent, linkMachine, linkStateOf } from '../../machines/link.js';
import { MAX_RETRY_AFTER_MS } from '../../machines/retry.js';
import { virtualClock } from '../../src/core/clock.js';
import { fcOptions } from './support.js';

type Step =
  | { readonly kind: 'drop'; readonly afterMs: number | undefined }
  | { readonly kind: 'answer'; readonly outcome: 'restored' | 'retry' | 'reject' | 'ended'; readonly afterMs: number | undefined }
  | { readonly kind: 'end' | 'close' | 'closed' }
  | { readonly kind: 'tick'; readonly ms: number };

const afterArb = fc.option(fc.integer({ min: 0, max: 2 * MAX_RETRY_AFTER_MS }), { nil: undefined, freq: 3 });

const stepArb: fc.Arbitrary<Step> = fc.oneof(
  { weight: 3, arbitrary: fc.record({ kind: fc.constant('drop' as const), afterMs: afterArb }) },
  {
    weight: 4,
    arbitrary: fc.record({ kind: fc.constant('answer' as const), outcome: fc.constantFrom('restored' as const, 'retry' as const, 'reject' as const, 'ended' as const), afterMs: afterArb }),
  },
  { weight: 1, arbitrary: fc.record({ kind: fc.constantFrom('end' as const, 'close' as const, 'closed' as const) }) },
  { weight: 4, arbitrary: fc.record({ kind: fc.constant('tick' as const), ms: fc.integer({ min: 0, max: 12_000 }) }) },
);

/** The model's state: the machine's, with `reconnecting` split into its two sub-states. */
type ModelState = 'open' | 'waiting' | 'attempting' | 'closing' | 'ended';

/** The table's delay for the `attempt`-th failure, or the server's bounded wait: written out, not imported. */
const expectedDelay = (table: readonly number[], attempt: number, afterMs: number | undefined): number =>
  afterMs !== undefined ? Math.min(afterMs, MAX_RETRY_AFTER_MS) : (table[Math.min(attempt, table.length) - 1] as number);

/** Lets promise callbacks run (the attempt's answer reaches the actor a few microtasks later). */
const settle = (): Promise<void> => new Promise((resolve) => setImmediate(resolve));

describe('the link machine', () => {
  it('follows the model for any drops, answers, endings, closes and ticks; after a close it is ended and never reconnected', async () => {
    await fc.assert(
      fc.asyncProperty(fc.array(fc.integer({ min: 0, max: 5_000 }), { minLength: 1, maxLength: 4 }), fc.array(stepArb, { maxLength: 40 }), async (table, steps) => {
        const clock = virtualClock(1_000);
        const attempts: { readonly at: number; readonly signal: AbortSignal; readonly answer: (outcome: LinkAttemptOutcome | Error) => void }[] = [];
        const actor = createActor(linkMachine, {
          clock,
          input: {
            delays: table,
            reconnect: (signal) =>
              new Promise<LinkAttemptOutcome>((resolve, reject) => {
                attempts.push({ at: clock.now(), signal, answer: (outcome) => (outcome instanceof Error ? reject(outcome) : resolve(outcome)) });
              }),
          },
        });
        const told: LinkEmitted['type'][] = [];
        actor.on('*', (emitted) => told.push(emitted.type));
        actor.start();
        // A finished actor takes no event (XState warns of each one sent): the transports check the same way.
        const send = (event: LinkEvent): void => {
          if (actor.getSnapshot().status === 'active') actor.send(event);
        };

        let state = 'open' as ModelState;
        let attempt = 0;
        let due = 0;
        let expectedAttempts = 0;
        const expectedTold: LinkEmitted['type'][] = [];
        let closeSent = false;
        let attemptsAtClose = 0;
        const wait = (afterMs: number | undefined): void => {
          attempt += 1;
          due = clock.now() + expectedDelay(table, attempt, afterMs);
          state = 'waiting';
        };
        const end = (): void => {
          state = 'ended';
          expectedTold.push('ended');
        };

        for (const step of steps) {
          switch (step.kind) {
            case 'drop':
              send({ type: 'DROPPED', ...(step.afterMs === undefined ? {} : { afterMs: step.afterMs }) });
              if (state === 'open') {
                expectedTold.push('dropped');
                wait(step.afterMs);
              } else if (state === 'attempting') wait(step.afterMs);
              else if (state === 'closing') end();
              break;
            case 'answer': {
              const current = attempts.at(-1);
              if (state !== 'attempting' || !current) break;
              const { outcome, afterMs } = step;
              current.answer(
                outcome === 'reject'
                  ? new Error('no route to host')
                  : outcome === 'retry'
                    ? { type: 'retry', ...(afterMs === undefined ? {} : { afterMs }) }
                    : outcome === 'ended'
                      ? { type: 'ended', ending: { reason: 'refused', cause: 'LOGIN_FAILURE' } }
                      : { type: 'restored' },
              );
              await settle();
              if (outcome === 'restored') {
                state = 'open';
                attempt = 0;
                expectedTold.push('restored');
              } else if (outcome === 'ended') end();
              else wait(outcome === 'retry' ? afterMs : undefined);
              break;
            }
            case 'end':
              send({ type: 'END' });
              if (state !== 'ended') end();
              break;
            case 'close':
              send({ type: 'CLOSE' });
              if (!closeSent) attemptsAtClose = attempts.length;
              closeSent = true;
              if (state === 'attempting') {
                // The attempt in flight is told to stop: it completes no reconnect.
                expect(attempts.at(-1)?.signal.aborted).toBe(true);
              }
              if (state === 'open' || state === 'waiting' || state === 'attempting') state = 'closing';
              break;
            case 'closed':
              send({ type: 'CLOSED' });
              if (state === 'closing') end();
              break;
            case 'tick':
              if (state === 'waiting' && due <= clock.now() + step.ms) {
                state = 'attempting';
                expectedAttempts += 1;
              }
              clock.advance(step.ms);
              break;
          }
          await settle();
          expect(linkStateOf(actor.getSnapshot().value)).toBe(state === 'waiting' || state === 'attempting' ? 'reconnecting' : state);
          if (state === 'waiting' || state === 'attempting') expect(actor.getSnapshot().matches({ reconnecting: state })).toBe(true);
          expect(attempts.length).toBe(expectedAttempts);
          if (step.kind === 'tick' && state === 'attempting' && attempts.at(-1)?.at !== undefined && attempts.length === expectedAttempts) {
            expect(attempts.at(-1)?.at).toBe(due);
          }
          if (closeSent) expect(attempts.length).toBe(attemptsAtClose);
          expect(told).toEqual(expectedTold);
        }

        // Closing at the end, whatever came before, always ends the link, and no attempt follows.
        const before = attempts.length;
        send({ type: 'CLOSE' });
        send({ type: 'CLOSED' });
        clock.advance(10 * MAX_RETRY_AFTER_MS);
        await settle();
        expect(actor.getSnapshot().value).toBe('ended');
        expect(actor.getSnapshot().status).toBe('done');
        expect(attempts.length).toBe(before);
        expect(told.filter((type) => type === 'ended')).toHaveLength(1);
        expect(clock.pendingTimers).toBe(0);
      }),
      fcOptions(300),
    );
  });

  it('waits the table delays after a drop, then a Retry-After in place of the next one, and starts over after a restore', async () => {
    const clock = virtualClock(0);
    const starts: number[] = [];
    let answer: (outcome: LinkAttemptOutcome) => void = () => undefined;
    const actor = createActor(linkMachine, {
      clock,
      input: {
        delays: [0, 100, 300],
        reconnect: () => {
          starts.push(clock.now());
          return new Promise<LinkAttemptOutcome>((resolve) => (answer = resolve));
        },
      },
    }).start();
    actor.send({ type: 'DROPPED' });
    clock.advance(0);
    answer({ type: 'retry' });
    await settle();
    clock.advance(100);
    answer({ type: 'retry', afterMs: 2_000 });
    await settle();
    clock.advance(1_999);
    expect(starts).toEqual([0, 100]);
    clock.advance(1);
    answer({ type: 'retry' });
    await settle();
    // The fourth failure: past the end of the table, the last delay repeats.
    clock.advance(300);
    answer({ type: 'restored' });
    await settle();
    expect(starts).toEqual([0, 100, 2_100, 2_400]);
    expect(actor.getSnapshot().value).toBe('open');
    actor.send({ type: 'DROPPED' });
    clock.advance(0);
    expect(starts.at(-1)).toBe(2_400);
    expect(starts).toHaveLength(5);
    actor.stop();
  });
});
