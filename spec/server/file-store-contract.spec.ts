/**
 * The transport contract suite over the memory transport, with the hub keeping its bytes in the durable
 * file store on a temporary folder: every rule of the contract holds with real file I/O underneath.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll } from 'vitest';
import { createHub, memoryTransport, virtualClock } from '../../src/index.js';
import { fileStore } from '../../src/server/file-store.js';
import { describeTransportContract } from '../contract/contract.js';

const root = mkdtempSync(join(tmpdir(), 'ferry-file-store-contract-'));
afterAll(() => rmSync(root, { recursive: true, force: true }));
let fixtures = 0;

describeTransportContract('memory over the file store', async () => {
  const clock = virtualClock(Date.UTC(2026, 10, 26));
  const store = await fileStore({ dataDir: join(root, `hub-${++fixtures}`), now: () => clock.now() });
  const retentionMs = 7 * 24 * 3600_000;
  const hub = createHub({ clock, store, retentionMs });
  let paused: { promise: Promise<void>; release: () => void } | undefined;
  const gate = () => paused?.promise ?? Promise.resolve();
  /** Lets promise chains and file I/O settle: file system calls take more than a few event-loop turns. */
  const settleIo = async (): Promise<void> => {
    for (let i = 0; i < 5; i++) await new Promise((resolve) => setImmediate(resolve));
    await new Promise((resolve) => setTimeout(resolve, 20));
  };
  return {
    transport: () => memoryTransport(hub, { gate }),
    issueToken: (userId, ttlMs) => hub.issueToken(userId, ttlMs),
    clock,
    async advance(ms) {
      clock.advance(ms);
      await settleIo();
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
      await store.close();
    },
  };
});
