/**
 * The contract fixture for a transport that talks to a real server on loopback: `startServer` on a
 * temporary data folder and the shared virtual clock, reached through a pausable proxy (the
 * `elsewhere` client goes straight to the server). Each transport only says how it connects.
 */
import { mkdtempSync, readdirSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { virtualClock } from '../../src/index.js';
import { type FerryServer, startServer } from '../../src/server/server.js';
import type { Transport } from '../../transports/transport.js';
import type { ContractFixture } from './fixture.js';
import { pausableProxy } from './proxy.js';

/** Lets real I/O settle: the server, its file store and the sockets run on real time. */
const settle = async (): Promise<void> => {
  for (let i = 0; i < 4; i++) {
    await new Promise((resolve) => setTimeout(resolve, 5));
    await new Promise((resolve) => setImmediate(resolve));
  }
};

/** How one transport reaches the server: through the proxy (`proxyUrl`, an `http://` URL) or directly. */
export interface ServerTransports {
  readonly transport: (proxyUrl: string) => Transport;
  readonly elsewhere: (server: FerryServer) => Transport;
  /** Token lifetime when the caller gives none. Default: the server's. */
  readonly tokenTtlMs?: number;
}

/** A {@link ContractFixture} on a real server. @example describeTransportContract('http', () => serverFixture('http', { … })) */
export const serverFixture = async (name: string, how: ServerTransports): Promise<ContractFixture> => {
  const clock = virtualClock(Date.UTC(2026, 10, 26));
  const retentionMs = 7 * 24 * 3600_000;
  const dataDir = mkdtempSync(join(tmpdir(), `ferry-${name}-contract-`));
  const server = await startServer({ port: 0, dataDir, clock, retentionMs });
  const proxy = await pausableProxy(server.url);
  return {
    transport: () => how.transport(proxy.url),
    elsewhere: () => how.elsewhere(server),
    issueToken: (userId, ttlMs) => server.issueToken(userId, ttlMs ?? how.tokenTtlMs),
    clock,
    async advance(ms) {
      await settle();
      clock.advance(ms);
      await settle();
    },
    pause: () => proxy.pause(),
    resume: () => proxy.resume(),
    async storedUploads() {
      // The cleanup of a cancelled or failed upload is a request of its own that may still be on its way
      // (on a busy machine, longer than one settle): give it up to 2 s to leave nothing behind.
      const count = (): number => readdirSync(join(dataDir, 'meta')).filter((entry) => entry.endsWith('.json') && !entry.startsWith('.')).length;
      const deadline = Date.now() + 2_000;
      await settle();
      while (count() > 0 && Date.now() < deadline) await settle();
      return count();
    },
    retentionMs,
    async close() {
      await proxy.close();
      await server.close();
    },
  };
};
