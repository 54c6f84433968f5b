/**
 * The transfer machine: one upload or one download, from `pending` to exactly one of `done`,
 * `cancelled` or `failed`.
 *
 * - The effects (open, move, locate) come in the input, so the same machine drives every transport and
 *   specs can pass fakes.
 * - Each effect runs as an invoked promise actor, which owns an AbortController and aborts it when the
 *   actor stops. Leaving `transferring` stops them, so cancel, interrupt and timeout abort the I/O, and a
 *   result arriving late finds no state to take it.
 * - The idle timeout is a delayed transition on the injected clock, due when no byte has moved for
 *   `idleTimeoutMs` since the last PROGRESS (which only records the time; the check re-arms itself).
 * - Progress reaches the machine at most once per {@link PROGRESS_EVERY_MS} (the latest offset; one held
 *   back goes by a timer, or before the move's result): an event per 64 KiB chunk cost about 7% of a
 *   download's CPU.
 * - Retries after a dropped link are states (`backoff` → `locating` → `moving`), not a loop in a promise.
 * @module
 */
import { assign, type ActorRefFrom, fromPromise, type SnapshotFrom, setup } from 'xstate';
import type { Clock, TimerHandle } from '../src/core/clock.js';
import { Failure, failureOf } from '../src/core/failure.js';
import { DEFAULT_RETRY_DELAYS, retryDelay, shouldRetry } from './retry.js';
import type { Located, TransferEffects, TransferState } from '../src/core/states.js';

export type { Located, TransferEffects, TransferState } from '../src/core/states.js';

/** The most often the machine hears of bytes moving (on its clock). */
export const PROGRESS_EVERY_MS = 10;

/** What a transfer machine starts with. */
export interface TransferInput<Output = unknown> {
  readonly requestId: number;
  readonly idleTimeoutMs: number;
  /** The clock that drives the actor's delays (pass the same one to `createActor`). */
  readonly clock: Clock;
  readonly effects: TransferEffects<Output>;
  readonly retryDelays?: readonly number[];
}


interface TransferContext {
  readonly requestId: number;
  readonly idleTimeoutMs: number;
  readonly clock: Clock;
  /** When bytes last moved (or the transfer started): the idle timeout counts from here. */
  readonly lastActivity: number;
  readonly effects: TransferEffects<unknown>;
  readonly retryDelays: readonly number[];
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
}

/** What a transfer machine hears. */
export type TransferEvent =
  | { readonly type: 'START' }
  | { readonly type: 'CANCEL' }
  | { readonly type: 'INTERRUPT'; readonly failure: Failure }
  | { readonly type: 'PROGRESS'; readonly offset: number };

type Parent = { send(event: TransferEvent): void };

/**
 * The `onProgress` of one move: sends PROGRESS with the latest offset at most once per
 * {@link PROGRESS_EVERY_MS}; an offset held back is sent by a timer, or by `flush` (before the move's
 * result is seen). Nothing is sent once the move's signal aborted (the machine left `moving`).
 */
const coalescedProgress = (parent: Parent, clock: Clock, signal: AbortSignal) => {
  let sentAt = Number.NEGATIVE_INFINITY;
  let held: number | undefined;
  let timer: TimerHandle | undefined;
  const flush = (): void => {
    clock.clearTimeout(timer);
    timer = undefined;
    if (held === undefined || signal.aborted) return;
    const offset = held;
    held = undefined;
    sentAt = clock.now();
    parent.send({ type: 'PROGRESS', offset });
  };
  return {
    report(offset: number): void {
      held = offset;
      const wait = sentAt + PROGRESS_EVERY_MS - clock.now();
      if (wait <= 0) flush();
      else timer ??= clock.setTimeout(flush, wait);
    },
    flush,
  };
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
  actors: {
    open: fromPromise<{ readonly total: number }, { readonly effects: TransferEffects<unknown> }>(({ input, signal }) =>
      input.effects.open(signal),
    ),
    move: fromPromise<unknown, { readonly effects: TransferEffects<unknown>; readonly offset: number; readonly parent: Parent; readonly clock: Clock }>(
      ({ input, signal }) => {
        const progress = coalescedProgress(input.parent, input.clock, signal);
        return input.effects.move(input.offset, signal, progress.report).finally(progress.flush);
      },
    ),
    locate: fromPromise<Located<unknown>, { readonly effects: TransferEffects<unknown> }>(({ input, signal }) =>
      input.effects.locate(signal),
    ),
  },
  delays: {
    // Until the idle deadline as it stands now; PROGRESS only moves `lastActivity`, so bytes moving cost
    // no timer churn, and the check re-arms itself for what remains.
    idleCheck: ({ context }) => Math.max(0, context.lastActivity + context.idleTimeoutMs - context.clock.now()),
    retryDelay: ({ context }) => retryDelay(context.attempts, context.retryDelays),
  },
  guards: {
    idle: ({ context }) => context.clock.now() - context.lastActivity >= context.idleTimeoutMs,
    retryable: ({ context }, params: { error: unknown }) =>
      shouldRetry(failureOf(params.error), context.attempts + 1),
  },
  actions: {
    fail: assign((_, params: { error: unknown }) => ({ failure: failureOf(params.error) })),
    countAttempt: assign(({ context }) => ({ attempts: context.attempts + 1 })),
    recordProgress: assign(({ context }, params: { offset: number }) => ({
      lastActivity: context.clock.now(),
      offset: params.offset,
      progress: Math.min(Math.max(context.progress, params.offset), context.total ?? params.offset),
      attempts: 0,
    })),
  },
}).createMachine({
  id: 'transfer',
  context: ({ input }) => ({
    requestId: input.requestId,
    idleTimeoutMs: input.idleTimeoutMs,
    clock: input.clock,
    lastActivity: input.clock.now(),
    effects: input.effects,
    retryDelays: input.retryDelays ?? DEFAULT_RETRY_DELAYS,
    total: undefined,
    offset: 0,
    progress: 0,
    attempts: 0,
    failure: undefined,
    output: undefined,
  }),
  initial: 'pending',
  states: {
    pending: {
      on: {
        START: 'transferring',
        CANCEL: 'cancelled',
        INTERRUPT: { target: 'failed', actions: assign(({ event }) => ({ failure: event.failure })) },
      },
    },
    transferring: {
      type: 'parallel',
      entry: assign(({ context }) => ({ lastActivity: context.clock.now() })),
      on: {
        // Only bytes moving forward count: an empty chunk or a repeated offset is no sign of life.
        PROGRESS: {
          guard: ({ context, event }) => event.offset > context.offset,
          actions: { type: 'recordProgress', params: ({ event }) => ({ offset: event.offset }) },
        },
        CANCEL: 'cancelled',
        INTERRUPT: { target: 'failed', actions: assign(({ event }) => ({ failure: event.failure })) },
      },
      states: {
        work: {
          initial: 'opening',
          states: {
            opening: {
              invoke: {
                src: 'open',
                input: ({ context }) => ({ effects: context.effects }),
                onDone: { target: 'moving', actions: assign(({ event }) => ({ total: event.output.total })) },
                onError: [
                  {
                    guard: { type: 'retryable', params: ({ event }) => ({ error: event.error }) },
                    target: 'reopening',
                    actions: 'countAttempt',
                  },
                  { target: '#transfer.failed', actions: { type: 'fail', params: ({ event }) => ({ error: event.error }) } },
                ],
              },
            },
            // A dropped link before the transfer is even set up: wait, then open again from scratch.
            reopening: { after: { retryDelay: 'opening' } },
            moving: {
              invoke: {
                src: 'move',
                input: ({ context, self }) => ({ effects: context.effects, offset: context.offset, parent: self, clock: context.clock }),
                onDone: {
                  target: '#transfer.done',
                  actions: assign(({ context, event }) => ({ output: event.output, progress: context.total ?? context.progress })),
                },
                onError: [
                  {
                    guard: { type: 'retryable', params: ({ event }) => ({ error: event.error }) },
                    target: 'backoff',
                    actions: 'countAttempt',
                  },
                  { target: '#transfer.failed', actions: { type: 'fail', params: ({ event }) => ({ error: event.error }) } },
                ],
              },
            },
            backoff: { after: { retryDelay: 'locating' } },
            locating: {
              invoke: {
                src: 'locate',
                input: ({ context }) => ({ effects: context.effects }),
                onDone: [
                  {
                    guard: ({ event }) => 'done' in event.output,
                    target: '#transfer.done',
                    actions: assign(({ context, event }) => ({
                      output: 'done' in event.output ? event.output.done : undefined,
                      progress: context.total ?? context.progress,
                    })),
                  },
                  { target: 'moving', actions: assign(({ event }) => ({ offset: 'offset' in event.output ? event.output.offset : 0 })) },
                ],
                onError: [
                  {
                    guard: { type: 'retryable', params: ({ event }) => ({ error: event.error }) },
                    target: 'backoff',
                    actions: 'countAttempt',
                  },
                  { target: '#transfer.failed', actions: { type: 'fail', params: ({ event }) => ({ error: event.error }) } },
                ],
              },
            },
          },
        },
        watchdog: {
          initial: 'watching',
          states: {
            watching: {
              after: {
                idleCheck: [
                  {
                    guard: 'idle',
                    target: '#transfer.failed',
                    actions: assign(({ context }) => ({ failure: Failure.timeout(`no byte moved for ${context.idleTimeoutMs} ms`) })),
                  },
                  { target: 'watching', reenter: true },
                ],
              },
            },
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
