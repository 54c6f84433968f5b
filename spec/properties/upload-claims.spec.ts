/**
 * Upload claims on `memoryUploadStates`, the default: the cases of `upload-claims-cases.ts` (two hubs
 * sharing one store and one upload state; exactly one of two racing appends wins, whatever the
 * interleaving; a stalled request loses its claim). `spec/cluster/redis-upload-states.spec.ts` runs the
 * same cases on Redis.
 */
import { describe } from 'vitest';
import { memoryUploadStates } from '../../src/index.js';
import { uploadClaimCases } from './upload-claims-cases.js';

describe('two hubs appending to one upload', () => {
  uploadClaimCases((clock) => memoryUploadStates({ clock }), 200);
});
