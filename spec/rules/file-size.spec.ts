/**
 * DESIGN §3 "file size": 1 byte to 30 MiB (31,457,280 bytes) inclusive; empty → 2 INVALID_ARGUMENT,
 * larger → 4 SIZE_OVERFLOW; the server enforces it too, counting bytes as they stream.
 */
import { appendFileSync, closeSync, ftruncateSync, openSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { FerryError, MAX_FILE_SIZE, memoryStore, memoryTransport } from '../../src/index.js';
import { bytes, expectSameBytes, gate, rejectsWith, record, stateOf, tempFolder, until, world } from './support.js';

const MiB30 = 31_457_280;

const sparseFile = (path: string, size: number): string => {
  const fd = openSync(path, 'w');
  try {
    ftruncateSync(fd, size);
  } finally {
    closeSync(fd);
  }
  return path;
};

const entriesOf = async (store: ReturnType<typeof memoryStore>): Promise<unknown[]> => {
  const all: unknown[] = [];
  for await (const entry of store.list()) all.push(entry);
  return all;
};

describe('file size', () => {
  const folder = tempFolder();
  afterAll(() => folder.remove());

  it('the limit constant is 30 MiB, 31,457,280 bytes', () => {
    expect(MAX_FILE_SIZE).toBe(MiB30);
  });

  it('a 1-byte upload succeeds and downloads back', async () => {
    const w = world();
    const client = await w.loggedIn();
    const message = await client.createFileMessageByUploading(new Uint8Array([42])).result;
    expect(message.size).toBe(1);
    expect(await client.downloadMediaToMemory(message.mediaId).result).toEqual(new Uint8Array([42]));
  });

  it('a 1-byte file at a path succeeds', async () => {
    const w = world();
    const client = await w.loggedIn();
    const path = join(folder.path, 'one-byte.txt');
    writeFileSync(path, 'x');
    const message = await client.createFileMessageByUploading(path).result;
    expect(message).toMatchObject({ size: 1, fileName: 'one-byte.txt' });
  });

  it('an upload of exactly 30 MiB succeeds', async () => {
    const store = memoryStore();
    const w = world({ hub: { store } });
    const client = await w.loggedIn();
    const data = new Uint8Array(MiB30);
    data[MiB30 - 1] = 7;
    const message = await client.createFileMessageByUploading(data).result;
    expect(message.size).toBe(MiB30);
    expect((await w.hub.mediaInfo(message.mediaId)).size).toBe(MiB30);
    expect(store.bytesHeld).toBe(MiB30);
  });

  describe('empty sources fail with 2 INVALID_ARGUMENT naming the source', () => {
    it('an empty Uint8Array', async () => {
      const store = memoryStore();
      const w = world({ hub: { store } });
      const client = await w.loggedIn();
      const task = client.createFileMessageByUploading(new Uint8Array(0));
      await rejectsWith(task.result, { name: 'UploadError', code: 2, mentions: /'source'.*empty/ });
      expect(stateOf(task)).toBe('failed');
      expect(await entriesOf(store)).toEqual([]);
    });

    it('an empty Blob', async () => {
      const w = world();
      const client = await w.loggedIn();
      await rejectsWith(client.createFileMessageByUploading(new Blob([])).result, { name: 'UploadError', code: 2, mentions: /'source'/ });
    });

    it('an empty image', async () => {
      const w = world();
      const client = await w.loggedIn();
      await rejectsWith(client.createImageMessageByUploading(new Uint8Array(0)).result, { name: 'UploadError', code: 2, mentions: /'source'/ });
    });

    it('an empty file at a path, with nothing created at the hub', async () => {
      const store = memoryStore();
      const w = world({ hub: { store } });
      const client = await w.loggedIn();
      const path = join(folder.path, 'empty.txt');
      writeFileSync(path, '');
      await rejectsWith(client.createFileMessageByUploading(path).result, { name: 'UploadError', code: 2, mentions: /'source'.*empty/ });
      expect(await entriesOf(store)).toEqual([]);
    });
  });

  describe('30 MiB + 1 fails with 4 SIZE_OVERFLOW before any byte moves', () => {
    it('as a Uint8Array: no chunk, no progress, no upload at the hub, never transferring', async () => {
      const store = memoryStore();
      const g = gate();
      const w = world({ hub: { store }, gate: g.fn });
      const client = await w.loggedIn();
      const task = client.createFileMessageByUploading(new Uint8Array(MiB30 + 1));
      const states = record(task.state$);
      const progress = record(task.progress$);
      const error = await rejectsWith(task.result, { name: 'UploadError', code: 4, mentions: /31457281.*31457280/ });
      expect(error.operation).toBe('upload');
      expect(states.values).toEqual(['failed']);
      expect(progress.values).toEqual([]);
      expect(g.steps).toEqual([]);
      expect(await entriesOf(store)).toEqual([]);
    });

    it('as a Blob', async () => {
      const g = gate();
      const w = world({ gate: g.fn });
      const client = await w.loggedIn();
      const task = client.createFileMessageByUploading(new Blob([new Uint8Array(MiB30 + 1)]));
      await rejectsWith(task.result, { name: 'UploadError', code: 4 });
      expect(g.steps).toEqual([]);
    });

    it('as an image', async () => {
      const w = world();
      const client = await w.loggedIn();
      await rejectsWith(client.createImageMessageByUploading(new Uint8Array(MiB30 + 1)).result, { name: 'UploadError', code: 4 });
    });

    it('as a file at a path (its size is read from the file system, not the bytes)', async () => {
      const store = memoryStore();
      const g = gate();
      const w = world({ hub: { store }, gate: g.fn });
      const client = await w.loggedIn();
      const path = sparseFile(join(folder.path, 'too-big.bin'), MiB30 + 1);
      const progress = record(client.uploadProgress$);
      await rejectsWith(client.createFileMessageByUploading(path).result, { name: 'UploadError', code: 4, mentions: /31457281/ });
      expect(g.steps).toEqual([]);
      expect(progress.values).toEqual([]);
      expect(await entriesOf(store)).toEqual([]);
    });
  });

  describe('the server enforces it too', () => {
    it("a hub with a smaller maxFileSize refuses a larger upload with 4, and takes one at its limit", async () => {
      const store = memoryStore();
      const w = world({ hub: { store, maxFileSize: 1000 } });
      const client = await w.loggedIn();
      await rejectsWith(client.createFileMessageByUploading(bytes(1001)).result, { name: 'UploadError', code: 4, mentions: /1001.*1000/ });
      expect(await entriesOf(store)).toEqual([]);
      expect((await client.createFileMessageByUploading(bytes(1000)).result).size).toBe(1000);
    });

    it('the hub refuses to create an upload over 30 MiB or an empty one', async () => {
      const w = world();
      const tooBig = await w.hub.createUpload('alice', { size: MiB30 + 1, fileName: 'x' }).catch((e: unknown) => e);
      expect(tooBig).toMatchObject({ failure: { _tag: 'SizeOverflow', size: MiB30 + 1, limit: MiB30 } });
      const empty = await w.hub.createUpload('alice', { size: 0, fileName: 'x' }).catch((e: unknown) => e);
      expect(empty).toMatchObject({ failure: { _tag: 'InvalidArgument', argument: 'size' } });
    });

    it('the hub counts streamed bytes and refuses any beyond the declared size, whatever the client claimed', async () => {
      const store = memoryStore();
      const w = world({ hub: { store } });
      const controller = new AbortController();
      const session = await memoryTransport(w.hub).connect({ userId: 'mallory', token: w.hub.issueToken('mallory') }, { signal: controller.signal });
      const created = await session.createUpload({ size: 10, fileName: 'liar.bin' }, { signal: controller.signal });
      async function* lies(): AsyncIterable<Uint8Array> {
        yield bytes(6);
        yield bytes(6);
      }
      const acknowledged: number[] = [];
      const outcome = await session
        .appendUpload(created.uploadId, 0, { size: 10, chunks: () => lies() }, { signal: controller.signal, onProgress: (at) => acknowledged.push(at) })
        .catch((e: unknown) => e);
      expect(outcome).toMatchObject({ failure: { _tag: 'SizeOverflow' } });
      expect(Math.max(...acknowledged)).toBeLessThanOrEqual(10);
      expect(store.bytesHeld).toBeLessThanOrEqual(10);
    });

    it('a file that grows during its upload is uploaded as it was when opened: its first bytes, no more', async () => {
      const store = memoryStore();
      const g = gate(false);
      const w = world({ hub: { store }, gate: g.fn });
      const client = await w.loggedIn();
      const path = join(folder.path, 'growing.log');
      const original = bytes(100_000);
      writeFileSync(path, original);
      const task = client.createFileMessageByUploading(path);
      await until(() => g.waiting > 0, 'the first chunk at the gate');
      appendFileSync(path, bytes(50_000, 2));
      g.open();
      const message = await task.result;
      expect(message.size).toBe(100_000);
      expectSameBytes(await client.downloadMediaToMemory(message.mediaId).result, original);
      expect(store.bytesHeld).toBe(100_000);
    });

    it('size errors are ferry errors, never TypeErrors', async () => {
      const w = world();
      const client = await w.loggedIn();
      const error = await client.createFileMessageByUploading(new Uint8Array(MiB30 + 1)).result.catch((e: unknown) => e);
      expect(error).toBeInstanceOf(FerryError);
      expect(error).not.toBeInstanceOf(TypeError);
    });
  });
});
