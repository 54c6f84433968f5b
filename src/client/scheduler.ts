/**
 * The scheduler: p-queue with a concurrency of `maxConcurrentTransfers`, shared by uploads and downloads,
 * first in first out. With `overflow: 'reject'` nothing waits: a task beyond the cap is refused at once.
 *
 * p-queue frees a slot a few microtasks after a job settles. So that a slot is free the moment a task
 * ends (for `'reject'` admission, and for whoever awaits a cancel or a result), the scheduler counts
 * admitted jobs itself, and `release` resolves only once p-queue has let go of the job, having started
 * the next one in its slot if any waits.
 * @module
 */
import PQueue from 'p-queue';
import { Failure } from '../core/failure.js';

/** What to do with a transfer when all slots are busy. */
export type Overflow = 'queue' | 'reject';

/** A unit of work: `run` resolves when the transfer has reached its final state (it never rejects). */
export interface Job {
  readonly run: () => Promise<void>;
}

/** An admitted job's hold on the scheduler. */
export interface Admission {
  /**
   * Call when the job's transfer reaches a final state, before `run` resolves. A job still waiting is
   * removed from the queue. The slot counts as free at once; the promise resolves once p-queue has let
   * go of the job.
   */
  release(): Promise<void>;
}

/** Admits jobs to at most `concurrency` slots. */
export interface Scheduler {
  /** Queues or starts a job; returns the failure if it is refused. */
  submit(job: Job): Admission | Failure;
  /** Jobs admitted and not yet released (running or waiting). */
  readonly admitted: number;
}

/** Whether `submit` refused. */
export const isRefusal = (result: Admission | Failure): result is Failure => '_tag' in result;

/** A scheduler for one client. */
export const createScheduler = (concurrency: number, overflow: Overflow): Scheduler => {
  const queue = new PQueue({ concurrency });
  let admitted = 0;
  let nextId = 0;

  /** Resolves at the first `next` event after which p-queue no longer runs the job `id`. */
  const letGo = (id: string): Promise<void> =>
    new Promise((resolve) => {
      const check = (): void => {
        if (queue.runningTasks.some((task) => task.id === id)) return;
        queue.off('next', check);
        resolve();
      };
      queue.on('next', check);
    });

  return {
    submit({ run }) {
      if (overflow === 'reject' && admitted >= concurrency) return Failure.concurrencyLimit(concurrency);
      admitted++;
      const id = `job-${nextId++}`;
      const dequeue = new AbortController();
      let started = false;
      queue
        .add(
          () => {
            started = true;
            return run();
          },
          { id, signal: dequeue.signal },
        )
        .catch((error: unknown) => {
          // The one expected rejection is the removal of a job released before it started; anything
          // else is a bug and stays loud.
          if (!dequeue.signal.aborted) throw error;
        });
      let released: Promise<void> | undefined;
      return {
        release() {
          if (released) return released;
          admitted--;
          if (started) released = letGo(id);
          else {
            dequeue.abort();
            released = Promise.resolve();
          }
          return released;
        },
      };
    },
    get admitted() {
      return admitted;
    },
  };
};
