/**
 * The transport contract's fixture on a three-node cluster: three servers on loopback sharing one Redis
 * and one S3 store (RGW), each with connections of its own (as three processes have), reached through
 * pausable proxies. Clients are spread over the nodes, each given all three with its own first.
 *
 * The nodes run in this process, not as `ferry serve` processes, because the contract drives one virtual
 * clock shared by hub and clients (retention, token expiry and idle timeouts on virtual time); the
 * process-level faults (`kill -9`, restarts) are in `faults.spec.ts` on real processes (decision 97). Each
 * fixture has key prefixes of its own, and node leases longer than the retention the suite fast-forwards
 * through, so a virtual week does not make every node look dead.
 */
import { randomUUID } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { virtualClock } from '../../src/index.js';
import { s3Store } from '../../src/cluster/s3-store.js';
import { type FerryServer, startServer } from '../../src/server/server.js';
import type { Transport } from '../../transports/transport.js';
import type { ContractFixture } from '../contract/fixture.js';
import { type PausableProxy, pausableProxy } from '../contract/proxy.js';
import type { S3Service } from './services.js';

const settle = async (): Promise<void> => {
  for (let i = 0; i < 4; i++) {
    await new Promise((resolve) => setTimeout(resolve, 10));
    await new Promise((resolve) => setImmediate(resolve));
  }
};

/** How one transport reaches the nodes. */
export interface ClusterTransports {
  /** A transport given every node (as `http://` proxy URLs), its first one first. */
  readonly transport: (nodeUrls: readonly string[]) => Transport;
  /** A transport straight to one server, bypassing the proxies. */
  readonly elsewhere: (server: FerryServer) => Transport;
  readonly tokenTtlMs: number;
}

const DAY = 24 * 3600_000;

/** A {@link ContractFixture} on three nodes sharing Redis and S3. */
export const clusterFixture = async (redisUrl: string, s3: S3Service, how: ClusterTransports): Promise<ContractFixture> => {
  const clock = virtualClock(Date.UTC(2026, 10, 26));
  const retentionMs = 7 * DAY;
  const id = randomUUID().slice(0, 8);
  const keyPrefix = `ferry-test-${id}:`;
  const prefix = `contract-${id}/`;
  const secret = `cluster contract ${id}`;
  const dirs: string[] = [];
  const servers: FerryServer[] = [];
  const proxies: PausableProxy[] = [];
  const close = async (): Promise<void> => {
    await Promise.allSettled(proxies.map((proxy) => proxy.close()));
    await Promise.allSettled(servers.map((server) => server.close()));
    for (const dir of dirs) rmSync(dir, { recursive: true, force: true });
  };
  try {
    for (let i = 0; i < 3; i++) {
      const dataDir = mkdtempSync(join(tmpdir(), `ferry-cluster-contract-${i}-`));
      dirs.push(dataDir);
      servers.push(
        await startServer({
          port: 0,
          dataDir,
          clock,
          retentionMs,
          secret,
          redis: { url: redisUrl, keyPrefix, nodeLeaseMs: 20 * DAY },
          s3: { ...s3, prefix },
        }),
      );
      proxies.push(await pausableProxy((servers[i] as FerryServer).url));
    }
  } catch (error) {
    await close();
    throw error;
  }
  // Counts what the cluster's store holds, through a store of its own on the same prefix.
  const view = s3Store({ ...s3, prefix, now: () => clock.now(), retentionMs, partialTtlMs: DAY });
  let next = 0;
  return {
    transport: () => {
      const first = next++ % proxies.length;
      const ordered = proxies.map((_, i) => (proxies[(first + i) % proxies.length] as PausableProxy).url);
      return how.transport(ordered);
    },
    elsewhere: () => how.elsewhere(servers[next++ % servers.length] as FerryServer),
    issueToken: (userId, ttlMs) => (servers[0] as FerryServer).issueToken(userId, ttlMs ?? how.tokenTtlMs),
    clock,
    async advance(ms) {
      await settle();
      clock.advance(ms);
      await settle();
    },
    pause: () => proxies.forEach((proxy) => proxy.pause()),
    resume: () => proxies.forEach((proxy) => proxy.resume()),
    async storedUploads() {
      const count = async (): Promise<number> => {
        let entries = 0;
        for await (const _ of view.list()) entries++;
        return entries;
      };
      // The kicked session's uploads are terminated in the background (an S3 delete per part): waited for, on a loaded machine too.
      const deadline = Date.now() + 8_000;
      await settle();
      let entries = await count();
      while (entries > 0 && Date.now() < deadline) {
        await settle();
        entries = await count();
      }
      return entries;
    },
    retentionMs,
    async close() {
      view.close();
      await close();
    },
  };
};
