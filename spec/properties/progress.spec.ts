/**
 * Progress (DESIGN §3 "progress" and "cancel"): `currentSize` never decreases and never exceeds
 * `totalSize`, `totalSize` never changes, events are throttled on the injected clock, the last event of
 * a `done` task is complete, and nothing follows a cancel. Chunk pacing comes from the memory
 * transport's `gate`, which moves virtual time between chunks, so throttle timers fire in between.
 */
import { Subject } from 'rxjs';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import {
  DownloadError,
  memoryStore,
  type Progress,
  type Task,
  type TransferState,
  UploadError,
  virtualClock,
} from '../../src/index.js';
import { throttleByClock } from '../../src/client/progress.js';
import { chunksOf, fcOptions, nodeSha256, settle, world } from './support.js';

// ---- throttleByClock on its own ----------------------------------------------------------------

interface Tick {
  /** Virtual milliseconds before this value arrives. */
  readonly gap: number;
  readonly final: boolean;
}

type Log = { readonly kind: 'in' | 'out'; readonly index: number; readonly at: number; readonly final: boolean };

/** Feeds `ticks` through the operator on a virtual clock and logs arrivals and emissions in order. */
const runThrottle = (intervalMs: number, ticks: readonly Tick[], complete: boolean): Log[] => {
  const clock = virtualClock(1_000_000);
  const source = new Subject<{ index: number; final: boolean }>();
  const log: Log[] = [];
  source.pipe(throttleByClock(clock, intervalMs, (value) => value.final)).subscribe((value) => {
    log.push({ kind: 'out', index: value.index, at: clock.now(), final: value.final });
  });
  ticks.forEach(({ gap, final }, index) => {
    clock.advance(gap);
    log.push({ kind: 'in', index, at: clock.now(), final });
    source.next({ index, final });
  });
  if (complete) source.complete();
  // Long enough for any kept value to come out.
  clock.advance(intervalMs + 1);
  return log;
};

describe('throttleByClock', () => {
  const scenario = fc.record({
    intervalMs: fc.oneof(fc.constant(0), fc.integer({ min: 1, max: 500 })),
    ticks: fc.array(
      fc.record({
        gap: fc.oneof(fc.constant(0), fc.integer({ min: 1, max: 700 })),
        final: fc.oneof({ arbitrary: fc.constant(false), weight: 5 }, { arbitrary: fc.constant(true), weight: 1 }),
      }),
      { maxLength: 40 },
    ),
    complete: fc.boolean(),
  });

  it('emits at most once per interval, lets finals through at once, and always emits the newest value', () => {
    fc.assert(
      fc.property(scenario, ({ intervalMs, ticks, complete }) => {
        const log = runThrottle(intervalMs, ticks, complete);
        const outs = log.filter((entry) => entry.kind === 'out');
        const arrivedAt = new Map(log.filter((entry) => entry.kind === 'in').map((entry) => [entry.index, entry.at]));
        let newest = -1;
        let previous: Log | undefined;
        for (const entry of log) {
          if (entry.kind === 'in') {
            newest = entry.index;
            continue;
          }
          // Only the newest value is ever emitted, each at most once, in order.
          expect(entry.index).toBe(newest);
          if (previous) expect(entry.index).toBeGreaterThan(previous.index);
          const arrived = arrivedAt.get(entry.index) ?? Number.NaN;
          // Finals pass at once; others wait at most one interval.
          if (entry.final) expect(entry.at).toBe(arrived);
          expect(entry.at - arrived).toBeGreaterThanOrEqual(0);
          expect(entry.at - arrived).toBeLessThanOrEqual(intervalMs);
          // At most one emission per interval, unless the later one is final.
          if (previous && !entry.final) expect(entry.at - previous.at).toBeGreaterThanOrEqual(intervalMs);
          previous = entry;
        }
        // Every final arrives out.
        const finals = log.filter((entry) => entry.kind === 'in' && entry.final).map((entry) => entry.index);
        expect(outs.filter((entry) => entry.final).map((entry) => entry.index)).toEqual(finals);
        // A source that stays open always ends with its last value out (the trailing emission).
        if (!complete && ticks.length > 0) expect(outs.at(-1)?.index).toBe(ticks.length - 1);
      }),
      fcOptions(1000),
    );
  });

  it('emits nothing after the source completes or errors, nor after unsubscribing', () => {
    fc.assert(
      fc.property(scenario, fc.constantFrom('complete', 'error', 'unsubscribe'), ({ intervalMs, ticks }, end) => {
        const clock = virtualClock();
        const source = new Subject<number>();
        const outs: number[] = [];
        const subscription = source
          .pipe(throttleByClock(clock, intervalMs, () => false))
          .subscribe({ next: (value) => outs.push(value), error: () => undefined });
        ticks.forEach(({ gap }, index) => {
          clock.advance(gap);
          source.next(index);
        });
        const emitted = outs.length;
        if (end === 'complete') source.complete();
        else if (end === 'error') source.error(new Error('boom'));
        else subscription.unsubscribe();
        // No timer of the operator is left behind, and time moving on brings nothing out.
        expect(clock.pendingTimers).toBe(0);
        clock.advance(intervalMs + 1);
        expect(outs.length).toBe(emitted);
      }),
      fcOptions(1000),
    );
  });
});

// ---- tasks of a client -------------------------------------------------------------------------

type Direction = 'upload' | 'download';

interface Pace {
  readonly direction: Direction;
  /** For uploads: whether the source is a Blob rather than a Uint8Array. */
  readonly blob: boolean;
  readonly size: number;
  /** Bytes per chunk the hub reads for downloads (uploads move 64 KiB chunks). */
  readonly readChunkSize: number;
  /** Virtual milliseconds moved before each chunk, cycled. */
  readonly advances: readonly number[];
  /** Microtask turns the gate yields before letting a chunk go, cycled. */
  readonly yields: readonly number[];
  readonly progressIntervalMs: number;
}

const KIB = 1024;

const paceArb: fc.Arbitrary<Pace> = fc.record({
  direction: fc.constantFrom<Direction>('upload', 'download'),
  blob: fc.boolean(),
  size: fc.oneof(
    fc.integer({ min: 1, max: 4 * KIB }),
    fc.constantFrom(64 * KIB - 1, 64 * KIB, 64 * KIB + 1, 128 * KIB),
    fc.integer({ min: 1, max: 256 * KIB }),
  ),
  readChunkSize: fc.constantFrom(4 * KIB, 16 * KIB, 64 * KIB).chain((n) => fc.integer({ min: n, max: 2 * n })),
  advances: fc.array(fc.oneof(fc.constant(0), fc.integer({ min: 1, max: 400 })), { minLength: 1, maxLength: 8 }),
  yields: fc.array(fc.nat(3), { minLength: 1, maxLength: 4 }),
  progressIntervalMs: fc.oneof(fc.constant(0), fc.integer({ min: 1, max: 500 })),
});

/** A pace and the chunk before which the task is cancelled (always one that exists). */
const paceWithCancel = paceArb.chain((pace) => {
  const chunkSize = pace.direction === 'upload' ? 64 * KIB : pace.readChunkSize;
  const chunks = Math.ceil(pace.size / chunkSize);
  return fc.record({ pace: fc.constant(pace), cancelAt: fc.integer({ min: 0, max: chunks - 1 }) });
});

interface Seen extends Progress {
  readonly at: number;
}

interface Run {
  readonly events: Seen[];
  readonly clientWide: Progress[];
  readonly states: TransferState[];
  readonly outcome: { ok: true; value: unknown } | { ok: false; error: unknown };
  /** How many events had arrived when cancel() returned, if it was called. */
  readonly eventsAtCancel: number | undefined;
  /** Chunks the transport was asked to move after cancel() returned. */
  readonly chunksAfterCancel: number;
  readonly bytes: Uint8Array;
  /** Events after the result settled and time moved on by several intervals. */
  readonly eventsAfterSettle: number;
}

const patterned = (size: number): Uint8Array<ArrayBuffer> => {
  const bytes = new Uint8Array(size);
  for (let i = 0; i < size; i++) bytes[i] = (i * 7 + 3) & 0xff;
  return bytes;
};

/** One turn of the event loop: every pending promise callback runs (no time passes, virtual or real). */
const drain = (): Promise<void> => new Promise((resolve) => setImmediate(resolve));

/** Runs one upload or download paced by the gate; cancels it before chunk `cancelAt` if given. */
const runTask = async (pace: Pace, cancelAt: number | undefined): Promise<Run> => {
  const w = world({ store: memoryStore({ readChunkSize: pace.readChunkSize, createHasher: nodeSha256 }) });
  const bytes = patterned(pace.size);
  let chunk = 0;
  let cancel: (() => Promise<void>) | undefined;
  let eventsAtCancel: number | undefined;
  let chunksAtCancel: number | undefined;
  const events: Seen[] = [];
  const client = await w.client('alice', {
    client: { progressIntervalMs: pace.progressIntervalMs, createHasher: nodeSha256 },
    transport: {
      gate: async (step) => {
        if (step.direction !== pace.direction) return;
        const i = chunk++;
        w.clock.advance(pace.advances[i % pace.advances.length] ?? 0);
        for (let turn = pace.yields[i % pace.yields.length] ?? 0; turn > 0; turn--) await Promise.resolve();
        if (i === cancelAt && cancel) {
          await cancel();
          eventsAtCancel = events.length;
          chunksAtCancel = chunk;
        }
      },
    },
  });

  let task: Task<unknown>;
  if (pace.direction === 'upload') {
    task = client.createFileMessageByUploading(pace.blob ? new Blob([bytes]) : bytes);
  } else {
    const created = await w.hub.createUpload('alice', { size: pace.size, fileName: 'seed.bin' });
    await w.hub.appendUpload('alice', created.uploadId, 0, chunksOf([bytes]));
    task = client.downloadMediaToMemory(created.uploadId);
  }
  cancel = () => task.cancel();
  const states: TransferState[] = [];
  const clientWide: Progress[] = [];
  task.progress$.subscribe((p) => events.push({ ...p, at: w.clock.now() }));
  task.state$.subscribe((state) => states.push(state));
  (pace.direction === 'upload' ? client.uploadProgress$ : client.downloadProgress$).subscribe(({ requestId, ...p }) => {
    if (requestId === task.requestId) clientWide.push(p);
  });
  const outcome = await settle(task.result);
  const settledCount = events.length;
  // Let anything still in flight run out, and time move past any throttle timer.
  await drain();
  w.clock.advance(3 * pace.progressIntervalMs + 1);
  await drain();
  return {
    events,
    clientWide,
    states,
    outcome,
    eventsAtCancel,
    chunksAfterCancel: chunksAtCancel === undefined ? 0 : chunk - chunksAtCancel,
    bytes,
    eventsAfterSettle: events.length - settledCount,
  };
};

/** Violations of the progress rules, as sentences (empty when the run is well-formed). */
const progressViolations = (run: Run, pace: Pace): string[] => {
  const problems: string[] = [];
  let previous: Seen | undefined;
  run.events.forEach((event, i) => {
    if (event.totalSize !== pace.size) problems.push(`#${i}: totalSize ${event.totalSize}, expected ${pace.size}`);
    if (event.currentSize < (previous?.currentSize ?? 0)) problems.push(`#${i}: currentSize went back to ${event.currentSize}`);
    if (event.currentSize > event.totalSize) problems.push(`#${i}: currentSize ${event.currentSize} > totalSize`);
    // Throttled: one event per interval, except the final one, which always passes.
    if (previous && event.currentSize !== event.totalSize && event.at - previous.at < pace.progressIntervalMs) {
      problems.push(`#${i}: ${event.at - previous.at} ms after the previous event (interval ${pace.progressIntervalMs})`);
    }
    previous = event;
  });
  const clientWide = run.clientWide.map((p) => `${p.currentSize}/${p.totalSize}`).join();
  if (clientWide !== run.events.map((p) => `${p.currentSize}/${p.totalSize}`).join()) {
    problems.push('client-wide progress differs from task.progress$');
  }
  if (run.eventsAfterSettle > 0) problems.push(`${run.eventsAfterSettle} events after the result settled`);
  return problems;
};

describe('task progress', () => {
  it('is monotonic, bounded, throttled, of constant total, and ends at the total when the task is done', async () => {
    await fc.assert(
      fc.asyncProperty(paceArb, async (pace) => {
        const run = await runTask(pace, undefined);
        if (!run.outcome.ok) throw run.outcome.error;
        expect(run.states.at(-1)).toBe('done');
        expect(progressViolations(run, pace)).toEqual([]);
        expect(run.events.length).toBeGreaterThan(0);
        expect(run.events.at(-1)?.currentSize).toBe(pace.size);
        if (pace.direction === 'download') {
          const value = run.outcome.value as Uint8Array;
          expect(value.length === run.bytes.length && Buffer.compare(value, run.bytes) === 0).toBe(true);
        } else {
          expect((run.outcome.value as { size: number }).size).toBe(pace.size);
        }
      }),
      fcOptions(1000),
    );
  });

  it('stops at a cancel: no progress event after cancel() returns, and the task ends cancelled with code 6', async () => {
    await fc.assert(
      fc.asyncProperty(paceWithCancel, async ({ pace, cancelAt }) => {
        const run = await runTask(pace, cancelAt);
        expect(run.eventsAtCancel).toBeDefined();
        expect(run.states.at(-1)).toBe('cancelled');
        expect(run.outcome.ok).toBe(false);
        const error = (run.outcome as { error: unknown }).error;
        expect(error).toBeInstanceOf(pace.direction === 'upload' ? UploadError : DownloadError);
        expect((error as UploadError).code).toBe(6);
        expect(progressViolations(run, pace)).toEqual([]);
        expect(run.events.length).toBe(run.eventsAtCancel);
        // The cancel came before the last chunk moved, so completion is never reported.
        expect(run.events.filter((event) => event.currentSize >= event.totalSize)).toEqual([]);
      }),
      fcOptions(1000),
    );
  });

  // FAILS (seed 20261126) for downloads to memory. Shrunk counterexample: { direction: 'download',
  // size: 24577, readChunkSize: 4096, advances: [0], yields: [0], progressIntervalMs: 0 }, cancelAt 0
  // → all 6 remaining chunks are still moved after cancel() returned (and xstate logs "Event PROGRESS
  // was sent to stopped actor" for each). Uploads never fail it.
  // Cause: src/client/downloads.ts `open` starts the stream with the *open* actor's signal and `move` reuses
  // that stream (`started`) at offset 0 without ever looking at its own signal. The open actor ended
  // normally, so that signal never aborts: cancelling stops the move actor but not the loop, which keeps
  // reading, writing to the (discarded) memory sink, hashing and reporting progress to a stopped actor.
  it('stops moving bytes at a cancel: the transport is asked for no chunk after cancel() returns', async () => {
    await fc.assert(
      fc.asyncProperty(paceWithCancel, async ({ pace, cancelAt }) => {
        const run = await runTask(pace, cancelAt);
        expect(run.states.at(-1)).toBe('cancelled');
        expect(run.chunksAfterCancel).toBe(0);
      }),
      fcOptions(1000),
    );
  });
});
