/**
 * A task: one transfer actor with its scheduling, its observables, its result and its cancellation.
 * The client creates tasks; this file owns their life from `pending` to a final state, and the cleanup
 * after it (terminating a cancelled upload, removing a partial download) before the result settles.
 * @module
 */
import { distinctUntilChanged, filter, map, Observable, ReplaySubject, shareReplay, takeWhile } from 'rxjs';
import { createActor } from 'xstate';
import {
  type TransferEffects,
  type TransferSnapshot,
  type TransferState,
  transferMachine,
  transferState,
} from '../machines/transfer.js';
import { onAbort } from './abort.js';
import type { Clock } from './clock.js';
import { type FerryError, toPublicError } from './errors.js';
import { Failure } from './failure.js';
import { type Progress, throttleByClock } from './progress.js';
import { type Admission, isRefusal, type Scheduler } from './scheduler.js';

/** An upload or a download in flight. Subscribing is optional; unsubscribing never cancels. */
export interface Task<T> {
  /** Unique within the client. */
  readonly requestId: number;
  /** `pending` → `transferring` → `done` | `cancelled` | `failed`; replays the current state, completes at the end. */
  readonly state$: Observable<TransferState>;
  /** Acknowledged bytes of the total: monotonic, throttled, ending at the total when `done`. Replays the latest. */
  readonly progress$: Observable<Progress>;
  /**
   * The outcome. Rejects with an `UploadError` or `DownloadError` carrying the code. It is pre-handled:
   * ignoring it never raises an unhandled rejection (the failure is on `state$` and here).
   */
  readonly result: Promise<T>;
  /** Cancels the task (same as the client's cancel by request ID). Rejects with code 2 if it is already over. */
  cancel(): Promise<void>;
}

/** Everything a task needs from its client. */
export interface TaskSpec<T> {
  readonly requestId: number;
  readonly operation: 'upload' | 'download';
  readonly effects: TransferEffects<T>;
  /** A failure known before starting (bad arguments, not logged in): the task fails without a slot. */
  readonly preflight: Failure | undefined;
  readonly signal: AbortSignal | undefined;
  readonly scheduler: Scheduler;
  readonly clock: Clock;
  readonly idleTimeoutMs: number;
  readonly progressIntervalMs: number;
  readonly retryDelays?: readonly number[];
  /** Undo after `cancelled` or `failed`; awaited before the result rejects. */
  readonly cleanup: () => Promise<void>;
  /** Cancel was refused: the error to reject `cancel()` with. */
  readonly notCancellable: () => FerryError;
}

/** A task, plus the hooks its client uses to interrupt it. */
export interface RunningTask<T> extends Task<T> {
  /** Ends the task `failed` with the failure, if it is not over (logout, session aborted). */
  interrupt(failure: Failure): void;
  /** Whether the task has reached a final state. */
  readonly finished: boolean;
}

const isFinal = (state: TransferState): boolean => state === 'done' || state === 'cancelled' || state === 'failed';

/** Creates and schedules a task. Never throws: every problem ends the task `failed`. */
export const startTask = <T>(spec: TaskSpec<T>): RunningTask<T> => {
  const actor = createActor(transferMachine, {
    input: {
      requestId: spec.requestId,
      idleTimeoutMs: spec.idleTimeoutMs,
      effects: spec.effects as TransferEffects<unknown>,
      ...(spec.retryDelays ? { retryDelays: spec.retryDelays } : {}),
    },
    clock: spec.clock,
  });
  const snapshots = new ReplaySubject<TransferSnapshot>(1);
  actor.subscribe({ next: (snapshot) => snapshots.next(snapshot) });

  const state$ = snapshots.pipe(
    map(transferState),
    distinctUntilChanged(),
    takeWhile((state) => !isFinal(state), true),
    shareReplay(1),
  );
  const progress$ = snapshots.pipe(
    takeWhile((snapshot) => snapshot.status === 'active', true),
    filter((snapshot) => snapshot.context.total !== undefined && transferState(snapshot) !== 'cancelled' && transferState(snapshot) !== 'failed'),
    map((snapshot): Progress => ({ currentSize: snapshot.context.progress, totalSize: snapshot.context.total ?? 0 })),
    distinctUntilChanged((a, b) => a.currentSize === b.currentSize && a.totalSize === b.totalSize),
    throttleByClock(spec.clock, spec.progressIntervalMs, (p) => p.currentSize === p.totalSize),
    shareReplay(1),
  );
  // Keep both hot from the start so late subscribers replay the latest value and nothing is missed.
  state$.subscribe();
  progress$.subscribe();

  let ended: () => void = () => undefined;
  const end = new Promise<void>((resolve) => {
    ended = resolve;
  });
  let admission: Admission | undefined;
  // Resolves once the slot this task held has been handed on: what `cancel()` and `result` wait for.
  let slotFreed: Promise<void> = Promise.resolve();
  let disposeSignal: () => void = () => undefined;
  let cancelReason: unknown;
  const result = new Promise<T>((resolve, reject) => {
    actor.subscribe({
      complete: () => {
        slotFreed = admission?.release() ?? Promise.resolve();
        ended();
        disposeSignal();
        const snapshot = actor.getSnapshot();
        const state = transferState(snapshot);
        if (state === 'done') {
          slotFreed.then(() => resolve(snapshot.output as T));
          return;
        }
        const failure =
          state === 'cancelled' ? Failure.interrupted('cancelled by the caller') : (snapshot.context.failure ?? Failure.unknown('failed'));
        const cause = state === 'cancelled' ? cancelReason : undefined;
        Promise.all([spec.cleanup(), slotFreed]).then(
          () => reject(toPublicError(spec.operation, failure, cause)),
          (cleanupError: unknown) => reject(toPublicError(spec.operation, failure, cause === undefined ? cleanupError : new AggregateError([cause, cleanupError]))),
        );
      },
    });
  });
  result.catch(() => undefined);

  const finished = (): boolean => isFinal(transferState(actor.getSnapshot()));
  const cancel = async (reason?: unknown): Promise<void> => {
    if (finished()) throw spec.notCancellable();
    cancelReason = reason;
    actor.send({ type: 'CANCEL' });
    await slotFreed;
  };

  actor.start();
  disposeSignal = onAbort(spec.signal, () => {
    // The caller asked through its signal; a task already over has nothing to cancel.
    if (!finished()) void cancel(spec.signal?.reason);
  });
  if (!finished()) {
    const submitted =
      spec.preflight ??
      spec.scheduler.submit({
        run: () => {
          actor.send({ type: 'START' });
          return end;
        },
      });
    if (isRefusal(submitted)) actor.send({ type: 'INTERRUPT', failure: submitted });
    else admission = submitted;
  }

  return {
    requestId: spec.requestId,
    state$,
    progress$,
    result,
    cancel: () => cancel(),
    interrupt: (failure) => actor.send({ type: 'INTERRUPT', failure }),
    get finished() {
      return finished();
    },
  };
};
