/**
 * DESIGN §3 "concurrency": at most 9 transfers (uploads + downloads together) in `transferring` per client
 * at any instant; `overflow: 'queue'` keeps the rest `pending` in FIFO order; `overflow: 'reject'` fails
 * the 10th at once with 5 CONCURRENCY_LIMIT_EXCEEDED.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { MAX_CONCURRENT_TRANSFERS, type Task, type TransferState } from '../../src/index.js';
import { bytes, flush, gate, rejectsWith, settle, stalled, stateOf, uploaded, world, type World } from './support.js';

const count = (tasks: readonly Task<unknown>[], state: TransferState): number => tasks.filter((t) => stateOf(t) === state).length;

/** Tracks how many of the tasks are `transferring` after every state change, and the most ever seen. */
const watchTransferring = (tasks: readonly Task<unknown>[]): { readonly max: number; readonly order: number[] } => {
  const current = new Map<number, TransferState>();
  const order: number[] = [];
  let max = 0;
  for (const task of tasks) {
    task.state$.subscribe((state) => {
      current.set(task.requestId, state);
      if (state === 'transferring') order.push(task.requestId);
      max = Math.max(max, [...current.values()].filter((s) => s === 'transferring').length);
    });
  }
  return {
    get max() {
      return max;
    },
    order,
  };
};

describe('concurrency', () => {
  let w: World;
  afterEach(() => w.hub.close());

  it('the cap is nine', () => {
    w = world();
    expect(MAX_CONCURRENT_TRANSFERS).toBe(9);
  });

  it('of twelve uploads on a stalled network, nine are transferring and three are pending', async () => {
    w = world({ gate: stalled() });
    const client = await w.loggedIn();
    const tasks = Array.from({ length: 12 }, (_, i) => client.createFileMessageByUploading(bytes(100, i)));
    await flush();
    expect(count(tasks, 'transferring')).toBe(9);
    expect(count(tasks, 'pending')).toBe(3);
    expect(tasks.slice(9).map(stateOf)).toEqual(['pending', 'pending', 'pending']);
  });

  it('uploads and downloads share the nine slots', async () => {
    const g = gate();
    w = world({ gate: g.fn });
    const client = await w.loggedIn();
    const ids = [];
    for (let i = 0; i < 5; i++) ids.push(await uploaded(client, bytes(100, i)));
    g.close();
    const uploads = Array.from({ length: 5 }, (_, i) => client.createFileMessageByUploading(bytes(100, 10 + i)));
    const downloads = ids.map((id) => client.downloadMediaToMemory(id));
    await flush();
    const all = [...uploads, ...downloads];
    expect(count(all, 'transferring')).toBe(9);
    expect(count(all, 'pending')).toBe(1);
    expect(stateOf(downloads[4]!)).toBe('pending');
  });

  it('maxConcurrentTransfers lowers the cap', async () => {
    w = world({ gate: stalled() });
    const client = await w.loggedIn('alice', { maxConcurrentTransfers: 3 });
    const tasks = Array.from({ length: 5 }, (_, i) => client.createFileMessageByUploading(bytes(100, i)));
    await flush();
    expect(count(tasks, 'transferring')).toBe(3);
    expect(count(tasks, 'pending')).toBe(2);
  });

  it('never more than nine are transferring at any instant while thirty uploads run to the end', async () => {
    w = world();
    const client = await w.loggedIn();
    const tasks = Array.from({ length: 30 }, (_, i) => client.createFileMessageByUploading(bytes(150_000, i)));
    const seen = watchTransferring(tasks);
    const results = await Promise.all(tasks.map((t) => t.result));
    expect(results).toHaveLength(30);
    expect(seen.max).toBe(9);
  });

  it('never more than the configured cap are transferring, downloads included', async () => {
    w = world();
    const client = await w.loggedIn('alice', { maxConcurrentTransfers: 2 });
    const id = await uploaded(client, bytes(150_000));
    const tasks = [
      ...Array.from({ length: 4 }, (_, i) => client.createFileMessageByUploading(bytes(150_000, i))),
      ...Array.from({ length: 4 }, () => client.downloadMediaToMemory(id)),
    ];
    const seen = watchTransferring(tasks);
    await Promise.all(tasks.map((t) => t.result));
    expect(seen.max).toBe(2);
  });

  it('queued transfers start in the order they were created (FIFO)', async () => {
    w = world();
    const client = await w.loggedIn('alice', { maxConcurrentTransfers: 1 });
    const id = await uploaded(client);
    const tasks: Task<unknown>[] = [];
    for (let i = 0; i < 8; i++) {
      tasks.push(i % 2 === 0 ? client.createFileMessageByUploading(bytes(70_000, i)) : client.downloadMediaToMemory(id));
    }
    const seen = watchTransferring(tasks);
    await Promise.all(tasks.map((t) => t.result));
    expect(seen.order).toEqual(tasks.map((t) => t.requestId));
  });

  it('when a slot frees, the oldest pending transfer takes it and the others keep waiting', async () => {
    w = world({ gate: stalled() });
    const client = await w.loggedIn();
    const running = Array.from({ length: 9 }, (_, i) => client.createFileMessageByUploading(bytes(100, i)));
    const [a, b, c] = Array.from({ length: 3 }, (_, i) => client.createFileMessageByUploading(bytes(100, 20 + i)));
    await flush();
    await running[4]!.cancel();
    await flush();
    expect([a, b, c].map((t) => stateOf(t!))).toEqual(['transferring', 'pending', 'pending']);
    await running[0]!.cancel();
    await flush();
    expect([a, b, c].map((t) => stateOf(t!))).toEqual(['transferring', 'transferring', 'pending']);
  });

  it('each client has its own nine slots', async () => {
    w = world({ gate: stalled() });
    const alice = await w.loggedIn('alice');
    const bob = await w.loggedIn('bob');
    const tasks = [
      ...Array.from({ length: 9 }, (_, i) => alice.createFileMessageByUploading(bytes(100, i))),
      ...Array.from({ length: 9 }, (_, i) => bob.createFileMessageByUploading(bytes(100, i))),
    ];
    await flush();
    expect(count(tasks, 'transferring')).toBe(18);
  });

  describe("overflow: 'reject'", () => {
    it('fails the tenth upload at once with 5 CONCURRENCY_LIMIT_EXCEEDED, leaving the nine running', async () => {
      const g = gate(false);
      w = world({ gate: g.fn });
      const client = await w.loggedIn('alice', { overflow: 'reject' });
      const nine = Array.from({ length: 9 }, (_, i) => client.createFileMessageByUploading(bytes(100, i)));
      await flush();
      const tenth = client.createFileMessageByUploading(bytes(100, 10));
      expect(stateOf(tenth)).toBe('failed');
      await rejectsWith(tenth.result, { name: 'UploadError', code: 5, mentions: /9 transfers/ });
      await flush();
      expect(count(nine, 'transferring')).toBe(9);
      expect(g.steps).toHaveLength(9);
      g.open();
      expect((await Promise.all(nine.map((t) => t.result))).length).toBe(9);
    });

    it('fails the tenth transfer with 5 when it is a download', async () => {
      const g = gate();
      w = world({ gate: g.fn });
      const client = await w.loggedIn('alice', { overflow: 'reject' });
      const id = await uploaded(client);
      // Let the finished upload's slot go back (see the "frees its slot at once" spec below).
      await flush();
      g.close();
      const nine = Array.from({ length: 9 }, (_, i) => client.createFileMessageByUploading(bytes(100, i)));
      await flush();
      await rejectsWith(client.downloadMediaToMemory(id).result, { name: 'DownloadError', code: 5 });
      expect(count(nine, 'transferring')).toBe(9);
    });

    it('counts against the configured cap', async () => {
      w = world({ gate: stalled() });
      const client = await w.loggedIn('alice', { overflow: 'reject', maxConcurrentTransfers: 2 });
      client.createFileMessageByUploading(bytes(100, 1));
      client.createFileMessageByUploading(bytes(100, 2));
      await rejectsWith(client.createImageMessageByUploading(bytes(100, 3)).result, { name: 'UploadError', code: 5, mentions: /2 transfers/ });
    });

    it('a refused transfer never held a slot: the nine keep running and nothing is queued', async () => {
      w = world({ gate: stalled() });
      const client = await w.loggedIn('alice', { overflow: 'reject' });
      const nine = Array.from({ length: 9 }, (_, i) => client.createFileMessageByUploading(bytes(100, i)));
      const refused = Array.from({ length: 5 }, (_, i) => client.createFileMessageByUploading(bytes(100, 20 + i)));
      const outcomes = await Promise.all(refused.map((t) => settle(t.result)));
      expect(outcomes.every((o) => !o.ok)).toBe(true);
      expect(count(nine, 'transferring')).toBe(9);
      expect(count(refused, 'failed')).toBe(5);
    });

    it('a finished transfer frees its slot at once: the next upload is admitted as soon as the result resolves', async () => {
      const g = gate(false);
      w = world({ gate: g.fn });
      const client = await w.loggedIn('alice', { overflow: 'reject' });
      const first = client.createFileMessageByUploading(bytes(100, 1));
      await flush();
      Array.from({ length: 8 }, (_, i) => client.createFileMessageByUploading(bytes(100, 2 + i)));
      await flush();
      expect(g.releaseOne()).toBe(true);
      await first.result;
      const next = client.createFileMessageByUploading(bytes(100, 99));
      expect(stateOf(next)).toBe('transferring');
    });
  });
});
