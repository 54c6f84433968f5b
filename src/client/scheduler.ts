/**
 * The scheduler: p-queue with a concurrency of `maxConcurrentTransfers`, shared by uploads and downloads,
 * first in first out. With `overflow: 'reject'` nothing waits: a task beyond the cap is refused at once.
 *
 * The scheduler counts admitted jobs and slots itself (decision 21), so a slot is free the moment a task
 * ends, and it keeps the jobs waiting for a slot in a queue of its own: p-queue is handed a job only once
 * a slot is free for it (decision 114). A job still waiting is dropped from that queue in O(1), with no
 * `AbortController` and no listener per queued job, and p-queue holds at most the running jobs and the
 * ones just handed to it. `release` resolves once the slot has been handed on: the next waiting job, if
 * any, has started.
 * @module
 */
import PQueue from 'p-queue';
import { Failure } from '../core/failure.js';

/** What to do with a transfer when all slots are busy. */
export type Overflow = 'queue' | 'reject';

/** A unit of work: `start` begins it; it holds its slot until its admission is released. */
export interface Job {
  readonly start: () => void;
}

/** An admitted job's hold on the scheduler. */
export interface Admission {
  /**
   * Call when the job's transfer reaches a final state. A job still waiting is dropped from the queue.
   * The slot counts as free at once; the promise resolves once the next waiting job, if any, has started
   * in it.
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

const WAITING = 0;
const HANDED = 1;
const RELEASED = 2;

const RESOLVED: Promise<void> = Promise.resolve();

/** Waiting jobs dropped from the front of the queue before the array is compacted. */
const COMPACT_AFTER = 1024;

/** One admitted job. A class, so a queued job costs one object and no closures. */
class Ticket implements Admission {
  state: typeof WAITING | typeof HANDED | typeof RELEASED = WAITING;
  /** Lets p-queue go of the job (resolves the promise p-queue runs), once it has started it. */
  finish: (() => void) | undefined = undefined;
  /** Told when p-queue starts the job: a release waiting for its slot to be handed on. */
  onStart: (() => void) | undefined = undefined;
  released: Promise<void> | undefined = undefined;

  constructor(
    private readonly slots: Slots,
    readonly job: Job,
  ) {}

  release(): Promise<void> {
    this.released ??= this.slots.release(this);
    return this.released;
  }
}

/** The counts and the waiting queue of one scheduler. */
class Slots {
  admitted = 0;
  /** Jobs handed to p-queue and not released. */
  private running = 0;
  /**
   * Jobs waiting for a slot, oldest first, from `head` on; released ones are skipped. A slot before `head`
   * is emptied when its ticket is taken: a taken ticket holds its job, which holds its whole finished
   * transfer (actor, snapshots, effects), and it must not live on until the array is next compacted.
   */
  private waiting: (Ticket | undefined)[] = [];
  private head = 0;
  private readonly queue: PQueue;

  constructor(private readonly concurrency: number) {
    this.queue = new PQueue({ concurrency });
  }

  admit(job: Job): Ticket {
    this.admitted++;
    const ticket = new Ticket(this, job);
    if (this.running < this.concurrency) this.hand(ticket);
    else this.waiting.push(ticket);
    return ticket;
  }

  release(ticket: Ticket): Promise<void> {
    const was = ticket.state;
    ticket.state = RELEASED;
    this.admitted--;
    if (was === WAITING) return RESOLVED;
    this.running--;
    ticket.finish?.();
    const next = this.next();
    if (!next) return RESOLVED;
    return new Promise<void>((resolve) => {
      next.onStart = resolve;
      this.hand(next);
    });
  }

  /** The oldest job still waiting, taken off the queue. */
  private next(): Ticket | undefined {
    while (this.head < this.waiting.length) {
      const ticket = this.waiting[this.head];
      this.waiting[this.head++] = undefined;
      if (this.head >= COMPACT_AFTER && this.head * 2 >= this.waiting.length) {
        this.waiting = this.waiting.slice(this.head);
        this.head = 0;
      }
      if (ticket?.state === WAITING) return ticket;
    }
    this.waiting.length = 0;
    this.head = 0;
    return undefined;
  }

  /** Gives a job its slot: p-queue starts it once it has let go of the job that held the slot. */
  private hand(ticket: Ticket): void {
    this.running++;
    ticket.state = HANDED;
    void this.queue.add(
      () =>
        new Promise<void>((resolve) => {
          const started = ticket.onStart;
          ticket.onStart = undefined;
          // Released after it was handed on but before p-queue ran it: its slot is already counted free.
          if (ticket.state === RELEASED) resolve();
          else {
            ticket.finish = resolve;
            ticket.job.start();
          }
          started?.();
        }),
    );
  }
}

/** A scheduler for one client. */
export const createScheduler = (concurrency: number, overflow: Overflow): Scheduler => {
  const slots = new Slots(concurrency);
  return {
    submit(job) {
      if (overflow === 'reject' && slots.admitted >= concurrency) return Failure.concurrencyLimit(concurrency);
      return slots.admit(job);
    },
    get admitted() {
      return slots.admitted;
    },
  };
};
