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

/** HMAC-SHA256 of a message under a key. */
export const hmacSha256 = (key: Uint8Array, message: Uint8Array): Uint8Array => hmac(sha256, key, message);
