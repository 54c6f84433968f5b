/**
 * The cluster scenario's machinery: `ferry serve` processes started as deployed (`node --import tsx
 * src/cli/serve-main.ts` with flags and environment, as `spec/cluster/processes.ts` and docs/deploy.md
 * start them), the services found in the environment, and the clean-up of what a run left in Redis and
 * the S3 bucket under its own prefixes (never a flush: others share both services).
 * @module
 */
import { type ChildProcess, execFileSync, spawn } from 'node:child_process';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import {
  AbortMultipartUploadCommand,
  CreateBucketCommand,
  DeleteObjectsCommand,
  HeadBucketCommand,
  ListMultipartUploadsCommand,
  ListObjectsV2Command,
  S3Client,
} from '@aws-sdk/client-s3';
import { Redis } from 'ioredis';
import { removeLifecycleRules } from '../src/cluster/s3-bucket.js';
import { BENCH_SECRET } from './harness.js';

const root = dirname(dirname(fileURLToPath(import.meta.url)));

/** Where the bench finds Redis and the S3 store (the `FERRY_TEST_*` variables `scripts/services.sh env` prints). */
export interface ClusterServices {
  readonly redisUrl: string;
  readonly s3: {
    readonly endpoint: string;
    readonly bucket: string;
    readonly region: string;
    readonly accessKeyId: string;
    readonly secretAccessKey: string;
  };
}

/**
 * The services named in the environment, or why the scenario cannot run.
 * @example const found = clusterServices(process.env); if (typeof found === 'string') console.log(`not run: ${found}`);
 */
export const clusterServices = (env: NodeJS.ProcessEnv): ClusterServices | string => {
  const { FERRY_TEST_REDIS_URL: redisUrl, FERRY_TEST_S3_ENDPOINT: endpoint, FERRY_TEST_S3_BUCKET: bucket } = env;
  const { FERRY_TEST_S3_ACCESS_KEY_ID: accessKeyId, FERRY_TEST_S3_SECRET_ACCESS_KEY: secretAccessKey } = env;
  const missing = [
    ...(redisUrl ? [] : ['FERRY_TEST_REDIS_URL']),
    ...(endpoint && bucket && accessKeyId && secretAccessKey ? [] : ['FERRY_TEST_S3_ENDPOINT/_BUCKET/_ACCESS_KEY_ID/_SECRET_ACCESS_KEY']),
  ];
  if (!redisUrl || !endpoint || !bucket || !accessKeyId || !secretAccessKey) {
    return `needs Redis and an S3 store (${missing.join(', ')} unset): start them with \`eval "$(scripts/services.sh start)"\` (Debian's redis-server, radosgw, ceph-mon and ceph-osd) first`;
  }
  return { redisUrl, s3: { endpoint, bucket, region: 'us-east-1', accessKeyId, secretAccessKey } };
};

/** An S3 client for the store, configured as the node's own (`s3-store.ts`): path-style, the SDK's defaults otherwise. */
export const s3ClientOf = (services: ClusterServices): S3Client =>
  new S3Client({
    endpoint: services.s3.endpoint,
    region: services.s3.region,
    forcePathStyle: true,
    credentials: { accessKeyId: services.s3.accessKeyId, secretAccessKey: services.s3.secretAccessKey },
  });

/** Creates the bucket if it is missing (the nodes would too; the raw baseline may run first). */
export const ensureBenchBucket = async (client: S3Client, bucket: string): Promise<void> => {
  try {
    await client.send(new HeadBucketCommand({ Bucket: bucket }));
  } catch {
    await client.send(new CreateBucketCommand({ Bucket: bucket })).catch((error: unknown) => {
      if ((error as { name?: string }).name !== 'BucketAlreadyOwnedByYou') throw error;
    });
  }
};

/**
 * Removes every object, unfinished multipart upload and lifecycle rule (`removeLifecycleRules`) under
 * `prefix`; resolves with the count of objects removed.
 */
export const removeS3Prefix = async (client: S3Client, bucket: string, prefix: string): Promise<number> => {
  if (prefix === '') throw new RangeError('refusing to remove a whole bucket: the prefix is empty');
  await removeLifecycleRules(client, bucket, prefix);
  let removed = 0;
  for (let token: string | undefined; ; ) {
    const page = await client.send(new ListObjectsV2Command({ Bucket: bucket, Prefix: prefix, ...(token ? { ContinuationToken: token } : {}) }));
    const keys = (page.Contents ?? []).flatMap((object) => (object.Key ? [{ Key: object.Key }] : []));
    if (keys.length > 0) {
      await client.send(new DeleteObjectsCommand({ Bucket: bucket, Delete: { Objects: keys, Quiet: true } }));
      removed += keys.length;
    }
    if (!page.IsTruncated || !page.NextContinuationToken) break;
    token = page.NextContinuationToken;
  }
  const uploads = await client.send(new ListMultipartUploadsCommand({ Bucket: bucket, Prefix: prefix }));
  for (const upload of uploads.Uploads ?? []) {
    if (upload.Key && upload.UploadId) await client.send(new AbortMultipartUploadCommand({ Bucket: bucket, Key: upload.Key, UploadId: upload.UploadId }));
  }
  return removed;
};

/** Removes every Redis key under `prefix` (SCAN + UNLINK, never a flush); resolves with the count. */
export const removeRedisPrefix = async (redisUrl: string, prefix: string): Promise<number> => {
  if (prefix === '') throw new RangeError('refusing to remove every key: the prefix is empty');
  const redis = new Redis(redisUrl, { lazyConnect: true, maxRetriesPerRequest: 2 });
  await redis.connect();
  let removed = 0;
  try {
    let cursor = '0';
    do {
      const [next, keys] = await redis.scan(cursor, 'MATCH', `${prefix.replace(/[*?[\]\\]/g, '\\$&')}*`, 'COUNT', 500);
      cursor = next;
      if (keys.length > 0) removed += await redis.unlink(...keys);
    } while (cursor !== '0');
  } finally {
    redis.disconnect();
  }
  return removed;
};

/** One `ferry serve` process. */
export interface ServeNode {
  /** Its base URL, `http://127.0.0.1:<port>`. */
  readonly url: string;
  /** Its WebSocket endpoint. */
  readonly wsUrl: string;
  /** Its tus endpoint. */
  readonly uploadsUrl: string;
  /** The last 20,000 characters it printed, for error messages. */
  output(): string;
  /** Its CPU time so far (user + system), µs, from `/proc/<pid>/stat` (Linux; 10 ms steps); `NaN` elsewhere. */
  cpu(): Promise<number>;
  /** SIGTERM (the drain a deployment uses), SIGKILL after 15 s; removes its data folder. */
  stop(): Promise<void>;
}

/** Clock ticks per second of `/proc/<pid>/stat`'s times (`getconf CLK_TCK`, 100 on Linux). */
let ticksPerSecond: number | undefined;

/** CPU time (user + system) of process `pid` so far, µs; `NaN` where `/proc` is not there. */
const cpuOfProcess = async (pid: number | undefined): Promise<number> => {
  if (pid === undefined || process.platform !== 'linux') return Number.NaN;
  ticksPerSecond ??= Number(execFileSync('getconf', ['CLK_TCK'], { encoding: 'utf8' }).trim()) || 100;
  const stat = await readFile(`/proc/${pid}/stat`, 'utf8');
  // Fields after the command name (in parentheses, which may hold spaces): utime and stime are the 12th and 13th.
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  return ((Number(fields[11]) + Number(fields[12])) / ticksPerSecond) * 1e6;
};

/**
 * Starts `ferry serve --port 0 --data-dir <temp> <flags…>` with `FERRY_SECRET` = {@link BENCH_SECRET} (so
 * `benchToken` logs in on every node) and `env` on top of this process's environment; resolves once it
 * prints its address.
 * @example const node = await startServeNode(['--limit', 'messageRate=off'], {});
 */
export const startServeNode = async (flags: readonly string[], env: Readonly<Record<string, string>>): Promise<ServeNode> => {
  const dataDir = await mkdtemp(join(tmpdir(), 'ferry-bench-node-'));
  const child: ChildProcess = spawn(process.execPath, ['--import', 'tsx', join(root, 'src/cli/serve-main.ts'), '--port', '0', '--data-dir', dataDir, ...flags], {
    cwd: root,
    env: { ...process.env, FERRY_SECRET: BENCH_SECRET, FERRY_LOG_LEVEL: 'warn', ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let out = '';
  const record = (chunk: Buffer): void => {
    out = `${out}${chunk.toString()}`.slice(-20_000);
  };
  child.stderr?.on('data', record);
  const exited = new Promise<void>((done) => child.once('exit', () => done()));
  try {
    const url = await new Promise<string>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`ferry serve did not listen within 30 s:\n${out}`)), 30_000);
      child.stdout?.on('data', (chunk: Buffer) => {
        record(chunk);
        const found = /listening on (http:\/\/\S+)/.exec(out)?.[1];
        if (found) {
          clearTimeout(timer);
          resolve(found);
        }
      });
      child.once('exit', (code, signal) => {
        clearTimeout(timer);
        reject(new Error(`ferry serve exited (${signal ?? String(code)}) before listening:\n${out}`));
      });
    });
    return {
      url,
      wsUrl: `${url.replace(/^http/, 'ws')}/v1/ws`,
      uploadsUrl: `${url}/v1/uploads`,
      output: () => out,
      cpu: () => cpuOfProcess(child.pid),
      stop: async () => {
        if (child.exitCode === null && child.signalCode === null) {
          child.kill('SIGTERM');
          const killer = setTimeout(() => child.kill('SIGKILL'), 15_000);
          await exited;
          clearTimeout(killer);
        }
        await rm(dataDir, { recursive: true, force: true });
      },
    };
  } catch (error) {
    child.kill('SIGKILL');
    await exited;
    await rm(dataDir, { recursive: true, force: true });
    throw error;
  }
};
