/**
 * SHA-256 from `node:crypto`: on Node, about ten times faster than the isomorphic default on large
 * media (measured by `npm run bench`, HTTP scenario). Loaded on demand by `hash.ts`, never by browsers.
 * @module
 */
import { createHash } from 'node:crypto';
import type { CreateHasher } from '../core/hash.js';

/** SHA-256 from `node:crypto`. */
export const nodeSha256: CreateHasher = () => {
  const hash = createHash('sha256');
  return {
    update: (bytes) => {
      hash.update(bytes);
    },
    digest: () => hash.digest('hex'),
  };
};
