/**
 * The cases of the sweep lease, for every implementation of `SweepLease`: the background sweeps of hubs
 * sharing one store run at the lease holder only; on virtual time, the lease passes to another hub when
 * its holder stops renewing it (a crash: no release) or gives it up (closed). Nothing here sleeps: time
 * is virtual, and a step waits for the lease's calls in flight (a Redis lease answers over a socket).
 * `sweep-lease.spec.ts` runs them on `memoryLease`, `spec/cluster/redis-lease.spec.ts` on Redis.
 */
import { expect, it } from 'vitest';
import { createHub, type MediaStore, memoryStore, type SweepLease, type VirtualClock, virtualClock } from '../../src/index.js';

const MINUTE = 60_000;

/** The shared store seen by one hub, counting the listings that hub's sweeps make. */
const counted = (store: MediaStore): { readonly store: MediaStore; listings: number } => {
  const view = {
    listings: 0,
    store: {
      create: (...args) => store.create(...args),
      append: (...args) => store.append(...args),
      complete: (...args) => store.complete(...args),
      stat: (...args) => store.stat(...args),
      read: (...args) => store.read(...args),
      delete: (...args) => store.delete(...args),
      list: () => {
        view.listings++;
        return store.list();
      },
    } satisfies MediaStore,
  };
  return view;
};

/** A lease whose calls in flight are known, so a step can wait for them. */
const tracked = (lease: SweepLease, inFlight: Set<Promise<unknown>>): SweepLease => {
  const track = <T>(promise: Promise<T>): Promise<T> => {
    inFlight.add(promise);
    const done = (): void => void inFlight.delete(promise);
    promise.then(done, done);
    return promise;
  };
  return {
    acquire: (holder, ttlMs) => track(lease.acquire(holder, ttlMs)),
    release: (holder) => track(lease.release(holder)),
  };
};

/** A lease as seen by a process that can crash: once crashed, it neither renews nor releases. */
const crashable = (lease: SweepLease): SweepLease & { crash(): void } => {
  let crashed = false;
  return {
    acquire: async (holder, ttlMs) => !crashed && lease.acquire(holder, ttlMs),
    release: async (holder) => (crashed ? undefined : lease.release(holder)),
    crash: () => {
      crashed = true;
    },
  };
};

/** A fresh lease on `clock`, free, as two hubs (two processes) see it: one view each. */
export type LeaseFor = (clock: VirtualClock) => readonly [SweepLease, SweepLease];

/**
 * Declares the cases (call inside a `describe`).
 * @example describe('memory', () => sweepLeaseCases((clock) => { const lease = memoryLease({ clock }); return [lease, lease]; }))
 */
export const sweepLeaseCases = (leaseFor: LeaseFor): void => {
  const twoHubs = () => {
    const clock = virtualClock(0);
    const shared = memoryStore();
    const inFlight = new Set<Promise<unknown>>();
    const [forA, forB] = leaseFor(clock);
    const [viewA, viewB] = [counted(shared), counted(shared)];
    const leaseA = crashable(tracked(forA, inFlight));
    const a = createHub({ clock, store: viewA.store, lease: leaseA, sweepIntervalMs: MINUTE, retentionMs: 10 * MINUTE });
    // B's ticks fall a quarter of an interval after A's, as two processes started apart.
    clock.advance(MINUTE / 4);
    const b = createHub({ clock, store: viewB.store, lease: tracked(forB, inFlight), sweepIntervalMs: MINUTE, retentionMs: 10 * MINUTE });
    /** Lets the lease's calls and the promise chains after them settle without moving time. */
    const flush = async (): Promise<void> => {
      do {
        await Promise.allSettled([...inFlight]);
        for (let i = 0; i < 5; i++) await new Promise((resolve) => setImmediate(resolve));
      } while (inFlight.size > 0);
    };
    /** Moves time to `minutes` (past both hubs' ticks up to then), letting each tick's promises settle. */
    const until = async (minutes: number): Promise<void> => {
      while (clock.now() < minutes * MINUTE) {
        clock.advance(Math.min(MINUTE / 4, minutes * MINUTE - clock.now()));
        await flush();
      }
    };
    return { clock, shared, a, b, viewA, viewB, leaseA, until, flush };
  };

  it('of two hubs sharing a store and a lease, only the holder sweeps, at every interval', async () => {
    const { a, b, viewA, viewB, until } = twoHubs();
    await until(10.5);
    expect(viewA.listings).toBe(10);
    expect(viewB.listings).toBe(0);
    a.close();
    b.close();
  });

  it('passes the lease when its holder stops renewing: the other hub sweeps once the TTL has run out', async () => {
    const { shared, a, b, viewA, viewB, leaseA, until } = twoHubs();
    await until(3.1);
    expect([viewA.listings, viewB.listings]).toEqual([3, 0]);
    // A crashes after renewing at 3 min (until 4.5 min, one and a half intervals): no release, no renewal.
    leaseA.crash();
    a.close();
    const media = await b.createUpload('alice', { size: 1, fileName: 'x' });
    await b.appendUpload('alice', media.uploadId, 0, (async function* () { yield new Uint8Array(1); })());
    const before = viewB.listings;
    await until(5); // B's ticks at 3.25 and 4.25 min: the lease is still A's
    expect(viewB.listings).toBe(before);
    await until(5.5); // B's tick at 5.25 min: the lease ran out, B takes it and sweeps
    expect(viewB.listings).toBe(before + 1);
    await until(16);
    expect(viewB.listings).toBe(before + 11);
    // B's sweeps do the work: the media, expired 10 minutes after its upload, is gone.
    const entries: unknown[] = [];
    for await (const entry of shared.list()) entries.push(entry);
    expect(entries).toEqual([]);
    expect(viewA.listings).toBe(3);
    b.close();
  });

  it('a hub closed normally gives the lease up, so the other takes it at its next tick', async () => {
    const { a, b, viewB, until, flush } = twoHubs();
    await until(2.1);
    a.close(); // A renewed at 2 min, until 3.5 min
    await flush();
    await until(2.3); // B's next tick, at 2.25 min, long before the TTL would have run out
    expect(viewB.listings).toBe(1);
    b.close();
  });

  it('one holder at a time, renewed by its holder, free once its TTL ran out or it was released', async () => {
    const clock = virtualClock(0);
    const [lease, other] = leaseFor(clock);
    expect(await lease.acquire('a', 100)).toBe(true);
    expect(await other.acquire('b', 100)).toBe(false);
    clock.advance(99);
    expect(await lease.acquire('a', 100)).toBe(true); // renewed until 199
    clock.advance(99);
    expect(await other.acquire('b', 100)).toBe(false);
    clock.advance(1);
    expect(await other.acquire('b', 100)).toBe(true);
    await lease.release('a'); // not a's: nothing changes
    expect(await lease.acquire('a', 100)).toBe(false);
    await other.release('b');
    expect(await lease.acquire('a', 100)).toBe(true);
  });
};
