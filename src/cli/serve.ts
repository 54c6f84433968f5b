/**
 * `ferry serve [--port] [--host] [--data-dir] [--dev] [--log-level] [--metrics-port] [--drain-timeout] [--limit …]`:
 * the server with the defaults `npm start` has always had — port 8080 (`PORT`), host 127.0.0.1 (`HOST`),
 * data in `./.ferry-data` (`FERRY_DATA_DIR`), the secret from `FERRY_SECRET` or generated once into the
 * data folder — plus JSON log lines on stdout from `info` (`FERRY_LOG_LEVEL`), the operator's endpoints
 * on `--metrics-port` if given, and a drain on SIGTERM or Ctrl-C (a second signal stops at once); exit 0.
 * See `docs/deploy.md`.
 * @module
 */
import { resolve } from 'node:path';
import { createLogger, isLogLevel, LOG_LEVELS } from '../server/log.js';
import { DevModeUnavailableError, startServer } from '../server/server.js';
import { errnoOf } from '../platform/node-fs.js';
import { ExitCode, type ExitCodeValue, UsageError } from './exit.js';
import { parseLimits } from './limit-flags.js';
import { parseDuration } from './token-command.js';
import type { RedisOptions, S3Options } from '../server/backends.js';

/** Options of `ferry serve`, as commander parses them. */
export interface ServeOptions {
  readonly port: string;
  readonly host: string;
  readonly dataDir: string;
  /** Development mode (`--dev`, `FERRY_DEV`): the demo page and its token endpoint (decision 48). */
  readonly dev?: boolean | string;
  /** `--log-level`, `FERRY_LOG_LEVEL`: the lowest level logged. Default: `info`. */
  readonly logLevel?: string;
  /** `--metrics-port`, `FERRY_METRICS_PORT`: a port of their own for `/healthz`, `/readyz`, `/metrics`. */
  readonly metricsPort?: string;
  /** `--drain-timeout`, `FERRY_DRAIN_TIMEOUT_MS`: ms given to requests in flight on SIGTERM. Default: 10,000. */
  readonly drainTimeout?: string;
  /** `--limit name=value` (repeatable), `FERRY_LIMITS` (comma-separated): limits other than the defaults. */
  readonly limit?: readonly string[] | string;
  /** `--retention`, `FERRY_RETENTION`: how long media is kept after its upload (`7d`, `24h`, …). */
  readonly retention?: string;
  /** `--redis`, `FERRY_REDIS_URL`: the Redis every node shares. */
  readonly redis?: string;
  /** `--redis-prefix`, `FERRY_REDIS_PREFIX`: prefix of every key. */
  readonly redisPrefix?: string;
  /** `--node-lease`, `FERRY_NODE_LEASE`: how soon a dead node's sessions end. Default: 15 s. */
  readonly nodeLease?: string;
  /** `--s3-endpoint`, `FERRY_S3_ENDPOINT`: the S3 store of media; credentials from `AWS_*`. */
  readonly s3Endpoint?: string;
  /** `--s3-bucket`, `FERRY_S3_BUCKET`. */
  readonly s3Bucket?: string;
  /** `--s3-region`, `FERRY_S3_REGION`. Default: `us-east-1`. */
  readonly s3Region?: string;
  /** `--s3-prefix`, `FERRY_S3_PREFIX`: prefix of every object key. */
  readonly s3Prefix?: string;
}

/** `--redis`'s URL, checked: `redis://` or `rediss://`. */
const redisOf = (options: ServeOptions): RedisOptions | undefined => {
  if (options.redis === undefined || options.redis === '') {
    if (options.nodeLease) throw new UsageError('--node-lease needs --redis (FERRY_REDIS_URL)');
    return undefined;
  }
  let url: URL;
  try {
    url = new URL(options.redis);
  } catch {
    throw new UsageError(`--redis ${JSON.stringify(options.redis)}: expected a URL such as redis://127.0.0.1:6379`);
  }
  if (url.protocol !== 'redis:' && url.protocol !== 'rediss:') throw new UsageError(`--redis ${JSON.stringify(options.redis)}: expected a redis:// or rediss:// URL`);
  return {
    url: options.redis,
    ...(options.redisPrefix ? { keyPrefix: options.redisPrefix } : {}),
    ...(options.nodeLease ? { nodeLeaseMs: parseDuration('--node-lease', options.nodeLease) } : {}),
  };
};

/** The S3 options, checked: an http(s) endpoint, a bucket, and credentials from the environment. */
const s3Of = (options: ServeOptions, env: NodeJS.ProcessEnv): S3Options | undefined => {
  const { s3Endpoint: endpoint, s3Bucket: bucket } = options;
  if (!endpoint) {
    if (bucket) throw new UsageError('--s3-bucket needs --s3-endpoint (FERRY_S3_ENDPOINT)');
    return undefined;
  }
  if (!/^https?:\/\/[^/]/.test(endpoint) || !URL.canParse(endpoint)) {
    throw new UsageError(`--s3-endpoint ${JSON.stringify(endpoint)}: expected a URL such as http://127.0.0.1:7480`);
  }
  if (!bucket) throw new UsageError('--s3-endpoint needs --s3-bucket (FERRY_S3_BUCKET)');
  const { AWS_ACCESS_KEY_ID: accessKeyId, AWS_SECRET_ACCESS_KEY: secretAccessKey } = env;
  if (!accessKeyId || !secretAccessKey) throw new UsageError('--s3-endpoint needs AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY in the environment');
  return {
    endpoint,
    bucket,
    accessKeyId,
    secretAccessKey,
    ...(options.s3Region ? { region: options.s3Region } : {}),
    ...(options.s3Prefix ? { prefix: options.s3Prefix } : {}),
  };
};

const portOf = (flag: string, value: string): number => {
  const port = Number(value);
  if (!(/^\d+$/.test(value) && port <= 65_535)) throw new UsageError(`${flag} ${JSON.stringify(value)}: expected 0 to 65535`);
  return port;
};

/** Runs the server until SIGINT or SIGTERM, then drains it; resolves with the exit code once it has closed. */
export const serveCommand = async (options: ServeOptions, out: (line: string) => void): Promise<ExitCodeValue> => {
  const port = portOf('--port', options.port);
  const metricsPort = options.metricsPort === undefined || options.metricsPort === '' ? undefined : portOf('--metrics-port', options.metricsPort);
  const logLevel = options.logLevel ?? 'info';
  if (!isLogLevel(logLevel)) throw new UsageError(`--log-level ${JSON.stringify(logLevel)}: expected one of ${LOG_LEVELS.join(', ')}`);
  const drainTimeout = options.drainTimeout ?? '10000';
  if (!/^\d{1,9}$/.test(drainTimeout)) throw new UsageError(`--drain-timeout ${JSON.stringify(drainTimeout)}: expected a number of milliseconds`);
  const limits = parseLimits(typeof options.limit === 'string' ? [options.limit] : (options.limit ?? []));
  const retentionMs = options.retention === undefined || options.retention === '' ? undefined : parseDuration('--retention', options.retention);
  const redis = redisOf(options);
  const s3 = s3Of(options, process.env);
  // The pinned AWS SDK runs on Node 20; its notice that later releases will not is for developers, not a
  // line in every node's log (docs/deploy.md says which version is pinned and why).
  if (s3) process.env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED ??= 'true';
  const dataDir = resolve(options.dataDir);
  const secret = process.env.FERRY_SECRET;
  const dev = options.dev === true || (typeof options.dev === 'string' && options.dev !== '' && options.dev !== '0');
  const server = await startServer({
    dataDir,
    port,
    host: options.host,
    dev,
    logger: createLogger({ level: logLevel }),
    drainTimeoutMs: Number(drainTimeout),
    limits,
    ...(metricsPort === undefined ? {} : { metricsPort }),
    ...(secret ? { secret } : {}),
    ...(retentionMs === undefined ? {} : { retentionMs }),
    ...(redis ? { redis } : {}),
    ...(s3 ? { s3 } : {}),
  }).catch((error: unknown) => {
    if (error instanceof DevModeUnavailableError) throw new UsageError(`--dev: ${error.message}`);
    // A limit out of range (startServer checks them all) is a usage error, named.
    if (error instanceof RangeError && error.message.startsWith('limits.')) throw new UsageError(`--limit: ${error.message}`);
    const errno = errnoOf(error);
    if (errno === 'EADDRINUSE') throw new UsageError(`port ${port}${metricsPort === undefined ? '' : ` or ${metricsPort}`} is in use: pass --port (--metrics-port) or set PORT to another one`);
    if (errno === 'EADDRNOTAVAIL' || errno === 'ENOTFOUND') throw new UsageError(`cannot listen on host ${options.host} (${errno})`);
    throw error;
  });
  out(`ferry server listening on ${server.url}`);
  out(`  data folder:   ${dataDir}${s3 ? ' (the secret only: media are in S3)' : ''}`);
  if (redis) out(`  redis:         ${new URL(redis.url).host} (shared by every node)`);
  if (redis && !secret) out('  note:          the token secret is this data folder\'s: every node of a cluster must share FERRY_SECRET');
  if (s3) out(`  media:         ${s3.endpoint} bucket ${s3.bucket}`);
  out(`  uploads (tus): ${server.uploadsUrl}`);
  out(`  mint a token:  npx ferry token <userId>`);
  out(`  protocol:      docs/protocol-http.md, docs/protocol-ws.md (${server.wsUrl})`);
  out(`  operations:    ${server.metricsUrl}/healthz, /readyz, /metrics (docs/deploy.md)`);
  if (dev) out(`  demo page:     ${server.url}/ (development mode: any user ID gets a token from this machine)`);
  const signals = ['SIGINT', 'SIGTERM'] as const;
  const signal = await new Promise<string>((done) => {
    for (const name of signals) process.once(name, () => done(name));
  });
  out(`stopping (${signal}): draining for up to ${drainTimeout} ms; send it again to stop at once…`);
  // A second signal cuts the drain short: what still runs is aborted (its bytes so far are kept).
  const now = (): void => void server.close();
  for (const name of signals) process.once(name, now);
  try {
    await server.drain();
  } finally {
    for (const name of signals) process.off(name, now);
  }
  return ExitCode.OK;
};
