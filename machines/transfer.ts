/**
 * The transfer machine: one upload or one download, from `pending` to exactly one of `done`,
 * `cancelled` or `failed`.
 *
 * - The effects (open, move, locate) come in the input, so the same machine drives every transport and
 *   specs can pass fakes.
 * - The machine owns its `AbortController` (decision 113). Entering `moving` or `locating` starts that
 *   effect with the signal, and its outcome comes back as an event (`MOVED`, `LOCATED`, `STEP_FAILED`).
 *   `moving` opens the transfer first if it is not open yet (creates the upload, stats the media): open
 *   and move are one effect and one event, as a transition is the engine's largest cost per transfer
 *   (decision 132); a failure says whether the open had succeeded, which picks the retry: `reopening`
 *   (start over) or `backoff` (resume). Leaving `transferring` while an effect is in flight aborts the signal, so
 *   cancel, interrupt and timeout abort the I/O, and a result arriving late is dropped before it reaches
 *   the machine. A failed attempt's signal is left as it is and the next attempt gets a fresh one, as
 *   each invoked actor had its own before. No child actor is spawned: an invoked promise actor per
 *   effect cost an actor, its snapshots and an event relayed to the parent, the larger part of the
 *   engine's cost per transfer.
 * - The idle timeout is a timer on the injected clock, armed on entering
 *   `transferring`, due when no byte has moved for `idleTimeoutMs` since the last PROGRESS, sends
 *   `IDLE_CHECK`, whose transition fails the transfer with TIMEOUT or re-arms the timer for what remains.
 *   PROGRESS only records the time, so bytes moving cost no timer churn. Leaving `transferring` clears it.
 *   The timers of all transfers on one clock share one clock timer ({@link transferTimers}).
 * - Progress reaches the machine at most once per {@link PROGRESS_EVERY_MS} (the latest offset; one held
 *   back goes by a timer, or with the move's failure; a move that succeeds ends at the total anyway): an
 *   event per 64 KiB chunk cost about 7% of a download's CPU. A move's first report goes at once, except
 *   the total itself, which waits an interval: the move's success nearly always comes first. Every
 *   `PROGRESS` carries the total; the open announces it (with the offset the move starts from) at once,
 *   or, for a small transfer ({@link SMALL_TRANSFER_BYTES}), an interval later unless bytes or the move's
 *   outcome came first: a small transfer nearly always ends within it and then costs no event for it.
 * - Retries after a dropped link are states (`backoff` → `locating` → `moving`), not a loop in a promise.
 * @module
 */
import { and, assign, type ActorRefFrom, setup, type SnapshotFrom } from 'xstate';
import { throwIfAborted } from '../src/core/abort.js';
import type { Clock } from '../src/core/clock.js';
import { type Deadline, Deadlines } from '../src/core/deadlines.js';
import { Failure, failureOf } from '../src/core/failure.js';
import { DEFAULT_RETRY_DELAYS, retryDelay, shouldRetry } from './retry.js';
import type { Located, TransferEffects, TransferState } from '../src/core/states.js';

export type { Located, TransferEffects, TransferState } from '../src/core/states.js';

/** The most often the machine hears of bytes moving (on its clock). */
export const PROGRESS_EVERY_MS = 10;

/**
 * A transfer with at most this many bytes to move once opened has its total announced an interval later,
 * not at once: its move nearly always ends first (one chunk of any transport), and saves the machine an
 * event. A larger one shows `{ currentSize: offset, totalSize }` as soon as it is open.
 */
export const SMALL_TRANSFER_BYTES = 64 * 1024;

/** What a transfer machine starts with. */
export interface TransferInput<Output = unknown> {
  readonly requestId: number;
  readonly idleTimeoutMs: number;
  /** The clock that drives the actor's delays (pass the same one to `createActor`). */
  readonly clock: Clock;
  readonly effects: TransferEffects<Output>;
  readonly retryDelays?: readonly number[];
}

/**
 * What a transfer machine hears. `START`, `CANCEL` and `INTERRUPT` come from its task; the others from
 * the effects it started and its timers. `PROGRESS` and `MOVED` carry the total (known once opened);
 * `STEP_FAILED` the progress the move held back, if any, and the total if the transfer had been opened.
 */
export type TransferEvent =
  | { readonly type: 'START' }
  | { readonly type: 'CANCEL' }
  | { readonly type: 'INTERRUPT'; readonly failure: Failure }
  | { readonly type: 'PROGRESS'; readonly offset: number; readonly total: number }
  | { readonly type: 'MOVED'; readonly output: unknown; readonly total: number }
  | { readonly type: 'LOCATED'; readonly located: Located<unknown> }
  | { readonly type: 'STEP_FAILED'; readonly error: unknown; readonly offset: number | undefined; readonly total: number | undefined }
  | { readonly type: 'IDLE_CHECK' };

/** Where the work sends what it hears: the actor. */
interface Receiver {
  send(event: TransferEvent): void;
}

/** Which of a transfer's two timers a {@link WorkTimer} is. */
const WATCHDOG = 0;
const HELD_PROGRESS = 1;

/** One of a transfer's timers: an entry of its clock's {@link transferTimers}, made once per transfer. */
class WorkTimer implements Deadline {
  at = 0;
  slot = -1;
  constructor(
    readonly work: Work,
    readonly kind: typeof WATCHDOG | typeof HELD_PROGRESS,
  ) {}

  get armed(): boolean {
    return this.slot >= 0;
  }
}

const timerQueues = new WeakMap<Clock, Deadlines<WorkTimer>>();

/**
 * The timers of every transfer on `clock` (the clock object itself: a wrapper is another queue), on one
 * clock timer (decision 138): a small transfer armed three Node timers (its watchdog, the announcement of
 * its total, its last progress) and cleared them again, a `Timeout` and a closure each. They keep the
 * process alive, as the transfer's own timers did: a stalled transfer still ends with its idle timeout.
 */
const transferTimers = (clock: Clock): Deadlines<WorkTimer> => {
  let queue = timerQueues.get(clock);
  if (queue === undefined) {
    queue = new Deadlines<WorkTimer>(clock, (timer) => timer.work.due(timer.kind), { keepAlive: true });
    timerQueues.set(clock, queue);
  }
  return queue;
};

/**
 * The work in flight of one transfer: its signal, the effect running, the watchdog and the progress held
 * back, with what never changes (the input) and when bytes last moved. Created with the actor's context
 * and never replaced by `assign`; only the machine's actions and the callbacks they start touch it. A
 * class, so a transfer costs one object, not a dozen closures; and what no observer reads stays out of
 * the context, which every `assign` copies (decision 121).
 */
class Work {
  readonly requestId: number;
  readonly idleTimeoutMs: number;
  readonly clock: Clock;
  readonly effects: TransferEffects<unknown>;
  readonly retryDelays: readonly number[];
  /** When bytes last moved (or the transfer started): the idle timeout counts from here. */
  lastActivity: number;
  /** The signal of the attempts since the last failed one; made by the first attempt that needs it. */
  private controller: AbortController | undefined = undefined;
  /** Whether an effect was started and has not settled. */
  private busy = false;
  private readonly timers: Deadlines<WorkTimer>;
  private readonly watchdog: WorkTimer;
  private readonly progressTimer: WorkTimer;
  /** Whether `progressTimer` is the open's announcement (a report replaces it): it sends unthrottled. */
  private announcing = false;
  /** The offset held back by the coalescing, if any, and when the last PROGRESS was sent. */
  private held: number | undefined = undefined;
  private sentAt = Number.NEGATIVE_INFINITY;
  /** The transfer's size, once opened (kept across failed attempts): a report of it waits, as the move's success brings it anyway. */
  private total: number | undefined = undefined;
  private receiver: Receiver | undefined = undefined;

  constructor(input: TransferInput) {
    this.requestId = input.requestId;
    this.idleTimeoutMs = input.idleTimeoutMs;
    this.clock = input.clock;
    this.effects = input.effects;
    this.retryDelays = input.retryDelays ?? DEFAULT_RETRY_DELAYS;
    this.lastActivity = input.clock.now();
    this.timers = transferTimers(input.clock);
    this.watchdog = new WorkTimer(this, WATCHDOG);
    this.progressTimer = new WorkTimer(this, HELD_PROGRESS);
  }

  /** Whether no byte has moved for the idle timeout. */
  idle(): boolean {
    return this.clock.now() - this.lastActivity >= this.idleTimeoutMs;
  }

  /** Entering `transferring`: the idle timeout counts from now, and the watchdog is armed for all of it. */
  begin(receiver: Receiver): void {
    this.lastActivity = this.clock.now();
    this.watch(receiver);
  }

  /**
   * Moves bytes from `offset` to the end, opening the transfer first if it is not open (then announcing
   * the total: see `announce`). Ends with `MOVED`.
   */
  move(receiver: Receiver, offset: number): void {
    this.sentAt = Number.NEGATIVE_INFINITY;
    this.start(
      receiver,
      async (signal) => {
        if (this.total === undefined) {
          const { total } = await this.effects.open(signal);
          // Cancelled, interrupted or timed out while opening (an open that ignores its signal): no move.
          throwIfAborted(signal);
          this.total = total;
          this.announce(offset, total);
        }
        return this.effects.move(offset, signal, (at) => this.report(at));
      },
      (output) => ({ type: 'MOVED', output, total: this.total ?? 0 }),
    );
  }

  /** Starts `run` on the transfer's signal; its outcome comes back as `done(value)` or `STEP_FAILED`. */
  start<T>(receiver: Receiver, run: (signal: AbortSignal) => Promise<T>, done: (value: T) => TransferEvent): void {
    this.receiver = receiver;
    this.controller ??= new AbortController();
    const { signal } = this.controller;
    this.busy = true;
    let running: Promise<T>;
    try {
      running = run(signal);
    } catch (error) {
      running = Promise.reject(error);
    }
    running.then(
      (value) => {
        // Leaving `transferring` while busy aborts: no state is there to take a late outcome.
        if (signal.aborted) return;
        this.settle();
        receiver.send(done(value));
      },
      (error: unknown) => {
        if (signal.aborted) return;
        const offset = this.held;
        this.settle();
        // The failed attempt keeps its signal as it is; the next attempt gets a fresh one.
        this.controller = undefined;
        receiver.send({ type: 'STEP_FAILED', error, offset, total: this.total });
      },
    );
  }

  /** The move's `onProgress`: at most one PROGRESS per interval, the latest offset, a held one by a timer. */
  report(offset: number): void {
    const signal = this.controller?.signal;
    if (!this.busy || !signal || signal.aborted) return;
    // The announcement's timer was set at the open: a report goes by its own interval, throttled.
    if (this.announcing) this.clearProgressTimer();
    this.held = offset;
    const now = this.clock.now();
    // The last offset is held for an interval even when it could go at once: the move's success (which
    // ends at the total) nearly always comes first, and saves the machine an event per transfer.
    const wait = offset === this.total ? PROGRESS_EVERY_MS : this.sentAt + PROGRESS_EVERY_MS - now;
    if (wait <= 0) this.sendHeld();
    else if (!this.progressTimer.armed) this.timers.schedule(this.progressTimer, now + wait);
  }

  /**
   * Just opened: the total goes with `offset` (where the move starts), at once, or for a small transfer an
   * interval from now unless a report or the outcome comes first. It is news, not progress: the move's
   * first report still goes at once.
   */
  private announce(offset: number, total: number): void {
    if (!this.busy) return;
    this.held = offset;
    if (total - offset > SMALL_TRANSFER_BYTES) {
      this.sendHeld(false);
      return;
    }
    this.clearProgressTimer();
    this.announcing = true;
    this.timers.schedule(this.progressTimer, this.clock.now() + PROGRESS_EVERY_MS);
  }

  /** Arms the idle watchdog for what remains of the idle timeout as it stands now. */
  watch(receiver: Receiver): void {
    this.receiver = receiver;
    this.timers.schedule(this.watchdog, Math.max(this.clock.now(), this.lastActivity + this.idleTimeoutMs));
  }

  /** One of the transfer's timers is due. */
  due(kind: typeof WATCHDOG | typeof HELD_PROGRESS): void {
    if (kind === WATCHDOG) this.receiver?.send({ type: 'IDLE_CHECK' });
    else this.sendHeld(!this.announcing);
  }

  /** Leaving `transferring`: aborts an effect in flight, clears the timers. */
  stop(): void {
    this.timers.cancel(this.watchdog);
    if (this.busy) this.controller?.abort();
    this.settle();
  }

  /** Sends the held offset, if any; `throttled` (a report) starts the next interval. */
  private sendHeld(throttled = true): void {
    this.clearProgressTimer();
    const offset = this.held;
    if (offset === undefined || !this.busy || this.controller?.signal.aborted) return;
    this.held = undefined;
    if (throttled) this.sentAt = this.clock.now();
    this.receiver?.send({ type: 'PROGRESS', offset, total: this.total ?? offset });
  }

  /** The effect settled: nothing in flight, no progress held. */
  private settle(): void {
    this.busy = false;
    this.held = undefined;
    this.clearProgressTimer();
  }

  private clearProgressTimer(): void {
    this.timers.cancel(this.progressTimer);
    this.announcing = false;
  }
}

interface TransferContext {
  /** Bytes in all, once opened. */
  readonly total: number | undefined;
  /** Where the next attempt starts. */
  readonly offset: number;
  /** The highest offset ever acknowledged: what progress shows, so it never goes back. */
  readonly progress: number;
  /** Consecutive transient failures since bytes last moved. */
  readonly attempts: number;
  readonly failure: Failure | undefined;
  readonly output: unknown;
  /** The input, the idle clock and the work in flight (mutable; see {@link Work}). */
  readonly work: Work;
}

/**
 * The context after bytes moved to `offset`, if that is forward; else nothing changes. Moving bytes also
 * restarts the idle timeout (in the work, outside the context).
 */
const progressed = (context: TransferContext, offset: number | undefined, total = context.total): Partial<TransferContext> => {
  if (offset === undefined || offset <= context.offset) return {};
  context.work.lastActivity = context.work.clock.now();
  return {
    offset,
    progress: Math.min(Math.max(context.progress, offset), total ?? offset),
    attempts: 0,
  };
};

/** The progress held back by a failed move, if the event carries one. */
const heldOffset = (event: TransferEvent): number | undefined => (event.type === 'STEP_FAILED' ? event.offset : undefined);

/** The error of a failed step. */
const stepError = (event: TransferEvent): unknown => (event.type === 'STEP_FAILED' ? event.error : undefined);

/**
 * The context after a failed step: the total it knew (the transfer had been opened), then the bytes the
 * move held back, if any (see {@link progressed}).
 */
const afterStep = (context: TransferContext, event: TransferEvent): Partial<TransferContext> => {
  const total = event.type === 'STEP_FAILED' ? (event.total ?? context.total) : context.total;
  return { total, ...progressed(context, heldOffset(event), total) };
};

/**
 * The transfer machine. Input: request ID, idle timeout and the effects; output (in `done`): what `move`
 * resolved with. `context.failure` says why it `failed`.
 */
export const transferMachine = setup({
  types: {
    context: {} as TransferContext,
    events: {} as TransferEvent,
    input: {} as TransferInput,
    output: {} as unknown,
  },
  delays: {
    retryDelay: ({ context }) => retryDelay(context.attempts, context.work.retryDelays),
  },
  guards: {
    idle: ({ context }) => context.work.idle(),
    retryable: ({ context, event }) => shouldRetry(failureOf(stepError(event)), context.attempts + 1),
    /** A failed step after the transfer was opened: it resumes (`backoff`), else it starts over (`reopening`). */
    opened: ({ event }) => event.type === 'STEP_FAILED' && event.total !== undefined,
  },
  actions: {
    move: ({ context, self }) => context.work.move(self, context.offset),
    locate: ({ context, self }) => {
      const { work } = context;
      work.start(self, (signal) => work.effects.locate(signal), (located) => ({ type: 'LOCATED', located }));
    },
    // The idle clock starts afresh on entering `transferring`, and the watchdog is armed for all of it.
    begin: ({ context, self }) => context.work.begin(self),
    // On a re-check: until the idle deadline as it stands now.
    watch: ({ context, self }) => context.work.watch(self),
    stop: ({ context }) => context.work.stop(),
    fail: assign(({ context, event }) => ({ ...afterStep(context, event), failure: failureOf(stepError(event)) })),
    // Bytes the failed move held back count first (they reset the count), then this failure.
    countAttempt: assign(({ context, event }) => {
      const moved = afterStep(context, event);
      return { ...moved, attempts: (moved.attempts ?? context.attempts) + 1 };
    }),
    // The first report after the open brings the total (at the offset the move started from).
    recordProgress: assign(({ context }, { offset, total }: { offset: number; total: number }) => ({ total, ...progressed(context, offset, total) })),
    interrupt: assign(({ event }) => ({ failure: event.type === 'INTERRUPT' ? event.failure : Failure.unknown('interrupted') })),
  },
}).createMachine({
  id: 'transfer',
  context: ({ input }) => ({
    total: undefined,
    offset: 0,
    progress: 0,
    attempts: 0,
    failure: undefined,
    output: undefined,
    work: new Work(input),
  }),
  initial: 'pending',
  states: {
    pending: {
      on: {
        START: 'transferring',
        CANCEL: 'cancelled',
        INTERRUPT: { target: 'failed', actions: 'interrupt' },
      },
    },
    transferring: {
      entry: 'begin',
      exit: 'stop',
      on: {
        // Only bytes moving forward count: an empty chunk or a repeated offset is no sign of life. The
        // open's announcement of the total is news, not life.
        PROGRESS: {
          guard: ({ context, event }) => event.offset > context.offset || context.total === undefined,
          actions: { type: 'recordProgress', params: ({ event }) => ({ offset: event.offset, total: event.total }) },
        },
        CANCEL: 'cancelled',
        INTERRUPT: { target: 'failed', actions: 'interrupt' },
        IDLE_CHECK: [
          {
            guard: 'idle',
            target: 'failed',
            actions: assign(({ context }) => ({ failure: Failure.timeout(`no byte moved for ${context.work.idleTimeoutMs} ms`) })),
          },
          { actions: 'watch' },
        ],
      },
      initial: 'moving',
      states: {
        // Opens the transfer if it is not open yet, then moves bytes from `context.offset`: one effect.
        moving: {
          entry: 'move',
          on: {
            MOVED: {
              target: '#transfer.done',
              actions: assign(({ event }) => ({ output: event.output, total: event.total, progress: event.total })),
            },
            STEP_FAILED: [
              { guard: and(['retryable', 'opened']), target: 'backoff', actions: 'countAttempt' },
              { guard: 'retryable', target: 'reopening', actions: 'countAttempt' },
              { target: '#transfer.failed', actions: 'fail' },
            ],
          },
        },
        // A dropped link before the transfer is even set up: wait, then open again from scratch.
        reopening: { after: { retryDelay: 'moving' } },
        backoff: { after: { retryDelay: 'locating' } },
        locating: {
          entry: 'locate',
          on: {
            LOCATED: [
              {
                guard: ({ event }) => 'done' in event.located,
                target: '#transfer.done',
                actions: assign(({ context, event }) => ({
                  output: 'done' in event.located ? event.located.done : undefined,
                  progress: context.total ?? context.progress,
                })),
              },
              { target: 'moving', actions: assign(({ event }) => ({ offset: 'offset' in event.located ? event.located.offset : 0 })) },
            ],
            STEP_FAILED: [
              { guard: 'retryable', target: 'backoff', actions: 'countAttempt' },
              { target: '#transfer.failed', actions: 'fail' },
            ],
          },
        },
      },
    },
    done: { type: 'final' },
    cancelled: { type: 'final' },
    failed: { type: 'final' },
  },
  output: ({ context }: { context: TransferContext }) => context.output,
});

/** A running transfer actor. */
export type TransferActor = ActorRefFrom<typeof transferMachine>;

/** A snapshot of a transfer. */
export type TransferSnapshot = SnapshotFrom<typeof transferMachine>;

/** The top-level state of a snapshot. */
export const transferState = (snapshot: TransferSnapshot): TransferState =>
  (typeof snapshot.value === 'string' ? snapshot.value : 'transferring') as TransferState;
