/**
 * DESIGN §3 "cancel": a `pending` or `transferring` task can be cancelled (by request ID, `task.cancel()`
 * or its `signal`): it ends `cancelled`, its result rejects with 6 INTERRUPTED, no progress follows, its
 * slot frees at once. Cancelling a finished or unknown request ID fails with cancel code 2 NOT_EXIST. A
 * cancelled upload never yields a media ID and leaves no bytes on the server; a cancelled or failed
 * download to a file leaves no file at the path.
 */
import { existsSync } from 'node:fs';
import { getEventListeners } from 'node:events';
import { join } from 'node:path';
import { afterAll, afterEach, describe, expect, it } from 'vitest';
import { type FileAccess, type FileSink, type MediaStore, memoryStore, type Task } from '../../src/index.js';
import { nodeFiles } from '../../src/platform/node-files.js';
import {
  bytes,
  flush,
  gate,
  type Gate,
  partFiles,
  reason,
  record,
  rejectsWith,
  settle,
  stalled,
  stateOf,
  tempFolder,
  until,
  uploaded,
  world,
  type World,
} from './support.js';

const INTERRUPTED_UPLOAD = { name: 'UploadError', code: 6, mentions: /interrupted/ } as const;
const INTERRUPTED_DOWNLOAD = { name: 'DownloadError', code: 6, mentions: /interrupted/ } as const;
const NOT_EXIST = { name: 'CancelError', code: 2, mentions: /does not exist/ } as const;

const entriesOf = async (store: MediaStore): Promise<unknown[]> => {
  const all: unknown[] = [];
  for await (const entry of store.list()) all.push(entry);
  return all;
};

/** A promise with its resolver, for holding an effect at a chosen point. */
const deferred = (): { promise: Promise<void>; resolve: () => void } => {
  let resolve!: () => void;
  const promise = new Promise<void>((r) => {
    resolve = r;
  });
  return { promise, resolve };
};

describe('cancel', () => {
  let w: World;
  const folder = tempFolder();
  afterEach(() => w.hub.close());
  afterAll(() => folder.remove());

  describe('an upload', () => {
    /** A world with a closed gate and a logged-in client whose upload has its first chunk held at the gate. */
    const transferringUpload = async (store = memoryStore()) => {
      const g = gate(false);
      w = world({ hub: { store }, gate: g.fn });
      const client = await w.loggedIn();
      const task = client.createFileMessageByUploading(bytes(300_000));
      await until(() => g.waiting > 0, 'the first chunk at the gate');
      return { g, store, client, task };
    };

    it('task.cancel() while transferring ends it cancelled, rejects with 6 and leaves no bytes on the server', async () => {
      const { g, store, task } = await transferringUpload();
      g.releaseOne();
      await until(() => store.bytesHeld > 0, 'a chunk at the hub');
      expect(stateOf(task)).toBe('transferring');
      await task.cancel();
      expect(stateOf(task)).toBe('cancelled');
      const error = await rejectsWith(task.result, INTERRUPTED_UPLOAD);
      expect(error.operation).toBe('upload');
      expect(store.bytesHeld).toBe(0);
      expect(await entriesOf(store)).toEqual([]);
    });

    it('cancelMediaUpload(requestId) while transferring does the same', async () => {
      const { store, client, task } = await transferringUpload();
      await client.cancelMediaUpload(task.requestId);
      expect(stateOf(task)).toBe('cancelled');
      await rejectsWith(task.result, INTERRUPTED_UPLOAD);
      expect(await entriesOf(store)).toEqual([]);
    });

    it('a cancel while pending in the queue ends it cancelled before it moves a byte', async () => {
      const g = gate(false);
      const store = memoryStore();
      w = world({ hub: { store }, gate: g.fn });
      const client = await w.loggedIn('alice', { maxConcurrentTransfers: 1 });
      const running = client.createFileMessageByUploading(bytes(100, 1));
      const queued = client.createFileMessageByUploading(bytes(100, 2));
      await flush();
      expect(stateOf(queued)).toBe('pending');
      const states = record(queued.state$);
      await queued.cancel();
      await rejectsWith(queued.result, INTERRUPTED_UPLOAD);
      expect(states.values).toEqual(['pending', 'cancelled']);
      g.open();
      await running.result;
      expect(g.steps).toHaveLength(1);
      expect(await entriesOf(store)).toHaveLength(1);
    });

    it('an already-aborted signal ends the upload cancelled at once, with 6, and nothing reaches the hub', async () => {
      const g = gate();
      const store = memoryStore();
      w = world({ hub: { store }, gate: g.fn });
      const client = await w.loggedIn();
      const controller = new AbortController();
      controller.abort(reason());
      const task = client.createFileMessageByUploading(bytes(100), { signal: controller.signal });
      expect(stateOf(task)).toBe('cancelled');
      await rejectsWith(task.result, INTERRUPTED_UPLOAD);
      await flush();
      expect(g.steps).toEqual([]);
      expect(await entriesOf(store)).toEqual([]);
    });

    it('a signal aborted while queued ends the upload cancelled, never started', async () => {
      const g = gate(false);
      w = world({ gate: g.fn });
      const client = await w.loggedIn('alice', { maxConcurrentTransfers: 1 });
      client.createFileMessageByUploading(bytes(100, 1));
      const controller = new AbortController();
      const queued = client.createFileMessageByUploading(bytes(100, 2), { signal: controller.signal });
      await flush();
      expect(stateOf(queued)).toBe('pending');
      controller.abort(reason());
      expect(stateOf(queued)).toBe('cancelled');
      await rejectsWith(queued.result, INTERRUPTED_UPLOAD);
      expect(g.steps).toHaveLength(1);
    });

    it('a signal aborted while transferring ends the upload cancelled and leaves no bytes on the server', async () => {
      const g = gate(false);
      const store = memoryStore();
      w = world({ hub: { store }, gate: g.fn });
      const client = await w.loggedIn();
      const controller = new AbortController();
      const task = client.createFileMessageByUploading(bytes(300_000), { signal: controller.signal });
      await until(() => g.waiting > 0, 'the first chunk at the gate');
      g.releaseOne();
      await until(() => store.bytesHeld > 0, 'a chunk at the hub');
      controller.abort(reason());
      expect(stateOf(task)).toBe('cancelled');
      await rejectsWith(task.result, INTERRUPTED_UPLOAD);
      expect(store.bytesHeld).toBe(0);
      expect(await entriesOf(store)).toEqual([]);
    });

    it("the signal's abort reason travels as the error's cause", async () => {
      w = world({ gate: stalled() });
      const client = await w.loggedIn();
      const controller = new AbortController();
      const task = client.createFileMessageByUploading(bytes(100), { signal: controller.signal });
      await flush();
      const why = reason();
      controller.abort(why);
      const error = await rejectsWith(task.result, INTERRUPTED_UPLOAD);
      expect(error.cause).toBe(why);
    });

    it('no progress follows a cancel, on the task or on the client-wide stream', async () => {
      const { g, store, client, task } = await (async () => {
        const g = gate(false);
        const store = memoryStore();
        w = world({ hub: { store }, gate: g.fn });
        const client = await w.loggedIn('alice', { progressIntervalMs: 0 });
        const task = client.createFileMessageByUploading(bytes(300_000));
        return { g, store, client, task };
      })();
      const mine = record(task.progress$);
      const all = record(client.uploadProgress$);
      await until(() => g.waiting > 0, 'the first chunk at the gate');
      g.releaseOne();
      await until(() => store.bytesHeld > 0, 'a chunk at the hub');
      await flush();
      const before = { mine: mine.values.length, all: all.values.length };
      expect(before.mine).toBeGreaterThan(0);
      await task.cancel();
      g.open();
      await settle(task.result);
      await flush();
      w.clock.advance(10_000);
      await flush();
      expect(mine.values).toHaveLength(before.mine);
      expect(all.values).toHaveLength(before.all);
      expect(mine.completed).toBe(true);
      expect(mine.values.at(-1)!.currentSize).toBeLessThan(300_000);
    });

    it('a cancelled upload never yields a media ID, even when its last chunk was already on its way', async () => {
      const { g, store, task } = await transferringUpload();
      // Let every chunk but the last through.
      for (let i = 0; i < 4; i++) {
        g.releaseOne();
        await until(() => g.waiting > 0, `chunk ${i + 2} at the gate`);
      }
      await task.cancel();
      g.open();
      await rejectsWith(task.result, INTERRUPTED_UPLOAD);
      await flush();
      expect(await entriesOf(store)).toEqual([]);
      expect(store.bytesHeld).toBe(0);
    });

    it('a cancel while the hub is still creating the upload leaves no record on the server', async () => {
      const inner = memoryStore();
      const hold = deferred();
      let creating = false;
      const store: MediaStore = {
        ...inner,
        create: async (meta, now) => {
          creating = true;
          await inner.create(meta, now);
          await hold.promise;
        },
      };
      w = world({ hub: { store } });
      const client = await w.loggedIn();
      const task = client.createFileMessageByUploading(bytes(1000));
      await until(() => creating, 'the hub creating the upload');
      await task.cancel();
      hold.resolve();
      await rejectsWith(task.result, INTERRUPTED_UPLOAD);
      await flush();
      expect(await entriesOf(inner)).toEqual([]);
    });

    it('the slot frees at once: when cancel() resolves, the oldest pending upload is already transferring', async () => {
      w = world({ gate: stalled() });
      const client = await w.loggedIn();
      const running = Array.from({ length: 9 }, (_, i) => client.createFileMessageByUploading(bytes(100, i)));
      const next = client.createFileMessageByUploading(bytes(100, 99));
      await flush();
      expect(stateOf(next)).toBe('pending');
      await running[0]!.cancel();
      expect(stateOf(next)).toBe('transferring');
    });
  });

  describe('a download', () => {
    /** Uploads `size` bytes with the gate open, then closes it, so downloads stall at their first chunk. */
    const stalledDownloads = async (size = 300_000, extra: Parameters<World['loggedIn']>[1] = {}) => {
      const g = gate();
      w = world({ gate: g.fn });
      const client = await w.loggedIn('alice', extra);
      const mediaId = await uploaded(client, bytes(size));
      await flush();
      g.close();
      return { g, client, mediaId };
    };

    it('to memory: task.cancel() while transferring ends it cancelled with 6', async () => {
      const { g, client, mediaId } = await stalledDownloads();
      const task = client.downloadMediaToMemory(mediaId);
      await until(() => g.waiting > 0, 'the first chunk at the gate');
      expect(stateOf(task)).toBe('transferring');
      await task.cancel();
      expect(stateOf(task)).toBe('cancelled');
      await rejectsWith(task.result, INTERRUPTED_DOWNLOAD);
    });

    it('to memory: cancelMediaDownload(requestId) while transferring ends it cancelled with 6', async () => {
      const { g, client, mediaId } = await stalledDownloads();
      const task = client.downloadMediaToMemory(mediaId);
      await until(() => g.waiting > 0, 'the first chunk at the gate');
      await client.cancelMediaDownload(task.requestId);
      await rejectsWith(task.result, INTERRUPTED_DOWNLOAD);
    });

    it('to memory: no chunk moves after a cancel, even when the network wakes up again', async () => {
      const { g, client, mediaId } = await stalledDownloads(5 * 65_536);
      const task = client.downloadMediaToMemory(mediaId);
      const progress = record(task.progress$);
      await until(() => g.waiting > 0, 'the first chunk at the gate');
      const before = g.steps.length;
      await task.cancel();
      await rejectsWith(task.result, INTERRUPTED_DOWNLOAD);
      const shown = progress.values.length;
      g.open();
      await flush(20);
      expect(g.steps.length - before).toBe(0);
      expect(progress.values).toHaveLength(shown);
    });

    it('to a file: a cancel while transferring leaves no file and no temporary file', async () => {
      const { g, client, mediaId } = await stalledDownloads();
      const target = join(folder.path, 'cancel-transferring.bin');
      const task = client.downloadMediaToFile(mediaId, target);
      await until(() => g.waiting > 0, 'the first chunk at the gate');
      g.releaseOne();
      await until(() => g.waiting > 0, 'the second chunk at the gate');
      expect(partFiles(folder.entries()).filter((n) => n.includes('cancel-transferring'))).toHaveLength(1);
      await task.cancel();
      await rejectsWith(task.result, INTERRUPTED_DOWNLOAD);
      expect(existsSync(target)).toBe(false);
      expect(folder.entries().filter((n) => n.includes('cancel-transferring'))).toEqual([]);
    });

    it('to a file: a cancel while pending leaves no file', async () => {
      const { client, mediaId } = await stalledDownloads(300_000, { maxConcurrentTransfers: 1 });
      client.downloadMediaToMemory(mediaId);
      const target = join(folder.path, 'cancel-pending.bin');
      const task = client.downloadMediaToFile(mediaId, target);
      await flush();
      expect(stateOf(task)).toBe('pending');
      await client.cancelMediaDownload(task.requestId);
      await rejectsWith(task.result, INTERRUPTED_DOWNLOAD);
      expect(folder.entries().filter((n) => n.includes('cancel-pending'))).toEqual([]);
    });

    it('to a file: an already-aborted signal ends it cancelled and creates nothing', async () => {
      const { g, client, mediaId } = await stalledDownloads();
      const controller = new AbortController();
      controller.abort(reason());
      const target = join(folder.path, 'pre-aborted.bin');
      const task = client.downloadMediaToFile(mediaId, target, { signal: controller.signal });
      expect(stateOf(task)).toBe('cancelled');
      await rejectsWith(task.result, INTERRUPTED_DOWNLOAD);
      await flush();
      expect(g.steps.filter((s) => s.direction === 'download')).toEqual([]);
      expect(folder.entries().filter((n) => n.includes('pre-aborted'))).toEqual([]);
    });

    it('to a file: a signal aborted while queued ends it cancelled and creates nothing', async () => {
      const { client, mediaId } = await stalledDownloads(300_000, { maxConcurrentTransfers: 1 });
      client.downloadMediaToMemory(mediaId);
      const controller = new AbortController();
      const target = join(folder.path, 'abort-queued.bin');
      const task = client.downloadMediaToFile(mediaId, target, { signal: controller.signal });
      await flush();
      controller.abort(reason());
      expect(stateOf(task)).toBe('cancelled');
      await rejectsWith(task.result, INTERRUPTED_DOWNLOAD);
      expect(folder.entries().filter((n) => n.includes('abort-queued'))).toEqual([]);
    });

    it('to a file: a signal aborted while transferring leaves no file and no temporary file', async () => {
      const { g, client, mediaId } = await stalledDownloads();
      const controller = new AbortController();
      const target = join(folder.path, 'abort-transferring.bin');
      const task = client.downloadMediaToFile(mediaId, target, { signal: controller.signal });
      await until(() => g.waiting > 0, 'the first chunk at the gate');
      g.releaseOne();
      await until(() => g.waiting > 0, 'the second chunk at the gate');
      controller.abort(reason());
      await rejectsWith(task.result, INTERRUPTED_DOWNLOAD);
      expect(existsSync(target)).toBe(false);
      expect(folder.entries().filter((n) => n.includes('abort-transferring'))).toEqual([]);
    });

    it('to a file: a cancel while the temporary file is being created leaves no temporary file', async () => {
      const hold = deferred();
      let creating = false;
      let created = false;
      const files: FileAccess = {
        ...nodeFiles,
        createSink: async (path) => {
          creating = true;
          await hold.promise;
          const sink = await nodeFiles.createSink(path);
          created = true;
          return sink;
        },
      };
      w = world();
      const alice = await w.loggedIn('alice');
      const mediaId = await uploaded(alice);
      const bob = await w.loggedIn('bob', { files });
      const target = join(folder.path, 'cancel-creating.bin');
      const task = bob.downloadMediaToFile(mediaId, target);
      await until(() => creating, 'the sink being created');
      await task.cancel();
      hold.resolve();
      await rejectsWith(task.result, INTERRUPTED_DOWNLOAD);
      // Wait until the file system has answered, so a late temporary file would be there to see.
      await until(() => created, 'the sink to be created');
      await flush();
      expect(existsSync(target)).toBe(false);
      expect(folder.entries().filter((n) => n.includes('cancel-creating'))).toEqual([]);
    });

    it('to a file: a cancel while the verified file is being committed leaves no file at the path', async () => {
      let task: Task<void> | undefined;
      const files: FileAccess = {
        ...nodeFiles,
        createSink: async (path) => {
          const sink = await nodeFiles.createSink(path);
          const wrapped: FileSink = {
            get length() {
              return sink.length;
            },
            write: (b) => sink.write(b),
            discard: () => sink.discard(),
            commit: () => {
              const committing = sink.commit();
              // The caller cancels while fsync and rename are under way.
              void task?.cancel();
              return committing;
            },
          };
          return wrapped;
        },
      };
      w = world();
      const alice = await w.loggedIn('alice');
      const mediaId = await uploaded(alice);
      const bob = await w.loggedIn('bob', { files });
      const target = join(folder.path, 'cancel-committing.bin');
      task = bob.downloadMediaToFile(mediaId, target);
      const outcome = await settle(task.result);
      if (!outcome.ok) {
        expect(stateOf(task)).toBe('cancelled');
        expect(existsSync(target)).toBe(false);
      } else {
        expect(stateOf(task)).toBe('done');
      }
      expect(partFiles(folder.entries())).toEqual([]);
    });

    it('to a file: a failed download (unknown media) leaves no file and no temporary file', async () => {
      w = world();
      const client = await w.loggedIn();
      const target = join(folder.path, 'unknown-media.bin');
      await rejectsWith(client.downloadMediaToFile('AAAAAAAAAAAAAAAAAAAAAA', target).result, { name: 'DownloadError', code: 4 });
      expect(folder.entries().filter((n) => n.includes('unknown-media'))).toEqual([]);
    });
  });

  describe('what cannot be cancelled fails with cancel code 2 NOT_EXIST', () => {
    const doneUpload = async (): Promise<{ client: Awaited<ReturnType<World['loggedIn']>>; task: Task<unknown> }> => {
      w = world();
      const client = await w.loggedIn();
      const task = client.createFileMessageByUploading(bytes(100));
      await task.result;
      return { client, task };
    };

    it('task.cancel() after the upload is done', async () => {
      const { task } = await doneUpload();
      await rejectsWith(task.cancel(), NOT_EXIST);
      expect(stateOf(task)).toBe('done');
    });

    it('cancelMediaUpload(requestId) after the upload is done', async () => {
      const { client, task } = await doneUpload();
      await rejectsWith(client.cancelMediaUpload(task.requestId), { ...NOT_EXIST, mentions: new RegExp(`request ${task.requestId}`) });
    });

    it('cancelMediaDownload(requestId) after the download is done', async () => {
      w = world();
      const client = await w.loggedIn();
      const task = client.downloadMediaToMemory(await uploaded(client));
      await task.result;
      await rejectsWith(client.cancelMediaDownload(task.requestId), NOT_EXIST);
      await rejectsWith(task.cancel(), NOT_EXIST);
    });

    it('a second cancel of a cancelled task', async () => {
      w = world({ gate: stalled() });
      const client = await w.loggedIn();
      const task = client.createFileMessageByUploading(bytes(100));
      await task.cancel();
      await rejectsWith(task.cancel(), NOT_EXIST);
      await rejectsWith(client.cancelMediaUpload(task.requestId), NOT_EXIST);
    });

    it('a cancel of a failed task', async () => {
      w = world();
      const client = await w.loggedIn();
      const task = client.downloadMediaToMemory('AAAAAAAAAAAAAAAAAAAAAA');
      await settle(task.result);
      expect(stateOf(task)).toBe('failed');
      await rejectsWith(task.cancel(), NOT_EXIST);
      await rejectsWith(client.cancelMediaDownload(task.requestId), NOT_EXIST);
    });

    it('a cancel of a task refused before it started (bad argument)', async () => {
      w = world();
      const client = await w.loggedIn();
      const task = client.createFileMessageByUploading(new Uint8Array(0));
      await settle(task.result);
      await rejectsWith(task.cancel(), NOT_EXIST);
    });

    it('an unknown request ID', async () => {
      w = world();
      const client = await w.loggedIn();
      await rejectsWith(client.cancelMediaUpload(12345), { ...NOT_EXIST, mentions: /12345/ });
      await rejectsWith(client.cancelMediaDownload(12345), NOT_EXIST);
    });

    it("an upload's request ID given to cancelMediaDownload, and the reverse", async () => {
      w = world({ gate: stalled() });
      const client = await w.loggedIn();
      const upload = client.createFileMessageByUploading(bytes(100));
      await rejectsWith(client.cancelMediaDownload(upload.requestId), NOT_EXIST);
      expect(stateOf(upload)).toBe('transferring');
      const download = client.downloadMediaToMemory('AAAAAAAAAAAAAAAAAAAAAA');
      await rejectsWith(client.cancelMediaUpload(download.requestId), NOT_EXIST);
    });
  });

  describe('the signal listener is removed once the task is over', () => {
    it('abort after done does nothing: the task stays done, its result stays resolved, and cancel() rejects with 2', async () => {
      w = world();
      const client = await w.loggedIn();
      const controller = new AbortController();
      const task = client.createFileMessageByUploading(bytes(100), { signal: controller.signal });
      expect(getEventListeners(controller.signal, 'abort').length).toBeGreaterThan(0);
      const message = await task.result;
      expect(getEventListeners(controller.signal, 'abort')).toHaveLength(0);
      controller.abort(reason());
      await flush();
      expect(stateOf(task)).toBe('done');
      expect(await task.result).toBe(message);
      await rejectsWith(task.cancel(), NOT_EXIST);
      expect((await w.hub.mediaInfo(message.mediaId)).size).toBe(100);
    });

    it('after a download to memory is done', async () => {
      w = world();
      const client = await w.loggedIn();
      const mediaId = await uploaded(client);
      const controller = new AbortController();
      const task = client.downloadMediaToMemory(mediaId, { signal: controller.signal });
      await task.result;
      expect(getEventListeners(controller.signal, 'abort')).toHaveLength(0);
      controller.abort();
      expect(stateOf(task)).toBe('done');
    });

    it('after a download to a file is done: aborting later leaves the file in place', async () => {
      w = world();
      const client = await w.loggedIn();
      const mediaId = await uploaded(client);
      const controller = new AbortController();
      const target = join(folder.path, 'kept.bin');
      const task = client.downloadMediaToFile(mediaId, target, { signal: controller.signal });
      await task.result;
      expect(getEventListeners(controller.signal, 'abort')).toHaveLength(0);
      controller.abort();
      await flush();
      expect(existsSync(target)).toBe(true);
    });

    it('after the task failed', async () => {
      w = world();
      const client = await w.loggedIn();
      const controller = new AbortController();
      const task = client.downloadMediaToMemory('AAAAAAAAAAAAAAAAAAAAAA', { signal: controller.signal });
      await settle(task.result);
      expect(getEventListeners(controller.signal, 'abort')).toHaveLength(0);
      controller.abort();
      expect(stateOf(task)).toBe('failed');
    });

    it('after the task was cancelled another way', async () => {
      w = world({ gate: stalled() });
      const client = await w.loggedIn();
      const controller = new AbortController();
      const task = client.createFileMessageByUploading(bytes(100), { signal: controller.signal });
      await task.cancel();
      await settle(task.result);
      expect(getEventListeners(controller.signal, 'abort')).toHaveLength(0);
    });

    it('the caller’s signal is never aborted by ferry', async () => {
      w = world({ gate: stalled() });
      const client = await w.loggedIn();
      const controller = new AbortController();
      const task = client.createFileMessageByUploading(bytes(100), { signal: controller.signal });
      await task.cancel();
      await settle(task.result);
      expect(controller.signal.aborted).toBe(false);
    });
  });

  it('one signal shared by several tasks cancels each of them, running or queued', async () => {
    const g: Gate = gate(false);
    w = world({ gate: g.fn });
    const client = await w.loggedIn('alice', { maxConcurrentTransfers: 2 });
    const controller = new AbortController();
    const tasks = Array.from({ length: 4 }, (_, i) => client.createFileMessageByUploading(bytes(100, i), { signal: controller.signal }));
    await flush();
    expect(tasks.map(stateOf)).toEqual(['transferring', 'transferring', 'pending', 'pending']);
    controller.abort(reason());
    expect(tasks.map(stateOf)).toEqual(['cancelled', 'cancelled', 'cancelled', 'cancelled']);
    for (const task of tasks) await rejectsWith(task.result, INTERRUPTED_UPLOAD);
  });
});
