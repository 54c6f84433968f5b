/**
 * DESIGN §3 "idle timeout": no byte moved for `idleTimeoutMs` (default 120 s) → 3 TIMEOUT. A stalled
 * network is a memory-transport gate that never opens; time is a virtual clock.
 */
import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, afterEach, describe, expect, it } from 'vitest';
import { type Clock, createClient, createHub, DEFAULT_IDLE_TIMEOUT_MS, type MediaStore, memoryStore, memoryTransport, virtualClock } from '../../src/index.js';
import { bytes, flush, gate, partFiles, rejectsWith, settle, stalled, stateOf, tempFolder, until, uploaded, world, type World } from './support.js';

const TIMEOUT_UPLOAD = { name: 'UploadError', code: 3, mentions: /no byte moved/ } as const;
const TIMEOUT_DOWNLOAD = { name: 'DownloadError', code: 3, mentions: /no byte moved/ } as const;

const entriesOf = async (store: MediaStore): Promise<unknown[]> => {
  const all: unknown[] = [];
  for await (const entry of store.list()) all.push(entry);
  return all;
};

describe('idle timeout', () => {
  let w: World;
  const folder = tempFolder();
  afterEach(() => w.hub.close());
  afterAll(() => folder.remove());

  it('the default is 120 seconds', () => {
    w = world();
    expect(DEFAULT_IDLE_TIMEOUT_MS).toBe(120_000);
  });

  it('a stalled upload is still transferring after 119,999 ms and fails with 3 TIMEOUT at 120,000 ms', async () => {
    w = world({ gate: stalled() });
    const client = await w.loggedIn();
    const task = client.createFileMessageByUploading(bytes(1000));
    await flush();
    w.clock.advance(119_999);
    await flush();
    expect(stateOf(task)).toBe('transferring');
    w.clock.advance(1);
    expect(stateOf(task)).toBe('failed');
    const error = await rejectsWith(task.result, TIMEOUT_UPLOAD);
    expect(error.message).toMatch(/120000/);
  });

  it('a stalled upload that timed out leaves nothing on the server', async () => {
    const store = memoryStore();
    const g = gate(false);
    w = world({ hub: { store }, gate: g.fn });
    const client = await w.loggedIn('alice', { idleTimeoutMs: 5000 });
    const task = client.createFileMessageByUploading(bytes(300_000));
    await until(() => g.waiting > 0, 'the first chunk at the gate');
    g.releaseOne();
    await until(() => store.bytesHeld > 0 && g.waiting > 0, 'the first chunk at the hub');
    w.clock.advance(5000);
    await rejectsWith(task.result, TIMEOUT_UPLOAD);
    await flush();
    expect(await entriesOf(store)).toEqual([]);
  });

  it('idleTimeoutMs shortens the timeout', async () => {
    w = world({ gate: stalled() });
    const client = await w.loggedIn('alice', { idleTimeoutMs: 1000 });
    const task = client.createImageMessageByUploading(bytes(1000));
    await flush();
    w.clock.advance(999);
    expect(stateOf(task)).toBe('transferring');
    w.clock.advance(1);
    await rejectsWith(task.result, { ...TIMEOUT_UPLOAD, mentions: /1000 ms/ });
  });

  it('a stalled download to memory fails with 3 TIMEOUT', async () => {
    const g = gate();
    w = world({ gate: g.fn });
    const client = await w.loggedIn();
    const mediaId = await uploaded(client, bytes(200_000));
    g.close();
    const task = client.downloadMediaToMemory(mediaId);
    await until(() => g.waiting > 0, 'the first chunk at the gate');
    w.clock.advance(120_000);
    await rejectsWith(task.result, TIMEOUT_DOWNLOAD);
  });

  it('a stalled download to a file fails with 3 TIMEOUT and leaves no file and no temporary file', async () => {
    const g = gate();
    w = world({ gate: g.fn });
    const client = await w.loggedIn('alice', { idleTimeoutMs: 30_000 });
    const mediaId = await uploaded(client, bytes(200_000));
    g.close();
    const target = join(folder.path, 'stalled.bin');
    const task = client.downloadMediaToFile(mediaId, target);
    await until(() => g.waiting > 0, 'the first chunk at the gate');
    g.releaseOne();
    await until(() => g.waiting > 0, 'the second chunk at the gate');
    await flush();
    w.clock.advance(30_000);
    await rejectsWith(task.result, TIMEOUT_DOWNLOAD);
    expect(existsSync(target)).toBe(false);
    expect(partFiles(folder.entries())).toEqual([]);
  });

  it('every byte that moves restarts the clock: a slow transfer that never pauses for the whole timeout succeeds', async () => {
    const g = gate(false);
    w = world({ gate: g.fn });
    const client = await w.loggedIn('alice', { idleTimeoutMs: 10_000 });
    const task = client.createFileMessageByUploading(bytes(6 * 65_536));
    // Six chunks, one every 9 s: 54 s in all, far beyond 10 s, but never 10 s without a byte.
    for (let chunk = 0; chunk < 6; chunk++) {
      await until(() => g.waiting > 0, `chunk ${chunk + 1} at the gate`);
      w.clock.advance(9_000);
      expect(stateOf(task)).toBe('transferring');
      g.releaseOne();
      await flush();
    }
    expect((await task.result).size).toBe(6 * 65_536);
  });

  it('the clock counts from the last byte, not from the start', async () => {
    const g = gate(false);
    w = world({ gate: g.fn });
    const client = await w.loggedIn('alice', { idleTimeoutMs: 10_000 });
    const task = client.createFileMessageByUploading(bytes(3 * 65_536));
    await until(() => g.waiting > 0, 'the first chunk at the gate');
    w.clock.advance(8_000);
    g.releaseOne();
    await until(() => g.waiting > 0, 'the second chunk at the gate');
    w.clock.advance(9_999);
    expect(stateOf(task)).toBe('transferring');
    w.clock.advance(1);
    await rejectsWith(task.result, TIMEOUT_UPLOAD);
  });

  it('time spent waiting in the queue does not count: a queued transfer gets the whole timeout once it starts', async () => {
    w = world({ gate: stalled() });
    const client = await w.loggedIn('alice', { idleTimeoutMs: 10_000, maxConcurrentTransfers: 1 });
    const first = client.createFileMessageByUploading(bytes(100, 1));
    const second = client.createFileMessageByUploading(bytes(100, 2));
    await flush();
    w.clock.advance(6_000);
    await first.cancel();
    await settle(first.result);
    await flush();
    expect(stateOf(second)).toBe('transferring');
    w.clock.advance(9_999);
    expect(stateOf(second)).toBe('transferring');
    w.clock.advance(1);
    await rejectsWith(second.result, TIMEOUT_UPLOAD);
  });

  it('a timed-out transfer frees its slot for the next queued one', async () => {
    w = world({ gate: stalled() });
    const client = await w.loggedIn('alice', { idleTimeoutMs: 1000, maxConcurrentTransfers: 1 });
    const first = client.createFileMessageByUploading(bytes(100, 1));
    const second = client.createFileMessageByUploading(bytes(100, 2));
    await flush();
    w.clock.advance(1000);
    await rejectsWith(first.result, TIMEOUT_UPLOAD);
    await flush();
    expect(stateOf(second)).toBe('transferring');
  });

  it('a timed-out task is over: cancelling it fails with cancel code 2', async () => {
    w = world({ gate: stalled() });
    const client = await w.loggedIn('alice', { idleTimeoutMs: 1000 });
    const task = client.createFileMessageByUploading(bytes(100));
    await flush();
    w.clock.advance(1000);
    await settle(task.result);
    await rejectsWith(task.cancel(), { name: 'CancelError', code: 2 });
  });

  it('empty chunks are not bytes: a download whose stream yields only empty chunks still times out', async () => {
    const inner = memoryStore();
    // Ends the endless stream when the spec is over, whatever the client did (see the cancel spec
    // "no chunk moves after a cancel": a download's first stream does not stop with the task).
    let over = false;
    const store: MediaStore = {
      ...inner,
      // A link that stays open and keeps sending nothing.
      async *read(_mediaId, _offset, signal) {
        while (!signal?.aborted && !over) yield new Uint8Array(0);
      },
    };
    const macrotask = (): Promise<void> => new Promise((resolve) => setImmediate(resolve));
    w = world({ hub: { store }, gate: (step) => (step.direction === 'download' ? macrotask() : Promise.resolve()) });
    const client = await w.loggedIn('alice', { idleTimeoutMs: 10_000 });
    const mediaId = await uploaded(client);
    const task = client.downloadMediaToMemory(mediaId);
    try {
      // 20 s of virtual time in 1 s steps, empty chunks flowing between the steps.
      for (let i = 0; i < 20 && stateOf(task) === 'transferring'; i++) {
        await flush(3);
        w.clock.advance(1000);
      }
      expect(stateOf(task)).toBe('failed');
      await rejectsWith(task.result, TIMEOUT_DOWNLOAD);
    } finally {
      over = true;
      if (stateOf(task) === 'transferring') await task.cancel();
      await flush();
    }
  });

  it('no timer outlives a finished transfer', async () => {
    w = world();
    const client = await w.loggedIn();
    const before = w.clock.pendingTimers;
    await uploaded(client);
    await flush();
    expect(w.clock.pendingTimers).toBe(before);
  });
});

describe('the timers of transfers (decision 138)', () => {
  it('on the real clock, a stalled upload keeps the process alive until its idle timeout fails it', () => {
    const child = spawnSync(process.execPath, ['--import', 'tsx', join(import.meta.dirname, 'stalled-upload-child.ts')], {
      encoding: 'utf8',
      cwd: join(import.meta.dirname, '../..'),
      timeout: 30_000,
    });
    // Were the watchdog's timer unref'd, the process would end at once with an unsettled top-level await (13).
    expect(child.status, child.stderr).toBe(0);
    const outcome = JSON.parse(child.stdout.trim()) as { ok: boolean; code?: number; ms: number };
    expect(outcome).toMatchObject({ ok: false, code: 3 });
    expect(outcome.ms).toBeGreaterThanOrEqual(290);
  });

  it('thirty small uploads on one clock arm a few clock timers, not three each (90 before)', async () => {
    const clock = virtualClock(0);
    let armed = 0;
    const counting: Clock = {
      now: () => clock.now(),
      setTimeout: (callback, ms) => {
        armed++;
        return clock.setTimeout(callback, ms);
      },
      clearTimeout: (handle) => clock.clearTimeout(handle),
    };
    const hub = createHub({ clock });
    const client = createClient({ transport: memoryTransport(hub), clock: counting });
    await client.login({ userId: 'alice', token: hub.issueToken('alice') });
    const before = armed;
    const messages = await Promise.all(Array.from({ length: 30 }, (_, i) => client.createFileMessageByUploading(bytes(16, i)).result));
    expect(messages).toHaveLength(30);
    // Each armed its watchdog, the announcement of its total and its last progress: 90 Node timers before.
    expect(armed - before).toBeLessThanOrEqual(10);
    await client.logout();
    hub.close();
  });
});
