/**
 * Shared pieces of the Redis bus specs: a key prefix of one's own on the shared Redis and its cleanup
 * (never a FLUSH: other specs use the same Redis at once), a recording of a session's deliveries, and a
 * private `redis-server` (append-only, fsync always) that a spec may kill and restart.
 * @module
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Redis } from 'ioredis';
import { vi } from 'vitest';

/** A key prefix no other spec (nor another run of this one) uses. */
export const uniquePrefix = (): string => `ferry-test:${randomUUID()}:`;

/** Deletes every key under `prefix`, by SCAN (the shared Redis is never flushed). */
export const deleteKeys = async (redis: Redis, prefix: string): Promise<void> => {
  let cursor = '0';
  do {
    const [next, keys] = await redis.scan(cursor, 'MATCH', `${prefix}*`, 'COUNT', 1_000);
    if (keys.length > 0) await redis.del(...keys);
    cursor = next;
  } while (cursor !== '0');
};

/** Every key under `prefix`. */
export const keysUnder = async (redis: Redis, prefix: string): Promise<string[]> => {
  const found: string[] = [];
  let cursor = '0';
  do {
    const [next, keys] = await redis.scan(cursor, 'MATCH', `${prefix}*`, 'COUNT', 1_000);
    found.push(...keys);
    cursor = next;
  } while (cursor !== '0');
  return found.sort();
};

export { type Recording, record } from '../contract/bus-contract.js';

/** Waits (bounded) until `check` passes. */
export const eventually = (check: () => void | Promise<void>, timeout = 5_000): Promise<void> => vi.waitFor(check, { timeout, interval: 5 });

/** A free loopback port (asked of the OS, then released). */
export const freePort = (): Promise<number> =>
  new Promise((resolve, reject) => {
    const server = createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const address = server.address();
      server.close(() => (typeof address === 'object' && address ? resolve(address.port) : reject(new Error('no port'))));
    });
  });

/** A `redis-server` of one spec's own, with its append-only file in a temporary folder. */
export interface PrivateRedis {
  readonly url: string;
  /** SIGKILLs the server (no shutdown save: only the append-only file survives) and waits for its exit. */
  kill(): Promise<void>;
  /** Starts it again on the same port and folder; resolves once it answers PING. */
  start(): Promise<void>;
  /** Kills it and removes its folder. */
  dispose(): Promise<void>;
}

const until = async (what: string, check: () => Promise<boolean>, timeoutMs = 10_000): Promise<void> => {
  const deadline = Date.now() + timeoutMs;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`${what} did not happen within ${timeoutMs} ms`);
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
};

/** Starts a private Redis (append-only, `appendfsync always`, no RDB) on a free port. */
export const privateRedis = async (): Promise<PrivateRedis> => {
  const dir = mkdtempSync(join(tmpdir(), 'ferry-bus-redis-'));
  const port = await freePort();
  const url = `redis://127.0.0.1:${port}`;
  let child: ChildProcess | undefined;
  const answers = async (): Promise<boolean> => {
    const probe = new Redis(url, { lazyConnect: true, maxRetriesPerRequest: 0, retryStrategy: () => null });
    probe.on('error', () => undefined);
    try {
      await probe.connect();
      return (await probe.ping()) === 'PONG';
    } catch {
      return false;
    } finally {
      probe.disconnect();
    }
  };
  const start = async (): Promise<void> => {
    const started = spawn(
      'redis-server',
      ['--port', String(port), '--bind', '127.0.0.1', '--dir', dir, '--appendonly', 'yes', '--appendfsync', 'always', '--save', '', '--daemonize', 'no'],
      { stdio: 'ignore' },
    );
    child = started;
    await until('the private redis-server answering', answers);
  };
  const kill = async (): Promise<void> => {
    const running = child;
    child = undefined;
    if (!running || running.exitCode !== null || running.signalCode !== null) return;
    const exited = new Promise((resolve) => running.once('exit', resolve));
    running.kill('SIGKILL');
    await exited;
  };
  await start();
  return {
    url,
    kill,
    start,
    async dispose() {
      await kill();
      rmSync(dir, { recursive: true, force: true });
    },
  };
};
