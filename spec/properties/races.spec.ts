/**
 * Interleavings with fc.scheduler(): fast-check decides the order in which chunks arrive, cancels land,
 * logouts happen and downloads finish. Whatever the order, each task ends in one consistent final state:
 * its result, its state, the answer to cancel and what the hub holds all tell the same story.
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { createClient, createHub, type FerryError, memoryStore, memoryTransport, type TransferState, virtualClock } from '../../src/index.js';
import { nobleSha256 } from '../../src/core/hash.js';
import { fcOptions } from './support.js';

const count = async (store: ReturnType<typeof memoryStore>): Promise<number> => {
  let n = 0;
  for await (const _ of store.list()) n++;
  return n;
};

const outcome = <T>(promise: Promise<T>): Promise<{ ok: true; value: T } | { ok: false; code: number }> =>
  promise.then(
    (value) => ({ ok: true as const, value }),
    (error: FerryError) => ({ ok: false as const, code: error.code }),
  );

/** Runs `action` after `ticks` scheduler steps, so fast-check can place it anywhere among the chunks. */
const later = <T>(s: fc.Scheduler, ticks: number, action: () => Promise<T>): Promise<T> => {
  let chain: Promise<unknown> = s.schedule(Promise.resolve());
  for (let i = 1; i < ticks; i++) chain = chain.then(() => s.schedule(Promise.resolve()));
  return chain.then(action);
};

const lastState = (states: TransferState[]): TransferState | undefined => states.at(-1);

const world = async (s: fc.Scheduler) => {
  const clock = virtualClock(0);
  const store = memoryStore();
  const hub = createHub({ clock, store });
  // Every chunk waits for the scheduler, so fast-check interleaves bytes with the other actions.
  const transport = memoryTransport(hub, { gate: (step) => s.schedule(Promise.resolve(), `${step.direction} chunk @${step.offset}`) });
  // The hasher is given, not loaded on demand, so every interleaving is fast-check's to choose.
  const client = createClient({ transport, clock, progressIntervalMs: 0, createHasher: nobleSha256 });
  await client.login({ userId: 'alice', token: hub.issueToken('alice') });
  return { clock, store, hub, client };
};

describe('races: one consistent final state whatever the interleaving', () => {
  it('cancel racing the completion of an upload', async () => {
    const seen = { done: 0, cancelled: 0 };
    await fc.assert(
      fc.asyncProperty(fc.scheduler(), fc.integer({ min: 1, max: 3 }), fc.integer({ min: 1, max: 12 }), async (s, chunks, ticks) => {
        const { store, hub, client } = await world(s);
        const task = client.createFileMessageByUploading(new Uint8Array((chunks - 1) * 65_536 + 10));
        const states: TransferState[] = [];
        task.state$.subscribe((state) => states.push(state));
        const cancelled = later(s, ticks, () => outcome(task.cancel()));
        const result = outcome(task.result);
        await s.waitFor(Promise.all([cancelled, result]));
        const [c, r] = [await cancelled, await result];
        if (lastState(states) === 'done') {
          seen.done++;
          expect(r.ok && typeof r.value.mediaId).toBe('string');
          expect(c).toEqual({ ok: false, code: 2 });
          expect(await count(store)).toBe(1);
        } else {
          seen.cancelled++;
          expect(lastState(states)).toBe('cancelled');
          expect(r).toEqual({ ok: false, code: 6 });
          expect(c.ok).toBe(true);
          expect(await count(store)).toBe(0);
        }
        hub.close();
      }),
      fcOptions(1000),
    );
    // Both sides of the race were really run.
    expect(seen.done).toBeGreaterThan(0);
    expect(seen.cancelled).toBeGreaterThan(0);
  }, 120_000);

  it('logout racing an upload and a download', async () => {
    const seen = { done: 0, interrupted: 0 };
    await fc.assert(
      fc.asyncProperty(fc.scheduler(), fc.integer({ min: 1, max: 12 }), async (s, ticks) => {
        const { store, hub, client } = await world(s);
        const seeded = await hub.createUpload('seeder', { size: 70_000, fileName: 'seed' });
        await hub.appendUpload('seeder', seeded.uploadId, 0, (async function* () { yield new Uint8Array(70_000); })());
        const up = client.createFileMessageByUploading(new Uint8Array(100_000));
        const down = client.downloadMediaToMemory(seeded.uploadId);
        const upStates: TransferState[] = [];
        up.state$.subscribe((state) => upStates.push(state));
        const loggedOut = later(s, ticks, () => outcome(client.logout()));
        const results = Promise.all([outcome(up.result), outcome(down.result)]);
        await s.waitFor(Promise.all([loggedOut, results]));
        const [u, d] = await results;
        expect((await loggedOut).ok).toBe(true);
        // Each task is done or interrupted (6): nothing else, nothing in between.
        expect(u.ok || u.code === 6).toBe(true);
        expect(d.ok || d.code === 6).toBe(true);
        expect(lastState(upStates)).toBe(u.ok ? 'done' : 'failed');
        if (u.ok) seen.done++;
        else seen.interrupted++;
        expect(await count(store)).toBe(u.ok ? 2 : 1);
        if (d.ok) expect(d.value.length).toBe(70_000);
        hub.close();
      }),
      fcOptions(1000),
    );
    expect(seen.done).toBeGreaterThan(0);
    expect(seen.interrupted).toBeGreaterThan(0);
  }, 120_000);

  it('cancel racing an idle timeout', async () => {
    const seen = { cancelled: 0, timedOut: 0 };
    await fc.assert(
      fc.asyncProperty(fc.scheduler(), async (s) => {
        const clock = virtualClock(0);
        const store = memoryStore();
        const hub = createHub({ clock, store });
        const transport = memoryTransport(hub, { gate: () => new Promise<void>(() => undefined) });
        const client = createClient({ transport, clock, idleTimeoutMs: 1_000 });
        await client.login({ userId: 'alice', token: hub.issueToken('alice') });
        const task = client.createFileMessageByUploading(new Uint8Array(10));
        const cancelled = later(s, 1, () => outcome(task.cancel()));
        const timedOut = later(s, 1, async () => clock.advance(1_000));
        const result = outcome(task.result);
        await s.waitFor(Promise.all([cancelled, timedOut, result]));
        const [c, r] = [await cancelled, await result];
        // Cancel won (6, cancel resolved) or the timeout did (3, cancel refused with 2).
        expect(r.ok).toBe(false);
        if (!r.ok && r.code === 6) {
          seen.cancelled++;
          expect(c.ok).toBe(true);
        } else {
          seen.timedOut++;
          expect([r, c]).toEqual([{ ok: false, code: 3 }, { ok: false, code: 2 }]);
        }
        expect(await count(store)).toBe(0);
        hub.close();
      }),
      fcOptions(1000),
    );
    expect(seen.cancelled).toBeGreaterThan(0);
    expect(seen.timedOut).toBeGreaterThan(0);
  }, 120_000);
});
