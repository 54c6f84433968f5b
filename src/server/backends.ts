/**
 * What `startServer({ redis, s3 })` builds: the state several nodes share. Redis holds the message bus,
 * the state of unfinished uploads, the sweep lease, and per-user quotas and rates; the S3 store holds
 * media and unfinished uploads' bytes. Either works alone (Redis with the local file store on one node;
 * S3 without Redis on one node). `docs/deploy.md` says what each holds and what survives which failure.
 * @module
 */
import { Redis } from 'ioredis';
import type { Clock } from '../core/clock.js';
import { redisBus } from '../cluster/redis-bus.js';
import { unavailableOnRejection } from '../cluster/redis-faults.js';
import { redisLease } from '../cluster/redis-lease.js';
import { redisRates } from '../cluster/redis-rates.js';
import { redisUploadStates } from '../cluster/redis-upload-states.js';
import { redisUsage } from '../cluster/redis-usage.js';
import { s3Store } from '../cluster/s3-store.js';
import type { MediaStore } from '../hub/media-store.js';
import type { MessageBus } from '../hub/message-bus.js';
import type { SweepLease } from '../hub/sweep-lease.js';
import type { UploadStates } from '../hub/upload-states.js';
import type { Rates } from '../hub/hub-limits.js';
import type { Usage } from '../hub/usage.js';

/** What `ServerOptions.shared` may give. */
export interface SharedState {
  readonly bus?: MessageBus;
  readonly uploads?: UploadStates;
  readonly lease?: SweepLease;
  /** Where the message, login and join rates are counted per user. */
  readonly rates?: Rates;
  /** The usage ledger (quotas); it must count what `store` holds. */
  readonly usage?: Usage;
  /** A media store; `probe` (proves it writable, for `/readyz`) is used when present. */
  readonly store?: MediaStore & { probe?(): Promise<void> };
}

/** `startServer({ redis })`: the Redis every node of a cluster shares. */
export interface RedisOptions {
  /** `redis://[user:password@]host:port[/db]` (or `rediss://` for TLS). @example { url: 'redis://127.0.0.1:6379' } */
  readonly url: string;
  /** Prefix of every key ferry writes, so several deployments can share one Redis. Default: `ferry:`. */
  readonly keyPrefix?: string;
  /**
   * Each node's lease in Redis, renewed while it runs: when a node dies, its sessions that no client
   * resumed elsewhere end (their channels' members are told they left) within about this. Shorter reports
   * faster and risks ending the sessions of a node that paused (a long GC, a stalled VM). Default: 15 s.
   */
  readonly nodeLeaseMs?: number;
}

/** `startServer({ s3 })`: the S3-compatible object store every node of a cluster shares. */
export interface S3Options {
  /** The store's address, e.g. `http://127.0.0.1:7480` for Ceph RGW. */
  readonly endpoint: string;
  /** The bucket; created (with its lifecycle rule) if missing. */
  readonly bucket: string;
  /** Default: `us-east-1` (what RGW and MinIO accept). */
  readonly region?: string;
  readonly accessKeyId: string;
  readonly secretAccessKey: string;
  /** Bucket in the path (`endpoint/bucket/key`), as RGW and MinIO want. Default: `true`. */
  readonly forcePathStyle?: boolean;
  /** Prefix of every object key ferry writes. Default: none. */
  readonly prefix?: string;
}

/** What the server runs on: the shared state, how to prove each part reachable, and how to let go. */
export interface Backends {
  readonly shared: SharedState;
  /** The usage ledger over the store the server settles on (it counts what that store holds). */
  readonly usageFor?: (store: MediaStore) => Usage;
  /** Each rejects with a message naming the part (`redis: …`) when it is unreachable (the store has its own `probe`). */
  readonly probes: readonly (() => Promise<void>)[];
  close(): Promise<void>;
}

/** What {@link connectBackends} needs besides the options. */
export interface BackendContext {
  readonly redis?: RedisOptions;
  readonly s3?: S3Options;
  readonly clock: Clock;
  readonly retentionMs: number;
  readonly partialTtlMs: number;
  /** Told of failures in the background (a lost connection, a reconnect). */
  readonly onError: (error: unknown, where: string) => void;
}

/** How long a probe of Redis or S3 may take before `/readyz` says it is out of reach. */
const PROBE_TIMEOUT_MS = 3_000;

const withTimeout = <T>(what: string, promise: Promise<T>): Promise<T> => {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`${what}: no answer within ${PROBE_TIMEOUT_MS} ms`)), PROBE_TIMEOUT_MS);
  });
  return Promise.race([promise, timeout]).finally(() => clearTimeout(timer));
};

/**
 * Connects what the options name: nothing for a single node on its data folder. Rejects (having freed what
 * it opened) when Redis or the S3 store cannot be reached at start.
 */
export const connectBackends = async (context: BackendContext): Promise<Backends> => {
  const closers: (() => Promise<unknown>)[] = [];
  const probes: (() => Promise<void>)[] = [];
  const shared: { -readonly [K in keyof SharedState]: SharedState[K] } = {};
  let usageFor: ((store: MediaStore) => Usage) | undefined;
  const close = async (): Promise<void> => {
    for (const closer of closers.splice(0).reverse()) await closer().catch((error: unknown) => context.onError(error, 'close'));
  };
  try {
    if (context.s3) {
      const store = s3Store({ ...context.s3, now: () => context.clock.now(), retentionMs: context.retentionMs, partialTtlMs: context.partialTtlMs });
      closers.push(async () => store.close());
      await store.ensureBucket();
      // Probed as the server's store (`/readyz` says "the store is not writable: …").
      shared.store = Object.assign(Object.create(store) as typeof store, { probe: () => withTimeout('s3', store.probe()).catch((error: unknown) => Promise.reject(new Error(`s3: ${error instanceof Error ? error.message : String(error)}`))) });
    }
    if (context.redis) {
      const { url, keyPrefix = 'ferry:' } = context.redis;
      const redis = new Redis(url, {
        lazyConnect: true,
        // A command waits for at most two reconnects while Redis is away, then fails (503 to its caller).
        maxRetriesPerRequest: 2,
        connectTimeout: 5_000,
        retryStrategy: (times) => Math.min(100 * times, 2_000),
      });
      redis.on('error', (error: unknown) => context.onError(error, 'redis'));
      closers.push(async () => redis.quit().catch(() => redis.disconnect()));
      await redis.connect();
      const clock = context.clock;
      const bus = redisBus({ redis, keyPrefix, clock, ...(context.redis.nodeLeaseMs === undefined ? {} : { leaseMs: context.redis.nodeLeaseMs }), onError: (error) => context.onError(error, 'redis bus') });
      closers.push(() => bus.shutdown());
      shared.bus = unavailableOnRejection('redis', bus);
      shared.uploads = unavailableOnRejection('redis', redisUploadStates({ redis, keyPrefix, clock }));
      shared.lease = unavailableOnRejection('redis', redisLease({ redis, keyPrefix, clock }));
      shared.rates = unavailableOnRejection('redis', redisRates({ redis, keyPrefix }));
      usageFor = (store) => unavailableOnRejection('redis', redisUsage({ redis, keyPrefix, store }));
      probes.push(() =>
        withTimeout('redis', redis.ping()).then(
          () => undefined,
          (error: unknown) => Promise.reject(new Error(`redis: ${error instanceof Error ? error.message : String(error)}`)),
        ),
      );
    }
  } catch (error) {
    await close();
    throw error;
  }
  return { shared, probes, close, ...(usageFor ? { usageFor } : {}) };
};
