/**
 * The contract fixture of an in-process hub behind the memory transport, over any media store: the
 * memory store, or the durable file store with real file I/O underneath.
 */
import { createHub, type MediaStore, memoryTransport, virtualClock, type VirtualClock } from '../../src/index.js';
import type { ContractFixture } from './fixture.js';

export interface HubFixtureOptions {
  /** The store, given the fixture's clock. */
  readonly store: (clock: VirtualClock) => Promise<MediaStore & { close?(): Promise<void> }>;
  /** Lets the work triggered by moving the clock settle. */
  readonly settle: () => Promise<void>;
}

/** A fixture whose `pause` holds every chunk at the memory transport's gate until `resume`. */
export const hubFixture = async ({ store: makeStore, settle }: HubFixtureOptions): Promise<ContractFixture> => {
  const clock = virtualClock(Date.UTC(2026, 10, 26));
  const store = await makeStore(clock);
  const retentionMs = 7 * 24 * 3600_000;
  const hub = createHub({ clock, store, retentionMs });
  let paused: { promise: Promise<void>; release: () => void } | undefined;
  const gate = () => paused?.promise ?? Promise.resolve();
  return {
    transport: () => memoryTransport(hub, { gate }),
    // A session ends when its token expires unrenewed (decision 62): tokens outlive the retention the suite fast-forwards through.
    issueToken: (userId, ttlMs) => hub.issueToken(userId, ttlMs ?? 30 * 24 * 3600_000),
    clock,
    async advance(ms) {
      clock.advance(ms);
      await settle();
    },
    pause() {
      if (paused) return;
      let release = () => undefined as void;
      const promise = new Promise<void>((resolve) => {
        release = resolve;
      });
      paused = { promise, release };
    },
    resume() {
      paused?.release();
      paused = undefined;
    },
    async storedUploads() {
      const count = async (): Promise<number> => {
        let n = 0;
        for await (const _ of store.list()) n++;
        return n;
      };
      // A cleanup still on its way (a background termination, decision 78) gets up to 3 s to leave nothing,
      // as the server fixture gives its own: a store across the network needs requests, not turns.
      const deadline = Date.now() + 3_000;
      let n = await count();
      while (n > 0 && Date.now() < deadline) {
        await settle();
        n = await count();
      }
      return n;
    },
    retentionMs,
    async close() {
      hub.close();
      await store.close?.();
    },
  };
};
