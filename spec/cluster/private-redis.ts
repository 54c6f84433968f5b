/**
 * A Redis of a spec's own (Debian's `redis-server`, on a free loopback port, its append-only file fsynced
 * at every write in a temporary folder), for specs that kill and restart it: the shared Redis of
 * `scripts/services.sh` is never disturbed.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

/** A private Redis. */
export interface PrivateRedis {
  readonly url: string;
  /** `kill -9`, then a start on the same port and folder: what was acknowledged is replayed from the AOF. */
  restart(options?: { readonly downMs?: number }): Promise<void>;
  stop(): Promise<void>;
}

const freePort = (): Promise<number> =>
  new Promise((resolve, reject) => {
    const server = createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const address = server.address();
      const port = typeof address === 'object' && address ? address.port : 0;
      server.close(() => resolve(port));
    });
  });

const run = (port: number, dir: string): Promise<ChildProcess> =>
  new Promise((resolve, reject) => {
    const child = spawn(
      'redis-server',
      ['--port', String(port), '--bind', '127.0.0.1', '--appendonly', 'yes', '--appendfsync', 'always', '--dir', dir, '--save', ''],
      { stdio: ['ignore', 'pipe', 'pipe'] },
    );
    let out = '';
    const timer = setTimeout(() => reject(new Error(`redis-server did not start: ${out}`)), 10_000);
    child.stdout?.on('data', (chunk: Buffer) => {
      out += chunk.toString();
      if (out.includes('Ready to accept connections')) {
        clearTimeout(timer);
        resolve(child);
      }
    });
    child.once('error', reject);
    child.once('exit', (code) => reject(new Error(`redis-server exited (${String(code)}): ${out}`)));
  });

const killed = (child: ChildProcess): Promise<void> =>
  new Promise((resolve) => {
    if (child.exitCode !== null || child.signalCode !== null) return resolve();
    child.removeAllListeners('exit');
    child.once('exit', () => resolve());
    child.kill('SIGKILL');
  });

/** Starts a private Redis. @example const redis = await startPrivateRedis(); … await redis.restart(); */
export const startPrivateRedis = async (): Promise<PrivateRedis> => {
  const dir = mkdtempSync(join(tmpdir(), 'ferry-private-redis-'));
  const port = await freePort();
  let child = await run(port, dir);
  return {
    url: `redis://127.0.0.1:${port}`,
    async restart({ downMs = 500 } = {}) {
      await killed(child);
      await new Promise((resolve) => setTimeout(resolve, downMs));
      child = await run(port, dir);
    },
    async stop() {
      await killed(child);
      rmSync(dir, { recursive: true, force: true });
    },
  };
};
