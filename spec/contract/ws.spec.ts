import { mkdtempSync, readdirSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { virtualClock } from '../../src/index.js';
import { startServer } from '../../src/server/server.js';
import { wsTransport } from '../../transports/ws.js';
import { describeTransportContract } from './contract.js';
import { pausableProxy } from './proxy.js';

/** Lets real I/O settle: the server, its file store and the sockets run on real time. */
const settle = async (): Promise<void> => {
  for (let i = 0; i < 4; i++) {
    await new Promise((resolve) => setTimeout(resolve, 5));
    await new Promise((resolve) => setImmediate(resolve));
  }
};

describeTransportContract('ws', async () => {
  const clock = virtualClock(Date.UTC(2026, 10, 26));
  const retentionMs = 7 * 24 * 3600_000;
  const dataDir = mkdtempSync(join(tmpdir(), 'ferry-ws-contract-'));
  const server = await startServer({ port: 0, dataDir, clock, retentionMs });
  const proxy = await pausableProxy(server.url);
  const viaProxy = `${proxy.url.replace(/^http/, 'ws')}/v1/ws`;
  return {
    transport: () => wsTransport({ url: viaProxy }),
    elsewhere: () => wsTransport({ url: server.wsUrl }),
    issueToken: (userId, ttlMs) => server.issueToken(userId, ttlMs),
    clock,
    async advance(ms) {
      await settle();
      clock.advance(ms);
      await settle();
    },
    pause: () => proxy.pause(),
    resume: () => proxy.resume(),
    async storedUploads() {
      await settle();
      return readdirSync(join(dataDir, 'meta')).filter((name) => name.endsWith('.json') && !name.startsWith('.')).length;
    },
    retentionMs,
    async close() {
      await proxy.close();
      await server.close();
    },
  };
});
