/**
 * Decision 124: the scheduler lets go of a job once it has started it. A job is its task, which holds its
 * whole transfer (actor, snapshots, effects, the source); with thousands queued, a started job kept by the
 * waiting queue until the queue was next compacted (half of it drained) kept up to half the finished
 * transfers of a deep queue alive: 126 MiB more heap at a quarter of 100,000 queued 16-byte uploads.
 * Checked with a full GC (the bench harness's `collectGarbage`) and `WeakRef`s to the jobs.
 */
import { describe, expect, it } from 'vitest';
import { collectGarbage } from '../../bench/harness.js';
import { createScheduler, isRefusal, type Job } from '../../src/client/scheduler.js';

/** A macrotask: `WeakRef` targets are kept to the end of the job that made or read them. */
const nextTask = (): Promise<void> => new Promise((resolve) => setTimeout(resolve, 0));

/** A job whose start is recorded, holding as much as a transfer does. */
const job = (started: number[], index: number): Job => {
  const payload = new Uint8Array(64 * 1024);
  return {
    start: () => {
      payload[0] = 1;
      started.push(index);
    },
  };
};

describe('a deep queue of transfers', () => {
  it('keeps no job the scheduler has started and released, while many still wait', async () => {
    const scheduler = createScheduler(1, 'queue');
    const started: number[] = [];
    const refs: WeakRef<Job>[] = [];
    const admissions = [];
    const WAITING = 200; // far fewer than the queue drains before it compacts (1,024)
    for (let i = 0; i < WAITING; i++) {
      const next = job(started, i);
      refs.push(new WeakRef(next));
      const admission = scheduler.submit(next);
      if (isRefusal(admission)) throw new Error(`refused: ${admission._tag}`);
      admissions.push(admission);
    }
    await nextTask();
    expect(started).toEqual([0]);
    // The first ten run and end in turn, as nine transfers would; each release hands the slot on.
    for (let i = 0; i < 10; i++) await admissions[i]?.release();
    expect(started).toEqual([...Array(11).keys()]);
    admissions.splice(0, 10); // the caller lets go of the finished ones (the client forgets its tasks)
    await nextTask();
    collectGarbage();
    await nextTask();
    const kept = refs.slice(0, 10).filter((ref) => ref.deref() !== undefined).length;
    expect(kept).toBe(0);
    // The job running now and the ones waiting are still there.
    expect(refs.slice(10).every((ref) => ref.deref() !== undefined)).toBe(true);
    expect(scheduler.admitted).toBe(WAITING - 10);
    for (const admission of admissions) await admission.release();
    expect(scheduler.admitted).toBe(0);
  });
});
