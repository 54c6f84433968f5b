/**
 * The transfer machine's open-then-move effect (decision 132), driven directly with fake effects on a
 * virtual clock: what happens when the open outlives a cancel, and when the small transfer's
 * announcement of its total meets the move's first report.
 */
import { describe, expect, it } from 'vitest';
import { createActor } from 'xstate';
import { PROGRESS_EVERY_MS, type TransferEffects, transferMachine, transferState } from '../../machines/transfer.js';
import { virtualClock } from '../../src/core/clock.js';

const drain = (): Promise<void> => new Promise((resolve) => setImmediate(resolve));

/** A promise and the function that resolves it. */
const deferred = <T>(): { promise: Promise<T>; resolve: (value: T) => void } => {
  let resolve: (value: T) => void = () => undefined;
  const promise = new Promise<T>((done) => {
    resolve = done;
  });
  return { promise, resolve };
};

const started = (effects: TransferEffects<string>, clock = virtualClock()) => {
  const actor = createActor(transferMachine, { input: { requestId: 1, idleTimeoutMs: 60_000, clock, effects }, clock }).start();
  actor.send({ type: 'START' });
  return actor;
};

describe('the transfer machine, opening and moving in one effect', () => {
  it('never starts the move of a transfer cancelled while it opened, even if the open ignores its signal', async () => {
    const opened = deferred<{ total: number }>();
    const moves: boolean[] = [];
    const actor = started({
      open: () => opened.promise,
      move: async (_offset, signal) => {
        moves.push(signal.aborted);
        return 'moved';
      },
      locate: async () => ({ offset: 0 }),
    });
    await drain();
    actor.send({ type: 'CANCEL' });
    opened.resolve({ total: 1_000_000 });
    await drain();
    expect(transferState(actor.getSnapshot())).toBe('cancelled');
    expect(moves).toEqual([]);
  });

  it('sends a small transfer\'s total one interval after the report that brought it, not at the open\'s announcement', async () => {
    const clock = virtualClock();
    const finish = deferred<string>();
    const actor = started(
      {
        open: async () => ({ total: 100 }),
        move: async (_offset, _signal, onProgress) => {
          await new Promise<void>((resolve) => clock.setTimeout(resolve, 5));
          onProgress(100);
          return finish.promise;
        },
        locate: async () => ({ offset: 0 }),
      },
      clock,
    );
    await drain();
    clock.advance(5);
    await drain();
    // The announcement was due at 10 ms; the total came at 5 ms and waits its own interval, to 15 ms.
    clock.advance(PROGRESS_EVERY_MS - 5);
    await drain();
    expect(actor.getSnapshot().context.progress).toBe(0);
    clock.advance(5);
    await drain();
    expect(actor.getSnapshot().context).toMatchObject({ progress: 100, total: 100 });
    finish.resolve('moved');
    await drain();
    expect(transferState(actor.getSnapshot())).toBe('done');
  });
});
