/**
 * A task: one transfer actor with its scheduling, its observables, its result and its cancellation.
 * The client creates tasks; this file owns their life from `pending` to a final state, and the cleanup
 * after it (terminating a cancelled upload, removing a partial download) before the result settles.
 * @module
 */
import { distinctUntilChanged, filter, map, Observable, takeWhile } from 'rxjs';
import { type AnyActorRef, createActor } from 'xstate';
import { type TransferSnapshot, transferMachine, transferState } from '../../machines/transfer.js';
import type { TransferEffects, TransferState } from '../core/states.js';
import { onAbort } from '../core/abort.js';
import { withDeadline } from './deadline.js';
import type { Clock } from '../core/clock.js';
import { toPublicError } from '../core/errors.js';
import { Failure } from '../core/failure.js';
import { type Progress, throttleByClock } from './progress.js';
import { type Admission, isRefusal, type Job, type Scheduler } from './scheduler.js';

/** An upload or a download in flight. Subscribing is optional; unsubscribing never cancels. */
export interface Task<T> {
  /** Unique within the client. */
  readonly requestId: number;
  /** `pending` → `transferring` → `done` | `cancelled` | `failed`; starts with the current state, completes at the end. */
  readonly state$: Observable<TransferState>;
  /**
   * Acknowledged bytes of the total: monotonic, throttled (per subscriber), ending at the total when
   * `done`. Starts with the current progress once the total is known; a cancelled or failed task emits
   * nothing more.
   */
  readonly progress$: Observable<Progress>;
  /**
   * The outcome. Rejects with an `UploadError` or `DownloadError` carrying the code. It is pre-handled:
   * ignoring it never raises an unhandled rejection (the failure is on `state$` and here).
   */
  readonly result: Promise<T>;
  /**
   * Cancels the task (same as the client's cancel by request ID). Resolves once the task has ended
   * `cancelled` and its slot is free; `result` rejects (code 6) after the cleanup — the upload terminated
   * on the hub, the temporary file removed. Rejects with code 2 if the task is already over.
   */
  cancel(): Promise<void>;
}

declare const TRANSFER_HOST: unique symbol;

/**
 * The parent of a client's transfer actors (`createTransferHost` in `transfer-host.ts`): the root of the
 * one XState system they all share (decision 121), which tells each task when its actor stops (decision
 * 128). Opaque here, so that the public declarations, which reach this module through {@link Task}, name
 * no XState type (decision 88: XState's declarations fail a consumer's `exactOptionalPropertyTypes`).
 */
export interface TransferHost {
  readonly [TRANSFER_HOST]: true;
  /** The host actor: the `parent` of every transfer actor of the client. */
  readonly parent: unknown;
  /** Tells `task` when the host's child `actorId` stops: done (a final state) or in error. */
  watch(actorId: string, task: HostedTask): void;
}

/** What the host tells the task of one of its children. */
export interface HostedTask {
  /** The actor reached a final state. */
  complete(): void;
  /** The actor crashed. */
  error(error: unknown): void;
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
  /** The client's transfer host (its clock is `clock`): the task's actor is its child. */
  readonly host: TransferHost;
  readonly clock: Clock;
  readonly idleTimeoutMs: number;
  readonly progressIntervalMs: number;
  readonly retryDelays?: readonly number[];
  /** Undo after `cancelled` or `failed` (terminate the upload, remove the temp file); awaited, with a deadline. */
  readonly cleanup: (signal: AbortSignal) => Promise<void>;
  /** How long cleanup may take before the result settles anyway. */
  readonly cleanupTimeoutMs: number;
  /**
   * Told once, as the result settles: the client drops the task from its registry. One function for all of
   * a client's tasks, so a queued task holds no closure of its own for it (decision 126).
   */
  readonly settled: (operation: 'upload' | 'download', requestId: number) => void;
}

/** A task, plus the hooks its client uses to interrupt it. */
export interface RunningTask<T> extends Task<T> {
  /** Ends the task `failed` with the failure, if it is not over (logout, session aborted). */
  interrupt(failure: Failure): void;
  /** Whether the task has reached a final state. */
  readonly finished: boolean;
  /** Cancels with a reason that becomes the `cause` of the result's error. */
  cancelWith(reason: unknown): Promise<void>;
}

const isFinal = (state: TransferState): boolean => state === 'done' || state === 'cancelled' || state === 'failed';

const RESOLVED: Promise<void> = Promise.resolve();

/** Pre-handles a result: one function for every task, not a closure each. */
const ignore = (): undefined => undefined;

type TransferActorRef = ReturnType<typeof createActor<typeof transferMachine>>;

/** The actor's snapshots: the current one first, then every change, completing when the actor does. */
const snapshotsOf = (actor: TransferActorRef): Observable<TransferSnapshot> =>
  new Observable<TransferSnapshot>((subscriber) => {
    subscriber.next(actor.getSnapshot());
    return actor.subscribe({
      next: (snapshot) => subscriber.next(snapshot),
      complete: () => subscriber.complete(),
      error: (error: unknown) => subscriber.error(error),
    });
  });

/** `state$` of a task, for one subscriber. */
const stateOf = (actor: TransferActorRef): Observable<TransferState> =>
  snapshotsOf(actor).pipe(
    map(transferState),
    distinctUntilChanged(),
    takeWhile((state) => !isFinal(state), true),
  );

/** `progress$` of a task, for one subscriber. */
const progressOf = (actor: TransferActorRef, clock: Clock, intervalMs: number): Observable<Progress> =>
  snapshotsOf(actor).pipe(
    takeWhile((snapshot) => snapshot.status === 'active', true),
    filter((snapshot) => snapshot.context.total !== undefined && transferState(snapshot) !== 'cancelled' && transferState(snapshot) !== 'failed'),
    map((snapshot): Progress => ({ currentSize: snapshot.context.progress, totalSize: snapshot.context.total ?? 0 })),
    distinctUntilChanged((a, b) => a.currentSize === b.currentSize && a.totalSize === b.totalSize),
    throttleByClock(clock, intervalMs, (p) => p.currentSize === p.totalSize),
  );

/**
 * One task: its actor, its streams, its slot and its result. A class, so a task costs one object and its
 * methods are shared, not a dozen closures per task (decision 113). The host tells it when its actor stops
 * (`complete`, `error`: decision 128), and it is its scheduler job (`start`).
 */
class TaskRun<T> implements RunningTask<T>, Job, HostedTask {
  readonly requestId: number;
  readonly state$: Observable<TransferState>;
  readonly progress$: Observable<Progress>;
  readonly result: Promise<T>;
  private readonly actor: TransferActorRef;
  private admission: Admission | undefined = undefined;
  // Set when the task ends; resolves once its slot has been handed on. `cancel()` waits for it, and the
  // result settles after it and after cleanup.
  private slotFreed: Promise<void> | undefined = undefined;
  private disposeSignal: (() => void) | undefined = undefined;
  private cancelReason: unknown = undefined;
  private resolve: ((value: T) => void) | undefined = undefined;
  private reject: ((error: unknown) => void) | undefined = undefined;

  constructor(private readonly spec: TaskSpec<T>) {
    this.requestId = spec.requestId;
    const actor = createActor(transferMachine, {
      input: {
        requestId: spec.requestId,
        idleTimeoutMs: spec.idleTimeoutMs,
        clock: spec.clock,
        effects: spec.effects as TransferEffects<unknown>,
        ...(spec.retryDelays ? { retryDelays: spec.retryDelays } : {}),
      },
      clock: spec.clock,
      parent: spec.host.parent as AnyActorRef,
    });
    this.actor = actor;
    // Cold streams over the actor, built when subscribed (decision 113): a subscriber gets the current
    // value first, then changes. Nothing is kept per task until someone subscribes, so a deep queue of
    // tasks costs little memory, and a task nobody watches does no stream work at all.
    this.state$ = new Observable<TransferState>((subscriber) => stateOf(actor).subscribe(subscriber));
    this.progress$ = new Observable<Progress>((subscriber) => progressOf(actor, spec.clock, spec.progressIntervalMs).subscribe(subscriber));
    this.result = new Promise<T>((resolve, reject) => {
      this.resolve = resolve;
      this.reject = reject;
    });
    this.result.catch(ignore);
    // Told by the host when the actor stops, not by a subscription of its own (decision 128).
    spec.host.watch(actor.id, this);

    actor.start();
    if (spec.preflight) {
      // Bad arguments and "not logged in" win over an already-aborted signal: the task fails, it is not cancelled.
      actor.send({ type: 'INTERRUPT', failure: spec.preflight });
      return;
    }
    if (spec.signal) {
      const { signal } = spec;
      this.disposeSignal = onAbort(signal, () => {
        // The caller asked through its signal; a task already over has nothing to cancel.
        if (!this.finished) void this.cancelWith(signal.reason);
      });
    }
    if (this.finished) return;
    const submitted = spec.scheduler.submit(this);
    if (isRefusal(submitted)) actor.send({ type: 'INTERRUPT', failure: submitted });
    else this.admission = submitted;
  }

  /** The scheduler gave the task its slot. */
  start(): void {
    this.actor.send({ type: 'START' });
  }

  /** The actor reached a final state. */
  complete(): void {
    this.finish(undefined);
  }

  /** The actor crashed. */
  error(error: unknown): void {
    this.finish(error ?? 'error');
  }

  get finished(): boolean {
    return this.slotFreed !== undefined;
  }

  cancel(): Promise<void> {
    return this.cancelWith(undefined);
  }

  async cancelWith(reason: unknown): Promise<void> {
    if (this.finished) throw toPublicError('cancel', Failure.notExist(`${this.spec.operation} request ${this.requestId} (already finished)`));
    this.cancelReason = reason;
    this.actor.send({ type: 'CANCEL' });
    // The host tells the task at once, unless it is busy telling another (its events wait their turn):
    // the slot must be free before this resolves either way. `finish` runs once.
    const { status, error } = this.actor.getSnapshot();
    if (status === 'done') this.complete();
    else if (status === 'error') this.error(error);
    await this.slotFreed;
  }

  interrupt(failure: Failure): void {
    this.actor.send({ type: 'INTERRUPT', failure });
  }

  /** Runs once, when the actor stops: releases the slot, cleans up, then settles the result. */
  private finish(crash: unknown): void {
    if (this.slotFreed) return;
    const slotFreed = this.admission?.release() ?? RESOLVED;
    this.slotFreed = slotFreed;
    this.disposeSignal?.();
    const { spec } = this;
    const snapshot = this.actor.getSnapshot();
    const state = crash === undefined ? transferState(snapshot) : 'failed';
    if (state === 'done') {
      void slotFreed.then(() => {
        spec.settled(spec.operation, this.requestId);
        this.resolve?.(snapshot.output as T);
      });
      return;
    }
    const failure =
      crash !== undefined
        ? Failure.unknown(`the transfer machine stopped: ${String(crash)}`)
        : state === 'cancelled'
          ? Failure.interrupted('cancelled by the caller')
          : (snapshot.context.failure ?? Failure.unknown('failed'));
    const cleaned = withDeadline(spec.clock, spec.cleanupTimeoutMs, spec.cleanup).then(
      () => undefined,
      (error: unknown) => error,
    );
    const cause = state === 'cancelled' ? this.cancelReason : crash;
    void Promise.all([cleaned, slotFreed]).then(([cleanupError]) => {
      const causes = [cause, cleanupError].filter((c) => c !== undefined);
      spec.settled(spec.operation, this.requestId);
      this.reject?.(toPublicError(spec.operation, failure, causes.length > 1 ? new AggregateError(causes) : causes[0]));
    });
  }
}

/** Creates and schedules a task. Never throws: every problem ends the task `failed`. */
export const startTask = <T>(spec: TaskSpec<T>): RunningTask<T> => new TaskRun(spec);
