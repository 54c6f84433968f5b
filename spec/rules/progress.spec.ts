/**
 * DESIGN §3 "progress": `currentSize` never decreases and never exceeds `totalSize`; throttled; the last
 * event of a `done` task has `currentSize === totalSize`. Throttling runs on the injected clock.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { type Progress, type Task, type TaskProgress } from '../../src/index.js';
import { Failure, fault } from '../../src/core/failure.js';
import type { ChunkStep } from '../../src/index.js';
import { PROGRESS_EVERY_MS, SMALL_TRANSFER_BYTES } from '../../machines/transfer.js';
import { advanceUntil, bytes, expectSameBytes, flush, gate, record, stateOf, until, uploaded, world, type World } from './support.js';

const CHUNK = 65_536;


/** Asserts the invariants of a progress sequence for a transfer of `total` bytes. */
const expectWellFormed = (values: readonly Progress[], total: number): void => {
  expect(values.length).toBeGreaterThan(0);
  let last = -1;
  for (const p of values) {
    expect(p.totalSize).toBe(total);
    expect(p.currentSize).toBeGreaterThanOrEqual(last);
    expect(p.currentSize).toBeLessThanOrEqual(p.totalSize);
    expect(p.currentSize).toBeGreaterThanOrEqual(0);
    last = p.currentSize;
  }
};

/** Records a task's progress with the virtual time of each event. */
const timed = (w: World, task: Task<unknown>): { at: number; p: Progress }[] => {
  const events: { at: number; p: Progress }[] = [];
  task.progress$.subscribe((p) => events.push({ at: w.clock.now(), p }));
  return events;
};

/** Lets `n` chunks through one at a time, moving the clock `stepMs` before each. */
const pace = async (w: World, g: ReturnType<typeof gate>, n: number, stepMs: number): Promise<void> => {
  for (let i = 0; i < n; i++) {
    await until(() => g.waiting > 0, `chunk ${i + 1} at the gate`);
    w.clock.advance(stepMs);
    g.releaseOne();
    await flush(3);
  }
};

describe('progress', () => {
  let w: World;
  afterEach(() => w.hub.close());

  it('an upload reports monotonic progress within the total, ending at the total', async () => {
    w = world();
    const client = await w.loggedIn();
    const task = client.createFileMessageByUploading(bytes(10 * CHUNK + 123));
    const progress = record(task.progress$);
    await task.result;
    expectWellFormed(progress.values, 10 * CHUNK + 123);
    expect(progress.values.at(-1)).toEqual({ currentSize: 10 * CHUNK + 123, totalSize: 10 * CHUNK + 123 });
    expect(progress.completed).toBe(true);
  });

  it('a download reports monotonic progress within the total, ending at the total', async () => {
    w = world();
    const client = await w.loggedIn();
    const mediaId = await uploaded(client, bytes(7 * CHUNK + 5));
    const task = client.downloadMediaToMemory(mediaId);
    const progress = record(task.progress$);
    await task.result;
    expectWellFormed(progress.values, 7 * CHUNK + 5);
    expect(progress.values.at(-1)).toEqual({ currentSize: 7 * CHUNK + 5, totalSize: 7 * CHUNK + 5 });
  });

  it('a 1-byte transfer ends with { currentSize: 1, totalSize: 1 }', async () => {
    w = world();
    const client = await w.loggedIn();
    const task = client.createFileMessageByUploading(new Uint8Array([1]));
    const progress = record(task.progress$);
    await task.result;
    expect(progress.values.at(-1)).toEqual({ currentSize: 1, totalSize: 1 });
  });

  it('is throttled to one event per interval, with the final one passing at once', async () => {
    const g = gate(false);
    w = world({ gate: g.fn });
    const client = await w.loggedIn('alice', { progressIntervalMs: 100 });
    const task = client.createFileMessageByUploading(bytes(20 * CHUNK));
    const events = timed(w, task);
    // One chunk every 30 ms: 20 acknowledgements in 600 ms.
    await pace(w, g, 20, 30);
    await task.result;
    expectWellFormed(events.map((e) => e.p), 20 * CHUNK);
    expect(events.at(-1)!.p.currentSize).toBe(20 * CHUNK);
    const spaced = events.slice(0, -1);
    for (let i = 1; i < spaced.length; i++) expect(spaced[i]!.at - spaced[i - 1]!.at).toBeGreaterThanOrEqual(100);
    expect(events.length).toBeLessThan(20);
    expect(events.length).toBeGreaterThanOrEqual(5);
  });

  it('progressIntervalMs sets the interval of the throttle', async () => {
    const g = gate(false);
    w = world({ gate: g.fn });
    const client = await w.loggedIn('alice', { progressIntervalMs: 250 });
    const task = client.createFileMessageByUploading(bytes(20 * CHUNK));
    const events = timed(w, task);
    await pace(w, g, 20, 30);
    await task.result;
    const spaced = events.slice(0, -1);
    for (let i = 1; i < spaced.length; i++) expect(spaced[i]!.at - spaced[i - 1]!.at).toBeGreaterThanOrEqual(250);
  });

  describe('a transfer shows its total before any byte moves', () => {
    // Open and move are one effect (decision 132): the open announces the total at once, or for a small
    // transfer an interval later unless bytes or the outcome come first. Here the first chunk waits.
    const cases = [
      { name: 'at once when opened, for more than SMALL_TRANSFER_BYTES', size: 3 * CHUNK, waitMs: 0 },
      { name: 'an interval after opening, for SMALL_TRANSFER_BYTES or less', size: SMALL_TRANSFER_BYTES, waitMs: PROGRESS_EVERY_MS },
    ];
    for (const { name, size, waitMs } of cases) {
      it(name, async () => {
        const g = gate(true);
        w = world({ gate: g.fn });
        const client = await w.loggedIn('alice', { progressIntervalMs: 0 });
        const mediaId = await uploaded(client, bytes(size));
        const starts: readonly (() => Task<unknown>)[] = [() => client.createFileMessageByUploading(bytes(size)), () => client.downloadMediaToMemory(mediaId)];
        for (const start of starts) {
          g.close();
          const task = start();
          const progress = record(task.progress$);
          await until(() => g.waiting > 0, 'chunk 1 at the gate');
          await flush(3);
          if (waitMs > 0) {
            expect(progress.values).toEqual([]);
            w.clock.advance(waitMs - 1);
            await flush(3);
            expect(progress.values).toEqual([]);
            w.clock.advance(1);
            await flush(3);
          }
          expect(progress.values).toEqual([{ currentSize: 0, totalSize: size }]);
          expect(stateOf(task)).toBe('transferring');
          g.open();
          await task.result;
          expect(progress.values.at(-1)).toEqual({ currentSize: size, totalSize: size });
        }
      });
    }
  });

  it('a throttled value is not lost when the transfer pauses: it comes when the interval ends', async () => {
    const g = gate(false);
    w = world({ gate: g.fn });
    const client = await w.loggedIn('alice', { progressIntervalMs: 100 });
    const task = client.createFileMessageByUploading(bytes(4 * CHUNK));
    const progress = record(task.progress$);
    await pace(w, g, 2, 10);
    await until(() => g.waiting > 0, 'chunk 3 at the gate');
    const shown = progress.values.at(-1)?.currentSize ?? 0;
    expect(shown).toBeLessThan(2 * CHUNK);
    w.clock.advance(100);
    expect(progress.values.at(-1)).toEqual({ currentSize: 2 * CHUNK, totalSize: 4 * CHUNK });
    g.open();
    await task.result;
  });

  it('the final event of a done task comes even inside the throttle interval', async () => {
    w = world();
    const client = await w.loggedIn('alice', { progressIntervalMs: 60_000 });
    const task = client.createFileMessageByUploading(bytes(5 * CHUNK));
    const progress = record(task.progress$);
    await task.result;
    expect(progress.values.at(-1)).toEqual({ currentSize: 5 * CHUNK, totalSize: 5 * CHUNK });
    expect(stateOf(task)).toBe('done');
  });

  it('the client-wide streams carry each task’s progress with its request ID', async () => {
    w = world();
    const client = await w.loggedIn();
    const uploads = record(client.uploadProgress$);
    const downloads = record(client.downloadProgress$);
    const up = client.createFileMessageByUploading(bytes(3 * CHUNK));
    const message = await up.result;
    const down = client.downloadMediaToMemory(message.mediaId);
    await down.result;
    const byTask = (values: readonly TaskProgress[], requestId: number) => values.filter((v) => v.requestId === requestId);
    expect(byTask(uploads.values, up.requestId).length).toBe(uploads.values.length);
    expectWellFormed(uploads.values, 3 * CHUNK);
    expect(uploads.values.at(-1)).toEqual({ requestId: up.requestId, currentSize: 3 * CHUNK, totalSize: 3 * CHUNK });
    expect(byTask(downloads.values, down.requestId).length).toBe(downloads.values.length);
    expect(downloads.values.at(-1)).toEqual({ requestId: down.requestId, currentSize: 3 * CHUNK, totalSize: 3 * CHUNK });
  });

  it('parallel tasks each report their own monotonic sequence on the client-wide stream', async () => {
    w = world();
    const client = await w.loggedIn('alice', { progressIntervalMs: 0 });
    const all = record(client.uploadProgress$);
    const sizes = [3 * CHUNK, 5 * CHUNK + 1, CHUNK - 1];
    const tasks = sizes.map((n, i) => client.createFileMessageByUploading(bytes(n, i)));
    await Promise.all(tasks.map((t) => t.result));
    tasks.forEach((task, i) => {
      const mine = all.values.filter((v) => v.requestId === task.requestId);
      expectWellFormed(mine, sizes[i]!);
      expect(mine.at(-1)!.currentSize).toBe(sizes[i]);
    });
  });

  it('a late subscriber gets the latest progress replayed', async () => {
    w = world();
    const client = await w.loggedIn();
    const task = client.createFileMessageByUploading(bytes(2 * CHUNK));
    await task.result;
    const late = record(task.progress$);
    expect(late.values).toEqual([{ currentSize: 2 * CHUNK, totalSize: 2 * CHUNK }]);
  });

  it('unsubscribing from progress does not cancel the transfer', async () => {
    w = world();
    const client = await w.loggedIn();
    const task = client.createFileMessageByUploading(bytes(4 * CHUNK));
    const progress = record(task.progress$);
    progress.stop();
    expect((await task.result).size).toBe(4 * CHUNK);
  });

  it('a failed task never reports currentSize === totalSize', async () => {
    const g = gate(false);
    w = world({ gate: g.fn });
    const client = await w.loggedIn('alice', { idleTimeoutMs: 1000, progressIntervalMs: 0 });
    const task = client.createFileMessageByUploading(bytes(2 * CHUNK));
    const progress = record(task.progress$);
    await until(() => g.waiting > 0, 'chunk 1 at the gate');
    g.releaseOne();
    await until(() => g.waiting > 0, 'chunk 2 at the gate');
    w.clock.advance(1000);
    await task.result.catch(() => undefined);
    expect(stateOf(task)).toBe('failed');
    expect(progress.values.every((p) => p.currentSize < p.totalSize)).toBe(true);
  });

  describe('a transfer resumed after a dropped link never reports less than it had', () => {
    /** A gate that drops the link once, at the chunk starting at `dropAt`. */
    const dropOnce = (direction: ChunkStep['direction'], dropAt: number) => {
      let dropped = false;
      return (step: ChunkStep): Promise<void> => {
        if (!dropped && step.direction === direction && step.offset === dropAt) {
          dropped = true;
          return Promise.reject(fault(Failure.network('link dropped')));
        }
        return Promise.resolve();
      };
    };

    it('for an upload', async () => {
      w = world({ gate: dropOnce('upload', 3 * CHUNK) });
      const client = await w.loggedIn('alice', { progressIntervalMs: 0 });
      const task = client.createFileMessageByUploading(bytes(6 * CHUNK));
      const progress = record(task.progress$);
      await advanceUntil(w.clock, () => stateOf(task) !== 'transferring', 'the resumed transfer to end');
      const message = await task.result;
      expectWellFormed(progress.values, 6 * CHUNK);
      expect(progress.values.at(-1)!.currentSize).toBe(6 * CHUNK);
      expectSameBytes(await client.downloadMediaToMemory(message.mediaId).result, bytes(6 * CHUNK));
    });

    it('for a download', async () => {
      w = world({ gate: dropOnce('download', 3 * CHUNK) });
      const client = await w.loggedIn('alice', { progressIntervalMs: 0 });
      const mediaId = await uploaded(client, bytes(6 * CHUNK));
      const task = client.downloadMediaToMemory(mediaId);
      const progress = record(task.progress$);
      await advanceUntil(w.clock, () => stateOf(task) !== 'transferring', 'the resumed transfer to end');
      expectSameBytes(await task.result, bytes(6 * CHUNK));
      expectWellFormed(progress.values, 6 * CHUNK);
    });
  });
});
