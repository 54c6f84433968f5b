/**
 * Retry policy (STYLE habit 10; machines/retry.ts): which failures are retried and how long to wait, as
 * pure functions over a delay table, and the transfer machine following that policy — resetting the
 * count whenever bytes move — under virtual time.
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { createActor } from 'xstate';
import { DEFAULT_RETRY_DELAYS, retryDelay, shouldRetry } from '../../machines/retry.js';
import { type TransferEffects, transferMachine, transferState } from '../../machines/transfer.js';
import { virtualClock } from '../../src/core/clock.js';
import { Failure, fault } from '../../src/core/failure.js';
import { fcOptions } from './support.js';

/** One failure of every kind. */
const EVERY_FAILURE: readonly Failure[] = [
  Failure.invalidArgument('source', 'empty'),
  Failure.sizeOverflow(2, 1),
  Failure.notExist('media'),
  Failure.timeout('no byte moved for 1 ms'),
  Failure.interrupted('cancelled'),
  Failure.concurrencyLimit(9),
  Failure.notLoggedIn(),
  Failure.alreadyLoggedIn(),
  Failure.invalidToken('bad'),
  Failure.tokenExpired(),
  Failure.invalidMessage('bad'),
  Failure.invalidUserId('u'),
  Failure.peerUnreachable('p'),
  Failure.notInChannel('c'),
  Failure.alreadyInChannel('c'),
  Failure.conflict('offset moved'),
  Failure.integrity('a', 'b'),
  Failure.network('dropped'),
  Failure.tooOften('messages', 180, 3_000, 1_000),
  Failure.limitExceeded('unfinished uploads', 20, 60_000),
  Failure.quotaExceeded(1, 2, 2),
  Failure.insufficientStorage('disk full'),
  Failure.rejected('another user'),
  Failure.unavailable('redis: connection refused'),
  Failure.unknown('?'),
];

/**
 * The transport contract: `Network` and `Conflict` mean "ask the offset and try again", as does `Unavailable`
 * (a service the server runs on is away for a moment); all else is final.
 */
const TRANSIENT = new Set(['Network', 'Conflict', 'Unavailable']);

const failureArb = fc.constantFrom(...EVERY_FAILURE);
const tableArb = fc.array(fc.integer({ min: 0, max: 60_000 }), { maxLength: 8 });
const tableOrDefault = fc.oneof(fc.constant(undefined), tableArb);
const attemptArb = fc.integer({ min: -3, max: 20 });

describe('the retry policy', () => {
  it('knows every failure kind (so none is forgotten here when one is added)', () => {
    expect(new Set(EVERY_FAILURE.map((f) => f._tag)).size).toBe(Object.keys(Failure).length);
  });

  it('retries only transient failures, for any attempt from 1 on (the idle watchdog, not a count, gives up)', () => {
    fc.assert(
      fc.property(failureArb, attemptArb, (failure, attempt) => {
        expect(shouldRetry(failure, attempt)).toBe(TRANSIENT.has(failure._tag) && attempt >= 1);
      }),
      fcOptions(1000),
    );
  });

  it('waits a non-negative delay taken from the table: its own entry, the first before 1, the last after the end', () => {
    fc.assert(
      fc.property(attemptArb, tableOrDefault, (attempt, table) => {
        const delays = table ?? DEFAULT_RETRY_DELAYS;
        const delay = table === undefined ? retryDelay(attempt) : retryDelay(attempt, table);
        expect(delay).toBeGreaterThanOrEqual(0);
        expect(Number.isFinite(delay)).toBe(true);
        if (delays.length === 0) expect(delay).toBe(0);
        else if (attempt < 1) expect(delay).toBe(delays[0]);
        else if (attempt > delays.length) expect(delay).toBe(delays.at(-1));
        else expect(delay).toBe(delays[attempt - 1]);
      }),
      fcOptions(1000),
    );
  });

  it('keeps retrying an endless run of transient failures, repeating the last delay once the table is used up', () => {
    fc.assert(
      fc.property(fc.constantFrom(Failure.network('dropped'), Failure.conflict('moved')), tableArb, fc.integer({ min: 1, max: 200 }), (failure, table, runs) => {
        const delays = table.length > 0 ? table : DEFAULT_RETRY_DELAYS;
        let waited = 0;
        for (let attempt = 1; attempt <= runs; attempt++) {
          expect(shouldRetry(failure, attempt)).toBe(true);
          waited += retryDelay(attempt, delays);
        }
        const inTable = delays.slice(0, runs).reduce((a, b) => a + b, 0);
        expect(waited).toBe(inTable + Math.max(0, runs - delays.length) * (delays.at(-1) ?? 0));
      }),
      fcOptions(1000),
    );
  });

  it('has a default table that starts at once and never shortens', () => {
    expect(DEFAULT_RETRY_DELAYS[0]).toBe(0);
    for (let i = 1; i < DEFAULT_RETRY_DELAYS.length; i++) {
      expect(DEFAULT_RETRY_DELAYS[i]).toBeGreaterThanOrEqual(DEFAULT_RETRY_DELAYS[i - 1] ?? 0);
    }
  });
});

// ---- the transfer machine following the policy -------------------------------------------------

/** What the fake link does next: move one byte, drop, report a moved offset, or fail for good. */
type Step = 'byte' | 'network' | 'conflict' | 'fatal';

const stepArb = fc.oneof(
  { arbitrary: fc.constant<Step>('byte'), weight: 4 },
  { arbitrary: fc.constant<Step>('network'), weight: 3 },
  { arbitrary: fc.constant<Step>('conflict'), weight: 2 },
  { arbitrary: fc.constant<Step>('fatal'), weight: 1 },
);

/**
 * The outcome the policy predicts for a script: transient failures are always retried (the idle
 * watchdog, far away here, is what ends a link that stays down), so only a fatal step fails the transfer.
 */
const predict = (script: readonly Step[]): { state: 'done' } | { state: 'failed'; tag: string } =>
  script.includes('fatal') ? { state: 'failed', tag: 'Integrity' } : { state: 'done' };

const drain = (): Promise<void> => new Promise((resolve) => setImmediate(resolve));

/** The failure a transient step throws. */
const transient = (step: 'network' | 'conflict'): Failure => (step === 'network' ? Failure.network('dropped') : Failure.conflict('moved'));

/**
 * Runs a transfer machine on `effects` to its end, or for `turns` turns: each lets the effects settle,
 * then one backoff of `delays` elapse. Resolves with the last snapshot.
 */
const runOut = async <T>(effects: TransferEffects<T>, clock: ReturnType<typeof virtualClock>, delays: readonly number[], turns: number) => {
  const actor = createActor(transferMachine, {
    input: { requestId: 1, idleTimeoutMs: 1e12, clock, effects: effects as TransferEffects<unknown>, retryDelays: delays },
    clock,
  }).start();
  actor.send({ type: 'START' });
  const longest = Math.max(0, ...delays) + 1;
  for (let turn = 0; turn < turns && actor.getSnapshot().status === 'active'; turn++) {
    await drain();
    clock.advance(longest);
  }
  await drain();
  return actor.getSnapshot();
};

describe('the transfer machine', () => {
  it('retries every transient failure, counting afresh after bytes move, and waits the delay of the attempt first', async () => {
    const scenario = fc.record({
      script: fc.array(stepArb, { maxLength: 24 }),
      delays: fc.array(fc.integer({ min: 0, max: 5_000 }), { minLength: 1, maxLength: 5 }),
    });
    await fc.assert(
      fc.asyncProperty(scenario, async ({ script, delays }) => {
        const clock = virtualClock();
        const total = script.filter((step) => step === 'byte').length + 1;
        let cursor = 0;
        let offset = 0;
        /** When each failure happened, with its attempt number, and when each move started. */
        const failedAt: { at: number; attempt: number }[] = [];
        const movedAt: number[] = [];
        let attempts = 0;
        const effects: TransferEffects<string> = {
          open: async () => ({ total }),
          async move(from, _signal, onProgress) {
            movedAt.push(clock.now());
            expect(from).toBe(offset);
            for (;;) {
              await Promise.resolve();
              const step = script[cursor++];
              if (step === undefined) {
                onProgress(total);
                return 'moved';
              }
              if (step === 'byte') {
                attempts = 0;
                onProgress(++offset);
                continue;
              }
              if (step !== 'fatal') failedAt.push({ at: clock.now(), attempt: ++attempts });
              throw fault(step === 'fatal' ? Failure.integrity('a', 'b') : transient(step));
            }
          },
          locate: async () => ({ offset }),
        };
        // Bounded: each turn either finishes, or lets one backoff elapse.
        const snapshot = await runOut(effects, clock, delays, 2 * script.length + 4);
        const expected = predict(script);
        expect(transferState(snapshot)).toBe(expected.state);
        if (expected.state === 'failed') expect(snapshot.context.failure?._tag).toBe(expected.tag);
        else expect(snapshot.output).toBe('moved');
        // Every retry started no earlier than its delay after the failure it follows.
        failedAt.forEach(({ at, attempt }, i) => {
          const next = movedAt[i + 1];
          if (next !== undefined) expect(next - at).toBeGreaterThanOrEqual(retryDelay(attempt, delays));
        });
      }),
      fcOptions(1000),
    );
  });

  it('starts over after transient failures before the transfer is open: opens again after the delay, never locates', async () => {
    const scenario = fc.record({
      failures: fc.array(fc.constantFrom('network' as const, 'conflict' as const), { maxLength: 6 }),
      delays: fc.array(fc.integer({ min: 0, max: 5_000 }), { minLength: 1, maxLength: 5 }),
      total: fc.integer({ min: 1, max: 1_000_000 }),
    });
    await fc.assert(
      fc.asyncProperty(scenario, async ({ failures, delays, total }) => {
        const clock = virtualClock();
        const openedAt: number[] = [];
        const failedAt: number[] = [];
        let located = 0;
        const effects: TransferEffects<string> = {
          async open() {
            openedAt.push(clock.now());
            await Promise.resolve();
            const step = failures[openedAt.length - 1];
            if (step === undefined) return { total };
            failedAt.push(clock.now());
            throw fault(transient(step));
          },
          async move(from, _signal, onProgress) {
            expect(from).toBe(0);
            onProgress(total);
            return 'moved';
          },
          locate: async () => {
            located++;
            return { offset: 0 };
          },
        };
        const snapshot = await runOut(effects, clock, delays, 2 * failures.length + 4);
        expect(transferState(snapshot)).toBe('done');
        expect(snapshot.output).toBe('moved');
        expect(snapshot.context).toMatchObject({ total, progress: total });
        expect(openedAt).toHaveLength(failures.length + 1);
        expect(located).toBe(0);
        failedAt.forEach((at, i) => expect((openedAt[i + 1] ?? Number.NaN) - at).toBeGreaterThanOrEqual(retryDelay(i + 1, delays)));
      }),
      fcOptions(300),
    );
  });
});
