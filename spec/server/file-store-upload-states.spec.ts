/**
 * Decision 85 on the durable file store with the default upload states, which live in memory and are
 * rebuilt from the store's records: a restart of a single node loses nothing (the cases of
 * `file-store-upload-states-cases.ts`; a claim dies with its process; `http-kill.spec.ts` kills a server
 * mid-upload). `spec/cluster/redis-upload-states.spec.ts` runs the same cases with Redis states.
 */
import { describe } from 'vitest';
import { memoryUploadStates } from '../../src/index.js';
import { restartCases } from './file-store-upload-states-cases.js';

describe('upload states after a restart of a node with the file store', () => {
  restartCases((clock) => memoryUploadStates({ clock }));
});
