import { createHub, memoryStore, memoryTransport, virtualClock } from '../../src/index.js';
import { describeTransportContract } from './contract.js';

describeTransportContract('memory', async () => {
  const clock = virtualClock(Date.UTC(2026, 10, 26));
  const store = memoryStore();
  const retentionMs = 7 * 24 * 3600_000;
  const hub = createHub({ clock, store, retentionMs });
  let paused: { promise: Promise<void>; release: () => void } | undefined;
  const gate = () => paused?.promise ?? Promise.resolve();
  return {
    transport: () => memoryTransport(hub, { gate }),
    issueToken: (userId, ttlMs) => hub.issueToken(userId, ttlMs),
    clock,
    async advance(ms) {
      clock.advance(ms);
      for (let i = 0; i < 5; i++) await new Promise((resolve) => setImmediate(resolve));
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
      let n = 0;
      for await (const _ of store.list()) n++;
      return n;
    },
    retentionMs,
    async close() {
      hub.close();
    },
  };
});
