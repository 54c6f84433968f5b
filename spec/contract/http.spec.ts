import { mkdtempSync, readdirSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { virtualClock } from '../../src/index.js';
import { startServer } from '../../src/server/server.js';
import { httpTransport } from '../../transports/http.js';
import { describeTransportContract } from './contract.js';
import { pausableProxy } from './proxy.js';

/** Lets real I/O settle: the server, its file store and the sockets run on real time. */
const settle = async (): Promise<void> => {
  for (let i = 0; i < 4; i++) {
    await new Promise((resolve) => setTimeout(resolve, 5));
    await new Promise((resolve) => setImmediate(resolve));
  }
};

describeTransportContract('http', async () => {
  const clock = virtualClock(Date.UTC(2026, 10, 26));
  const retentionMs = 7 * 24 * 3600_000;
  const dataDir = mkdtempSync(join(tmpdir(), 'ferry-http-contract-'));
  const server = await startServer({ port: 0, dataDir, clock, retentionMs });
  const proxy = await pausableProxy(server.url);
  return {
    transport: () => httpTransport({ url: proxy.url }),
    elsewhere: () => httpTransport({ url: server.url }),
    // Every HTTP request is authenticated by its token, so tokens must outlive the retention the suite
    // fast-forwards through (the memory transport checks a token once, at login).
    issueToken: (userId, ttlMs) => server.issueToken(userId, ttlMs ?? 30 * 24 * 3600_000),
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
