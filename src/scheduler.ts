/**
 * The scheduler: p-queue with a concurrency of `maxConcurrentTransfers`, shared by uploads and downloads,
 * first in first out. With `overflow: 'reject'` nothing waits: a task beyond the cap is refused at once.
 * @module
 */
import PQueue from 'p-queue';
import { Failure } from './failure.js';

/** What to do with a transfer when all slots are busy. */
export type Overflow = 'queue' | 'reject';

/** A unit of work: `run` resolves when the transfer has reached its final state (it never rejects). */
export interface Job {
  readonly run: () => Promise<void>;
  /** Aborting it removes the job if it is still queued. */
  readonly signal: AbortSignal;
}

/** Admits jobs to at most `concurrency` slots. */
export interface Scheduler {
  /** Queues or starts a job; returns the failure if it is refused. */
  submit(job: Job): Failure | undefined;
  /** Jobs running now. */
  readonly running: number;
  /** Jobs waiting for a slot. */
  readonly waiting: number;
}

/** A scheduler for one client. */
export const createScheduler = (concurrency: number, overflow: Overflow): Scheduler => {
  const queue = new PQueue({ concurrency });
  return {
    submit({ run, signal }) {
      if (overflow === 'reject' && queue.pending + queue.size >= concurrency) return Failure.concurrencyLimit(concurrency);
      queue.add(run, { signal }).catch((error: unknown) => {
        // The one expected rejection is p-queue dropping a job whose signal aborted (the task itself
        // has already ended `cancelled` through its machine); anything else is a bug and stays loud.
        if (!signal.aborted) throw error;
      });
      return undefined;
    },
    get running() {
      return queue.pending;
    },
    get waiting() {
      return queue.size;
    },
  };
};
