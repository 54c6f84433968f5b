/**
 * What `startServer({ redis, s3 })` builds: the state several nodes share. Redis holds the message bus,
 * the state of unfinished uploads, the sweep lease, and per-user quotas and rates; the S3 store holds
 * media and unfinished uploads' bytes. Either works alone (Redis with the local file store on one node;
 * S3 without Redis on one node). `docs/deploy.md` says what each holds and what survives which failure.
 * @module
 */
import type { SharedState } from './server.js';

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
  /** Each rejects with a message naming the part (`redis: …`, `s3: …`) when it is unreachable. */
  readonly probes: readonly (() => Promise<void>)[];
  close(): Promise<void>;
}
