/**
 * SHA-256 as an injected effect. The default is `@noble/hashes` (audited, pure JS, runs in browsers);
 * Node entry points may inject `node:crypto`, which is several times faster on large media.
 * @module
 */
import { hmac } from '@noble/hashes/hmac.js';
import { sha256 } from '@noble/hashes/sha2.js';
import { toHex } from './bytes.js';

/** An incremental SHA-256. */
export interface Hasher {
  update(bytes: Uint8Array): void;
  /** Lowercase hex digest. Call once. */
  digest(): string;
}

/** Creates a fresh SHA-256 hasher. */
export type CreateHasher = () => Hasher;

/**
 * An incremental SHA-256 computed elsewhere (a worker thread), whose digest arrives later. `update` may
 * be called with a buffer the caller reuses right after.
 */
export interface AsyncHasher {
  update(bytes: Uint8Array): void;
  /** Lowercase hex digest. Call once. */
  digest(): Promise<string>;
  /** Forgets an unfinished hash (a cancelled download). Idempotent; no-op after `digest`. */
  dispose(): void;
}

/** What verifies a download of `size` bytes: any hasher, synchronous or not. */
export type CreateDownloadHasher = (size?: number) => Hasher | AsyncHasher;

/** SHA-256 from `@noble/hashes`. */
export const nobleSha256: CreateHasher = () => {
  const state = sha256.create();
  return {
    update: (bytes) => {
      state.update(bytes);
    },
    digest: () => toHex(state.digest()),
  };
};

let platformHasher: Promise<CreateDownloadHasher> | undefined;

/** Below this size a download is hashed on the calling thread: a worker's round trip would cost more. */
const WORKER_HASH_FROM = 1024 * 1024;

/**
 * The best SHA-256 this platform has for verifying downloads: on Node `node:crypto`, on a worker thread
 * from 1 MiB (loaded on first use, so browsers never import it); `@noble/hashes` elsewhere.
 */
export const loadPlatformHasher = (): Promise<CreateDownloadHasher> => {
  const onNode = typeof (globalThis as { process?: { versions?: { node?: string } } }).process?.versions?.node === 'string';
  platformHasher ??= onNode
    ? import('./node-hash.js').then(({ nodeSha256, workerSha256 }) => (size?: number) => (size !== undefined && size >= WORKER_HASH_FROM ? workerSha256() : nodeSha256()))
    : Promise.resolve(nobleSha256);
  return platformHasher;
};

/** HMAC-SHA256 of a message under a key. */
export const hmacSha256 = (key: Uint8Array, message: Uint8Array): Uint8Array => hmac(sha256, key, message);
