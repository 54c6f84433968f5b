/**
 * Upload size boundaries (DESIGN §3 "file size"): 1 byte to 30 MiB inclusive; empty → upload code 2,
 * larger → code 4; the hub enforces its own `maxFileSize` and counts bytes as they stream, so a client
 * that sends more than it declared is refused whatever it claimed.
 *
 * The 30 MiB cases are examples, not properties: one such upload moves 480 chunks and hashes 30 MiB
 * (~0.4 s), so a thousand runs would take minutes. The many-run property exercises the same rule on
 * the hub's own limit, set small with `createHub({ maxFileSize })`.
 */
import fc from 'fast-check';
import { afterAll, describe, expect, it } from 'vitest';
import {
  type FileMessage,
  MAX_FILE_SIZE,
  memoryStore,
  type MemoryStore,
  type Task,
  type TransferState,
  UploadError,
} from '../../src/index.js';
import { failureOf } from '../../src/core/failure.js';
import { chunksOf, fcOptions, nodeSha256, settle, world } from './support.js';

type SourceKind = 'Uint8Array' | 'Blob';
const SOURCE_KINDS: readonly SourceKind[] = ['Uint8Array', 'Blob'];

const sourceOf = (kind: SourceKind, bytes: Uint8Array<ArrayBuffer>): Uint8Array | Blob => (kind === 'Blob' ? new Blob([bytes]) : bytes);

/** Bytes whose content depends on their position, so a download that shuffles or truncates is caught. */
const patterned = (size: number, salt: number): Uint8Array<ArrayBuffer> => {
  const bytes = new Uint8Array(size);
  for (let i = 0; i < size; i++) bytes[i] = (i * 31 + salt) & 0xff;
  return bytes;
};

const entries = async (store: MemoryStore): Promise<number> => {
  let count = 0;
  for await (const _ of store.list()) count++;
  return count;
};

/** The task's states as they happen, so a spec can check where it ended. */
const statesOf = (task: Task<unknown>): TransferState[] => {
  const states: TransferState[] = [];
  task.state$.subscribe((state) => states.push(state));
  return states;
};

const expectUploadError = (outcome: { ok: boolean; error?: unknown }, code: number): void => {
  expect(outcome.ok).toBe(false);
  expect(outcome.error).toBeInstanceOf(UploadError);
  expect((outcome.error as UploadError).code).toBe(code);
};

describe('upload size boundaries at 0, 1, 30 MiB and 30 MiB + 1', () => {
  // One buffer of 30 MiB + 1 shared by the huge cases; subarrays avoid a second 30 MiB allocation.
  let huge: Uint8Array<ArrayBuffer> | undefined;
  const hugeBytes = (size: number): Uint8Array<ArrayBuffer> => {
    huge ??= patterned(MAX_FILE_SIZE + 1, 7);
    return huge.subarray(0, size);
  };
  afterAll(() => {
    huge = undefined;
  });

  for (const kind of SOURCE_KINDS) {
    it(`refuses an empty ${kind} with code 2 and never contacts the hub`, async () => {
      const store = memoryStore();
      const alice = await world({ store }).client('alice');
      const task = alice.createFileMessageByUploading(sourceOf(kind, new Uint8Array(0)));
      const states = statesOf(task);
      expectUploadError(await settle(task.result), 2);
      expect(states.at(-1)).toBe('failed');
      expect(await entries(store)).toBe(0);
    });

    it(`uploads a 1-byte ${kind} and downloads the same byte back`, async () => {
      const w = world();
      const alice = await w.client('alice');
      const message: FileMessage = await alice.createFileMessageByUploading(sourceOf(kind, Uint8Array.of(0xa5))).result;
      expect(message.size).toBe(1);
      expect(await alice.downloadMediaToMemory(message.mediaId).result).toEqual(Uint8Array.of(0xa5));
    });

    it(`uploads a ${kind} of exactly 30 MiB (31,457,280 bytes)`, async () => {
      // The store keeps no bytes (it still counts and hashes them), so the case costs no 30 MiB copy;
      // node:crypto hashes them, since hashing is not what this case is about.
      const w = world({ store: memoryStore({ discardBytes: true, createHasher: nodeSha256 }) });
      const alice = await w.client('alice');
      const message = await alice.createFileMessageByUploading(sourceOf(kind, hugeBytes(MAX_FILE_SIZE))).result;
      expect(message.size).toBe(31_457_280);
      expect((await w.hub.mediaInfo(message.mediaId)).size).toBe(31_457_280);
    });

    it(`refuses a ${kind} of 30 MiB + 1 with code 4 and never contacts the hub`, async () => {
      const store = memoryStore({ discardBytes: true });
      const alice = await world({ store }).client('alice');
      const task = alice.createFileMessageByUploading(sourceOf(kind, hugeBytes(MAX_FILE_SIZE + 1)));
      const states = statesOf(task);
      expectUploadError(await settle(task.result), 4);
      expect(states).toEqual(['failed']);
      expect(await entries(store)).toBe(0);
    });
  }
});

describe('the hub limit', () => {
  it('accepts 1 to maxFileSize bytes and refuses more with code 4, for bytes and blobs', async () => {
    const limitAndSize = fc.integer({ min: 1, max: 4096 }).chain((maxFileSize) =>
      fc.record({
        maxFileSize: fc.constant(maxFileSize),
        size: fc.oneof(
          fc.constantFrom(0, 1, maxFileSize - 1, maxFileSize, maxFileSize + 1),
          fc.integer({ min: 0, max: maxFileSize + 512 }),
        ),
      }),
    );
    await fc.assert(
      fc.asyncProperty(limitAndSize, fc.constantFrom(...SOURCE_KINDS), fc.nat(255), async ({ maxFileSize, size }, kind, salt) => {
        const store = memoryStore();
        const w = world({ maxFileSize, store });
        const alice = await w.client('alice');
        const bytes = patterned(size, salt);
        const task = alice.createFileMessageByUploading(sourceOf(kind, bytes));
        const states = statesOf(task);
        const outcome = await settle(task.result);
        if (size === 0) {
          expectUploadError(outcome, 2);
        } else if (size > maxFileSize) {
          expectUploadError(outcome, 4);
        } else {
          if (!outcome.ok) throw outcome.error;
          expect(outcome.value.size).toBe(size);
          expect(await alice.downloadMediaToMemory(outcome.value.mediaId).result).toEqual(bytes);
        }
        expect(states.at(-1)).toBe(size >= 1 && size <= maxFileSize ? 'done' : 'failed');
        // A refused upload leaves nothing behind at the hub.
        if (!outcome.ok) expect(await entries(store)).toBe(0);
      }),
      fcOptions(1000),
    );
  });

  it('refuses bytes beyond the declared size from a misbehaving client, and the media never becomes visible', async () => {
    // declared size, bytes already appended legitimately, then chunks whose total overshoots the rest.
    const scenario = fc
      .integer({ min: 1, max: 3000 })
      .chain((declared) =>
        fc.record({
          declared: fc.constant(declared),
          prefix: fc.integer({ min: 0, max: declared - 1 }),
          chunkSizes: fc.array(fc.integer({ min: 0, max: 1024 }), { minLength: 0, maxLength: 10 }),
          overshoot: fc.integer({ min: 1, max: 64 }),
        }),
      )
      .map(({ declared, prefix, chunkSizes, overshoot }) => {
        const rest = declared - prefix;
        const total = chunkSizes.reduce((a, b) => a + b, 0);
        // Make sure the chunks carry more than the rest of the declared size.
        const sizes = total > rest ? chunkSizes : [...chunkSizes, rest - total + overshoot];
        return { declared, prefix, sizes };
      });
    await fc.assert(
      fc.asyncProperty(scenario, async ({ declared, prefix, sizes }) => {
        const store = memoryStore();
        const { hub } = world({ store });
        const created = await hub.createUpload('mallory', { size: declared, fileName: 'x.bin' });
        const id = created.uploadId;
        if (prefix > 0) {
          const state = await hub.appendUpload('mallory', id, 0, chunksOf([patterned(prefix, 1)]));
          expect(state).toMatchObject({ offset: prefix, complete: false });
        }
        const acknowledged: number[] = [];
        const outcome = await settle(
          hub.appendUpload('mallory', id, prefix, chunksOf(sizes.map((n) => patterned(n, 2))), {
            onProgress: (offset) => acknowledged.push(offset),
          }),
        );
        expect(outcome.ok).toBe(false);
        const failure = failureOf((outcome as { error: unknown }).error);
        expect(failure).toMatchObject({ _tag: 'SizeOverflow', limit: declared });
        expect(failure._tag === 'SizeOverflow' && failure.size > declared).toBe(true);
        // Never acknowledged past the declared size, never went back.
        for (const [i, offset] of acknowledged.entries()) {
          expect(offset).toBeLessThanOrEqual(declared);
          expect(offset).toBeGreaterThanOrEqual(acknowledged[i - 1] ?? prefix);
        }
        // The hub does not trust the rest of an upload whose client overflowed it: it is gone, bytes and all.
        expect(store.bytesHeld).toBe(0);
        const status = await settle(hub.uploadStatus('mallory', id));
        expect(status.ok).toBe(false);
        expect(failureOf((status as { error: unknown }).error)._tag).toBe('NotExist');
        const info = await settle(hub.mediaInfo(id));
        expect(info.ok).toBe(false);
        expect(failureOf((info as { error: unknown }).error)._tag).toBe('NotExist');
      }),
      fcOptions(1000),
    );
  });
});
