/**
 * SHA-256 on Node, loaded on demand by `hash.ts` (never by browsers):
 * - `nodeSha256`: `node:crypto` on the calling thread, about ten times faster than the isomorphic
 *   default on large media;
 * - `workerSha256`: the same hash computed on a worker thread, so verifying a download does not take
 *   the event loop's time (about 25 ms per 30 MiB here) from the transfer itself or from the app.
 * @module
 */
import { createHash } from 'node:crypto';
import { Worker } from 'node:worker_threads';
import type { AsyncHasher, CreateHasher } from './hash.js';

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

/**
 * The worker's program, evaluated as CommonJS so it needs no file of its own (the same in `src/` run
 * by tsx and in `dist/`). One hash per ID; `digest` answers and forgets it, `drop` forgets it.
 */
const WORKER_SOURCE = `
const { parentPort } = require('node:worker_threads');
const { createHash } = require('node:crypto');
const hashes = new Map();
parentPort.on('message', ({ op, id, bytes }) => {
  if (op === 'update') {
    let hash = hashes.get(id);
    if (hash === undefined) hashes.set(id, (hash = createHash('sha256')));
    hash.update(bytes);
  } else if (op === 'digest') {
    const hash = hashes.get(id) ?? createHash('sha256');
    hashes.delete(id);
    parentPort.postMessage({ id, digest: hash.digest('hex') });
  } else if (op === 'drop') {
    hashes.delete(id);
  }
});
`;

interface Pending {
  readonly resolve: (digest: string) => void;
  readonly reject: (error: Error) => void;
}

/** The one hashing worker of this process, started on first use; it keeps the process alive only while a hash is open. */
let shared: { readonly worker: Worker; readonly pending: Map<number, Pending>; open: number } | undefined;
let nextId = 0;

const worker = (): NonNullable<typeof shared> => {
  if (shared) return shared;
  const started = { worker: new Worker(WORKER_SOURCE, { eval: true }), pending: new Map<number, Pending>(), open: 0 };
  started.worker.unref();
  started.worker.on('message', ({ id, digest }: { id: number; digest: string }) => {
    const waiting = started.pending.get(id);
    started.pending.delete(id);
    waiting?.resolve(digest);
  });
  const fail = (error: Error): void => {
    if (shared === started) shared = undefined;
    for (const waiting of started.pending.values()) waiting.reject(error);
    started.pending.clear();
  };
  started.worker.on('error', fail);
  started.worker.on('exit', (code) => fail(new Error(`the hashing worker exited (${code})`)));
  shared = started;
  return started;
};

/**
 * SHA-256 from `node:crypto` on a worker thread. `update` copies the bytes to the worker (the caller may
 * reuse its buffer at once); `digest` resolves when the worker has hashed everything before it.
 */
export const workerSha256 = (): AsyncHasher => {
  const host = worker();
  const id = nextId++;
  let state: 'open' | 'closed' = 'open';
  host.open += 1;
  if (host.open === 1) host.worker.ref();
  const close = (): void => {
    if (state === 'closed') return;
    state = 'closed';
    host.open -= 1;
    if (host.open === 0) host.worker.unref();
  };
  return {
    update: (bytes) => {
      if (state === 'closed') throw new Error('update after digest or dispose');
      host.worker.postMessage({ op: 'update', id, bytes });
    },
    digest: () => {
      if (state === 'closed') return Promise.reject(new Error('digest after digest or dispose'));
      const digest = new Promise<string>((resolve, reject) => host.pending.set(id, { resolve, reject }));
      host.worker.postMessage({ op: 'digest', id });
      // Closed once the answer is in, so the worker keeps the process alive until then.
      return digest.finally(close);
    },
    dispose: () => {
      if (state === 'closed') return;
      host.worker.postMessage({ op: 'drop', id });
      close();
    },
  };
};
