/**
 * How the transfer machine hears of bytes moving: at most one PROGRESS per `PROGRESS_EVERY_MS` of its
 * clock, always with the latest offset, an offset held back arriving by a timer without further
 * reports, everything before the move's result, and nothing once the transfer left `moving`. Virtual
 * time; the effects report offsets on a schedule fast-check draws.
 */
import fc from 'fast-check';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { createActor } from 'xstate';
import { PROGRESS_EVERY_MS, type TransferEffects, transferMachine } from '../../machines/transfer.js';
import { virtualClock } from '../../src/index.js';
import { fcOptions } from './support.js';

const drain = (): Promise<void> => new Promise((resolve) => setImmediate(resolve));

/** Reports: virtual ms to wait before each (0: in the same instant as the previous). */
const scheduleArb = fc.array(fc.oneof(fc.constant(0), fc.integer({ min: 1, max: 3 * PROGRESS_EVERY_MS })), { minLength: 1, maxLength: 60 });

describe('progress events of the transfer machine', () => {
  afterEach(() => {
    vi.restoreAllMocks();
  });

  it('are coalesced to one per interval, latest offset first, none lost, none after a cancel', async () => {
    // XState warns of an event sent to a stopped machine: a PROGRESS after the cancel.
    const warn = vi.spyOn(console, 'warn');
    await fc.assert(
      fc.asyncProperty(scheduleArb, fc.boolean(), fc.boolean(), async (gaps, finish, cancel) => {
        const clock = virtualClock();
        const total = gaps.length + 1;
        let reported = 0;
        let release: () => void = () => undefined;
        const finished = new Promise<void>((resolve) => (release = resolve));
        const effects: TransferEffects<string> = {
          open: async () => ({ total }),
          async move(_from, signal, onProgress) {
            for (const gap of gaps) {
              if (gap > 0) await new Promise<void>((resolve) => clock.setTimeout(resolve, gap));
              if (signal.aborted) throw new Error('aborted');
              onProgress(++reported);
            }
            // Either completes, or stalls (as a link that stopped) until the spec lets it go.
            if (!finish) await finished;
            onProgress((reported = total));
            return 'moved';
          },
          locate: async () => ({ offset: reported }),
        };
        const actor = createActor(transferMachine, { input: { requestId: 1, idleTimeoutMs: 1e12, clock, effects }, clock }).start();
        // Every time the machine's progress changed, on the virtual clock.
        const changes: { at: number; progress: number }[] = [];
        actor.subscribe((snapshot) => {
          const progress = snapshot.context.progress;
          if (progress !== (changes.at(-1)?.progress ?? 0)) changes.push({ at: clock.now(), progress });
        });
        actor.send({ type: 'START' });
        for (const gap of gaps) {
          await drain();
          clock.advance(gap);
        }
        await drain();
        if (!finish) {
          // The stalled link's last offset arrives within one interval, with no further report.
          clock.advance(PROGRESS_EVERY_MS);
          await drain();
          expect(actor.getSnapshot().context.progress).toBe(reported);
          if (cancel) {
            actor.send({ type: 'CANCEL' });
            const before = changes.length;
            release();
            await drain();
            clock.advance(PROGRESS_EVERY_MS);
            await drain();
            // The move's last report came after the cancel: the machine never hears of it.
            expect(changes.length).toBe(before);
            expect(actor.getSnapshot().value).toBe('cancelled');
            return;
          }
          release();
          await drain();
        }
        const snapshot = actor.getSnapshot();
        expect(snapshot.value).toBe('done');
        expect(snapshot.context.progress).toBe(total);
        // Never two changes closer than the interval, except the last (the result brings it).
        const spaced = changes.slice(0, -1);
        for (let i = 1; i < spaced.length; i++) expect(spaced[i]!.at - spaced[i - 1]!.at).toBeGreaterThanOrEqual(PROGRESS_EVERY_MS);
        // Rising: a held offset is replaced by a later one, never sent after it.
        for (let i = 1; i < changes.length; i++) expect(changes[i]!.progress).toBeGreaterThan(changes[i - 1]!.progress);
      }),
      fcOptions(300),
    );
    expect(warn).not.toHaveBeenCalled();
  });
});
