/**
 * A cluster of `ferry serve` processes on loopback sharing one Redis and one S3 store (RGW): each node a
 * child process started as users start it (`node --import tsx src/cli/serve-main.ts`, flags and
 * environment as `docs/deploy.md` gives them), killable with SIGKILL and restartable. Each cluster has key
 * prefixes of its own in Redis and S3, so specs never see each other's state.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createHub } from '../../src/index.js';
import type { S3Service } from './services.js';

const root = new URL('../..', import.meta.url).pathname;

/** One node of a {@link ProcessCluster}. */
export interface ClusterNode {
  readonly index: number;
  /** Its base URL (`http://127.0.0.1:port`); the same after a restart. */
  readonly url: string;
  /** Its WebSocket endpoint. */
  readonly wsUrl: string;
  /** Whether its process runs. */
  readonly running: boolean;
  /** `kill -9`: no drain, no goodbye. */
  kill(): Promise<void>;
  /** Starts it again on the same port. */
  restart(): Promise<void>;
  /** What it printed (stdout and stderr), for failure messages. */
  output(): string;
}

/** Nodes sharing Redis and S3, and how to mint tokens they all accept. */
export interface ProcessCluster {
  readonly nodes: readonly ClusterNode[];
  readonly redisPrefix: string;
  readonly s3Prefix: string;
  issueToken(userId: string, ttlMs?: number): string;
  close(): Promise<void>;
}

/** Options of {@link startProcessCluster}. */
export interface ProcessClusterOptions {
  readonly redisUrl: string;
  readonly s3: S3Service;
  /** Default: 3. */
  readonly nodes?: number;
  /** Extra `ferry serve` flags for every node. */
  readonly flags?: readonly string[];
  /** Extra environment for every node. */
  readonly env?: Readonly<Record<string, string>>;
}

interface Launched {
  readonly child: ChildProcess;
  readonly url: string;
}

const launch = (args: readonly string[], env: NodeJS.ProcessEnv, log: (text: string) => void): Promise<Launched> =>
  new Promise((resolve, reject) => {
    const child = spawn(process.execPath, ['--import', 'tsx', join(root, 'src/cli/serve-main.ts'), ...args], {
      cwd: root,
      env,
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let out = '';
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      reject(new Error(`node did not start within 30 s: ${out}`));
    }, 30_000);
    const onData = (chunk: Buffer): void => {
      const text = chunk.toString();
      out += text;
      log(text);
      const url = /listening on (http:\/\/\S+)/.exec(out)?.[1];
      if (url) {
        clearTimeout(timer);
        child.stdout?.off('data', onData);
        child.stdout?.on('data', (more: Buffer) => log(more.toString()));
        resolve({ child, url });
      }
    };
    child.stdout?.on('data', onData);
    child.stderr?.on('data', (chunk: Buffer) => log(chunk.toString()));
    child.once('exit', (code) => {
      clearTimeout(timer);
      reject(new Error(`node exited (${String(code)}) before listening: ${out}`));
    });
  });

const exited = (child: ChildProcess, signal: NodeJS.Signals): Promise<void> =>
  new Promise((resolve) => {
    if (child.exitCode !== null || child.signalCode !== null) return resolve();
    child.once('exit', () => resolve());
    child.kill(signal);
  });

/**
 * Starts `nodes` `ferry serve` processes sharing Redis and S3; resolves once every one listens.
 * @example const cluster = await startProcessCluster({ redisUrl, s3 });
 */
export const startProcessCluster = async (options: ProcessClusterOptions): Promise<ProcessCluster> => {
  const id = randomUUID().slice(0, 8);
  const redisPrefix = `ferry-test-${id}:`;
  const s3Prefix = `cluster-${id}/`;
  const secret = `cluster secret ${id}`;
  const count = options.nodes ?? 3;
  const dirs: string[] = [];
  const nodes: ClusterNode[] = [];
  const env = {
    ...process.env,
    FERRY_SECRET: secret,
    FERRY_REDIS_URL: options.redisUrl,
    FERRY_REDIS_PREFIX: redisPrefix,
    FERRY_S3_ENDPOINT: options.s3.endpoint,
    FERRY_S3_BUCKET: options.s3.bucket,
    FERRY_S3_PREFIX: s3Prefix,
    AWS_ACCESS_KEY_ID: options.s3.accessKeyId,
    AWS_SECRET_ACCESS_KEY: options.s3.secretAccessKey,
    FERRY_LOG_LEVEL: 'warn',
    ...options.env,
  };
  const startNode = async (index: number, port: number): Promise<Launched> => {
    const dataDir = dirs[index] ?? mkdtempSync(join(tmpdir(), `ferry-node-${index}-`));
    dirs[index] = dataDir;
    return launch(['--port', String(port), '--data-dir', dataDir, ...(options.flags ?? [])], env, (text) => {
      logs[index] = `${logs[index] ?? ''}${text}`.slice(-20_000);
    });
  };
  const logs: string[] = [];
  try {
    const launches = Array.from({ length: count }, (_, index) => startNode(index, 0));
    const settled = await Promise.allSettled(launches);
    const failed = settled.find((outcome) => outcome.status === 'rejected');
    if (failed) {
      await Promise.all(settled.flatMap((outcome) => (outcome.status === 'fulfilled' ? [exited(outcome.value.child, 'SIGKILL')] : [])));
      throw failed.reason;
    }
    const started = settled.map((outcome) => (outcome as PromiseFulfilledResult<Launched>).value);
    started.forEach((first, index) => {
      let current: Launched | undefined = first;
      const url = first.url;
      const port = Number(new URL(url).port);
      nodes.push({
        index,
        url,
        wsUrl: `${url.replace(/^http/, 'ws')}/v1/ws`,
        get running() {
          return current !== undefined && current.child.exitCode === null && current.child.signalCode === null;
        },
        async kill() {
          if (current) await exited(current.child, 'SIGKILL');
          current = undefined;
        },
        async restart() {
          if (current) await exited(current.child, 'SIGKILL');
          current = await startNode(index, port);
        },
        output: () => logs[index] ?? '',
      });
    });
  } catch (error) {
    for (const dir of dirs) rmSync(dir, { recursive: true, force: true });
    throw error;
  }
  const hub = createHub({ secret });
  return {
    nodes,
    redisPrefix,
    s3Prefix,
    issueToken: (userId, ttlMs) => hub.issueToken(userId, ttlMs),
    async close() {
      hub.close();
      await Promise.all(nodes.map((node) => node.kill()));
      for (const dir of dirs) rmSync(dir, { recursive: true, force: true });
    },
  };
};
