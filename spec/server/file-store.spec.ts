/**
 * The durable file store on real temporary folders: the `MediaStore` contract, restarts, crash leftovers,
 * corrupt records, aborts, and the hub and client running on it.
 */
import { createHash } from 'node:crypto';
import { appendFileSync, existsSync, mkdtempSync, readdirSync, readFileSync, renameSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, afterEach, describe, expect, it, vi } from 'vitest';
import {
  createClient,
  createHub,
  failureOf,
  type Hub,
  type MediaMeta,
  type MediaStore,
  memoryTransport,
  type StoredEntry,
  virtualClock,
} from '../../src/index.js';
import { type FileStore, fileStore } from '../../src/server/file-store.js';
import { bytes as bytesOf } from '../rules/support.js';

const root = mkdtempSync(join(tmpdir(), 'ferry-file-store-'));
afterAll(() => rmSync(root, { recursive: true, force: true }));
let folderCount = 0;
const newDataDir = (): string => join(root, `data-${++folderCount}`);

const stores: FileStore[] = [];
const open = async (dataDir: string, extra: Partial<Parameters<typeof fileStore>[0]> = {}): Promise<FileStore> => {
  const store = await fileStore({ dataDir, ...extra });
  stores.push(store);
  return store;
};
afterEach(async () => {
  await Promise.all(stores.splice(0).map((s) => s.close()));
});

const sha256 = (bytes: Uint8Array): string => createHash('sha256').update(bytes).digest('hex');
let idCount = 0;
const newId = (): string => `media-id-for-the-file-store-${String(++idCount).padStart(4, '0')}`;
const metaOf = (mediaId: string, size: number): MediaMeta => ({ mediaId, size, fileName: 'photo.jpg', uploader: 'alice', createdAt: 1_000 });

async function* chunksOf(bytes: Uint8Array, chunkSize = 65_536): AsyncIterable<Uint8Array> {
  for (let at = 0; at < bytes.length; at += chunkSize) yield bytes.subarray(at, at + chunkSize);
}
const append = (store: MediaStore, id: string, offset: number, bytes: Uint8Array, extra: { signal?: AbortSignal; onAppended?: (n: number) => void } = {}) =>
  store.append(id, offset, chunksOf(bytes), { now: () => 2_000, ...extra });
const readAll = async (store: MediaStore, id: string, offset = 0): Promise<Uint8Array> => {
  const parts: Uint8Array[] = [];
  for await (const chunk of store.read(id, offset)) parts.push(chunk);
  return Buffer.concat(parts);
};
const tagOf = (promise: Promise<unknown>): Promise<string> =>
  promise.then(
    () => 'resolved',
    (error: unknown) => failureOf(error)._tag,
  );
const entries = async (store: MediaStore): Promise<StoredEntry[]> => {
  const all: StoredEntry[] = [];
  for await (const entry of store.list()) all.push(entry);
  return all;
};
const filesIn = (dataDir: string): string[] =>
  ['media', 'parts', 'meta'].flatMap((folder) => readdirSync(join(dataDir, folder)).map((name) => `${folder}/${name}`)).sort();

/** Lets I/O run until `predicate` holds; bounded in real time, since an fsync can take many event-loop turns. */
const until = async (predicate: () => boolean, what: string): Promise<void> => {
  const deadline = Date.now() + 3_000;
  while (!predicate()) {
    if (Date.now() > deadline) throw new Error(`gave up waiting for ${what}`);
    await new Promise((resolve) => setImmediate(resolve));
  }
};

/** A source that yields its chunks one at a time, each when `release()` is called. */
const stepper = () => {
  const waiting: ((chunk: Uint8Array | undefined) => void)[] = [];
  const chunks: AsyncIterable<Uint8Array> = {
    async *[Symbol.asyncIterator]() {
      for (;;) {
        const chunk = await new Promise<Uint8Array | undefined>((resolve) => waiting.push(resolve));
        if (!chunk) return;
        yield chunk;
      }
    },
  };
  return {
    chunks,
    async release(chunk: Uint8Array | undefined) {
      await until(() => waiting.length > 0, 'the store to ask for the next chunk');
      waiting.shift()?.(chunk);
    },
    waitingForNext: () => until(() => waiting.length > 0, 'the store to ask for the next chunk'),
  };
};

describe('the file store', () => {
  it('round-trips bytes appended in several calls, readable from any offset, with the SHA-256 of node:crypto', async () => {
    const dataDir = newDataDir();
    const store = await open(dataDir);
    const id = newId();
    const bytes = bytesOf(300_001);
    await store.create(metaOf(id, bytes.length), 1_000);
    expect(await append(store, id, 0, bytes.subarray(0, 100_000))).toBe(100_000);
    expect(await store.stat(id)).toMatchObject({ state: 'partial', offset: 100_000, updatedAt: 2_000 });
    expect(await append(store, id, 100_000, bytes.subarray(100_000, 250_000))).toBe(250_000);
    expect(await append(store, id, 250_000, bytes.subarray(250_000))).toBe(bytes.length);
    const done = await store.complete(id, 3_000);
    expect(done).toEqual({ state: 'complete', meta: metaOf(id, bytes.length), sha256: sha256(bytes), completedAt: 3_000 });
    expect(await store.stat(id)).toEqual(done);
    for (const offset of [0, 1, 65_536, 299_999, 300_000]) {
      expect(Buffer.compare(await readAll(store, id, offset), bytes.subarray(offset))).toBe(0);
    }
    expect(filesIn(dataDir)).toEqual([`media/${id}`, `meta/${id}.json`]);
    expect(statSync(join(dataDir, 'media', id)).size).toBe(bytes.length);
  });

  it('reports progress only once the bytes are in the part file, rising to the end', async () => {
    const dataDir = newDataDir();
    const store = await open(dataDir);
    const id = newId();
    await store.create(metaOf(id, 200_000), 1_000);
    const seen: [number, number][] = [];
    await append(store, id, 0, bytesOf(200_000), { onAppended: (n) => seen.push([n, statSync(join(dataDir, 'parts', `${id}.part`)).size]) });
    const offsets = seen.map(([n]) => n);
    expect(offsets.at(-1)).toBe(200_000);
    expect(offsets).toEqual([...new Set(offsets)].sort((a, b) => a - b));
    for (const [offset, length] of seen) expect(length).toBeGreaterThanOrEqual(offset);
  });

  it('keeps the right bytes from a source that reuses one buffer for every chunk', async () => {
    const store = await open(newDataDir());
    const id = newId();
    const bytes = bytesOf(1_000_003);
    await store.create(metaOf(id, bytes.length), 1_000);
    // Each chunk is valid only until the next is asked for, as a file source's are.
    async function* reusing() {
      const buffer = new Uint8Array(65_536);
      for (let at = 0; at < bytes.length; at += buffer.length) {
        const piece = bytes.subarray(at, at + buffer.length);
        buffer.set(piece);
        yield buffer.subarray(0, piece.length);
        buffer.fill(0xee);
      }
    }
    expect(await store.append(id, 0, reusing(), { now: () => 2_000 })).toBe(bytes.length);
    const done = await store.complete(id, 3_000);
    expect(done.sha256).toBe(sha256(bytes));
    expect(Buffer.compare(await readAll(store, id, 0), bytes)).toBe(0);
  });

  it('refuses an append at any offset but the current one with Conflict, and a second create of an ID', async () => {
    const store = await open(newDataDir());
    const id = newId();
    await store.create(metaOf(id, 10), 1_000);
    await append(store, id, 0, bytesOf(4));
    expect(await tagOf(append(store, id, 3, bytesOf(2)))).toBe('Conflict');
    expect(await tagOf(append(store, id, 5, bytesOf(2)))).toBe('Conflict');
    expect(await tagOf(store.create(metaOf(id, 10), 1_000))).toBe('Conflict');
    expect(await tagOf(store.complete(id, 1_000))).toBe('Conflict');
    expect(await store.stat(id)).toMatchObject({ state: 'partial', offset: 4 });
  });

  it('resumes an upload after a restart: a new store on the same folder continues it and the SHA-256 is right', async () => {
    const dataDir = newDataDir();
    const bytes = bytesOf(500_000, 9);
    const id = newId();
    const first = await open(dataDir);
    await first.create(metaOf(id, bytes.length), 1_000);
    await append(first, id, 0, bytes.subarray(0, 123_457));
    await first.close();

    const second = await open(dataDir, { now: () => 5_000 });
    expect(second.recovered).toEqual([]);
    expect(await second.stat(id)).toMatchObject({ state: 'partial', offset: 123_457 });
    await append(second, id, 123_457, bytes.subarray(123_457));
    expect((await second.complete(id, 6_000)).sha256).toBe(sha256(bytes));
    expect(Buffer.compare(await readAll(second, id), bytes)).toBe(0);
  });

  it('after a crash drops bytes written past the last recorded offset, and the resumed upload is still right', async () => {
    const dataDir = newDataDir();
    const bytes = bytesOf(200_000, 3);
    const id = newId();
    const first = await open(dataDir);
    await first.create(metaOf(id, bytes.length), 1_000);
    await append(first, id, 0, bytes.subarray(0, 100_000));
    await first.close();
    appendFileSync(join(dataDir, 'parts', `${id}.part`), new Uint8Array(777)); // written, never recorded

    const second = await open(dataDir, { now: () => 5_000 });
    expect(second.recovered).toEqual([expect.objectContaining({ mediaId: id, action: 'truncated' })]);
    expect(await second.stat(id)).toMatchObject({ offset: 100_000 });
    await append(second, id, 100_000, bytes.subarray(100_000));
    expect((await second.complete(id, 6_000)).sha256).toBe(sha256(bytes));
  });

  it('records progress durably every checkpointBytes during one long append', async () => {
    const dataDir = newDataDir();
    const store = await open(dataDir, { checkpointBytes: 100_000 });
    const id = newId();
    await store.create(metaOf(id, 300_000), 1_000);
    const source = stepper();
    const appending = store.append(id, 0, source.chunks, { now: () => 2_000 });
    for (let i = 0; i < 3; i++) await source.release(bytesOf(60_000, i));
    await source.waitingForNext();
    // Recorded in the background, so receiving never waits for the disk: once past 100,000 bytes, before
    // the append ends (at 120,000, the first chunk past it; or at 180,000 when the machine is slow enough
    // that the write records the newest offset by the time it runs).
    const recorded = () => (JSON.parse(readFileSync(join(dataDir, 'meta', `${id}.json`), 'utf8')) as { offset: number }).offset;
    await vi.waitFor(() => expect([120_000, 180_000]).toContain(recorded()));
    await source.release(undefined);
    expect(await appending).toBe(180_000);
    // The end of the append records the rest, in the background too.
    await vi.waitFor(() => expect(recorded()).toBe(180_000));
  });

  it('never lets a partial upload be read, and says NotExist for unknown media', async () => {
    const store = await open(newDataDir());
    const id = newId();
    await store.create(metaOf(id, 10), 1_000);
    await append(store, id, 0, bytesOf(10));
    expect(await store.stat(id)).toMatchObject({ state: 'partial', offset: 10 });
    expect(await tagOf(readAll(store, id))).toBe('NotExist');
    expect(await tagOf(readAll(store, newId()))).toBe('NotExist');
    expect(await store.stat(newId())).toBeUndefined();
  });

  it('deletes partial uploads and complete media with their records; deleting a missing entry is fine', async () => {
    const dataDir = newDataDir();
    const store = await open(dataDir);
    const [partial, complete] = [newId(), newId()];
    await store.create(metaOf(partial, 10), 1_000);
    await append(store, partial, 0, bytesOf(5));
    await store.create(metaOf(complete, 10), 1_000);
    await append(store, complete, 0, bytesOf(10));
    await store.complete(complete, 1_000);
    await store.delete(partial);
    await store.delete(complete);
    await store.delete(newId());
    expect(filesIn(dataDir)).toEqual([]);
    expect(await entries(store)).toEqual([]);
    expect(await tagOf(append(store, partial, 5, bytesOf(5)))).toBe('NotExist');
  });

  it('refuses malformed media IDs before building any path', async () => {
    const dataDir = newDataDir();
    const store = await open(dataDir);
    const evil = '../../../../etc/passwd-and-more-padding';
    expect(await tagOf(store.create(metaOf(evil, 10), 1_000))).toBe('InvalidArgument');
    expect(await tagOf(append(store, evil, 0, bytesOf(1)))).toBe('InvalidArgument');
    expect(await tagOf(readAll(store, evil))).toBe('InvalidArgument');
    expect(await store.stat(evil)).toBeUndefined();
    await store.delete(evil);
    expect(filesIn(dataDir)).toEqual([]);
  });

  it('stops writing when the signal aborts during an append, and keeps what arrived for a resume', async () => {
    const dataDir = newDataDir();
    const store = await open(dataDir);
    const id = newId();
    await store.create(metaOf(id, 100_000), 1_000);
    const source = stepper();
    const controller = new AbortController();
    const appending = tagOf(store.append(id, 0, source.chunks, { now: () => 2_000, signal: controller.signal }));
    await source.release(bytesOf(1_000));
    await source.waitingForNext();
    controller.abort(new Error('client went away'));
    expect(await appending).toBe('Interrupted');
    await source.release(bytesOf(1_000)).catch(() => undefined);
    expect(statSync(join(dataDir, 'parts', `${id}.part`)).size).toBe(1_000);
    expect(await store.stat(id)).toMatchObject({ state: 'partial', offset: 1_000 });
    expect(await append(store, id, 1_000, bytesOf(500))).toBe(1_500);
  });

  it('rejects an append whose signal is already aborted without writing a byte', async () => {
    const dataDir = newDataDir();
    const store = await open(dataDir);
    const id = newId();
    await store.create(metaOf(id, 10), 1_000);
    expect(await tagOf(append(store, id, 0, bytesOf(10), { signal: AbortSignal.abort() }))).toBe('Interrupted');
    expect(statSync(join(dataDir, 'parts', `${id}.part`)).size).toBe(0);
  });

  it('rejects an append promptly on abort even when its source never yields', async () => {
    const store = await open(newDataDir());
    const id = newId();
    await store.create(metaOf(id, 10), 1_000);
    const never: AsyncIterable<Uint8Array> = { [Symbol.asyncIterator]: () => ({ next: () => new Promise(() => undefined) }) };
    const controller = new AbortController();
    const appending = tagOf(store.append(id, 0, never, { now: () => 2_000, signal: controller.signal }));
    controller.abort();
    expect(await appending).toBe('Interrupted');
  });

  it('stops reading when the signal aborts', async () => {
    const store = await open(newDataDir());
    const id = newId();
    await store.create(metaOf(id, 300_000), 1_000);
    await append(store, id, 0, bytesOf(300_000));
    await store.complete(id, 1_000);
    const controller = new AbortController();
    let chunks = 0;
    const reading = (async () => {
      for await (const _ of store.read(id, 0, controller.signal)) {
        chunks++;
        controller.abort();
      }
    })();
    expect(await tagOf(reading)).toBe('Interrupted');
    expect(chunks).toBe(1);
  });

  it('an upload deleted while its append waits for bytes fails NotExist, and its record does not come back', async () => {
    const dataDir = newDataDir();
    const store = await open(dataDir);
    const id = newId();
    await store.create(metaOf(id, 100_000), 1_000);
    const source = stepper();
    const appending = tagOf(store.append(id, 0, source.chunks, { now: () => 2_000 }));
    await source.release(bytesOf(1_000));
    await source.waitingForNext();
    await store.delete(id);
    await source.release(bytesOf(1_000));
    expect(await appending).toBe('NotExist');
    expect(filesIn(dataDir)).toEqual([]);
  });

  it('treats a corrupt record as absent: stat, list and read never crash', async () => {
    const dataDir = newDataDir();
    const store = await open(dataDir);
    const [good, bad, wrongShape] = [newId(), newId(), newId()];
    for (const id of [good, bad, wrongShape]) {
      await store.create(metaOf(id, 4), 1_000);
      await append(store, id, 0, bytesOf(4));
      await store.complete(id, 1_000);
    }
    writeFileSync(join(dataDir, 'meta', `${bad}.json`), '{"version":1,"mediaId":');
    writeFileSync(join(dataDir, 'meta', `${wrongShape}.json`), JSON.stringify({ version: 1, mediaId: wrongShape, state: 'complete', size: -1 }));
    expect(await store.stat(bad)).toBeUndefined();
    expect(await store.stat(wrongShape)).toBeUndefined();
    expect(await tagOf(readAll(store, bad))).toBe('NotExist');
    expect((await entries(store)).map((e) => e.meta.mediaId)).toEqual([good]);
  });
});

describe('the start-up sweep', () => {
  it('removes every kind of leftover a crash can leave, and reports each', async () => {
    const dataDir = newDataDir();
    const store = await open(dataDir);
    const ids = { kept: newId(), noPart: newId(), noMedia: newId(), corrupt: newId(), partNoRecord: newId(), mediaNoRecord: newId() };
    const finish = async (id: string) => {
      await store.create(metaOf(id, 8), 1_000);
      await append(store, id, 0, bytesOf(8));
      return store.complete(id, 1_000);
    };
    await finish(ids.kept);
    await finish(ids.noMedia);
    await store.create(metaOf(ids.noPart, 8), 1_000);
    await store.create(metaOf(ids.corrupt, 8), 1_000);
    await store.close();
    rmSync(join(dataDir, 'media', ids.noMedia));
    rmSync(join(dataDir, 'parts', `${ids.noPart}.part`));
    writeFileSync(join(dataDir, 'meta', `${ids.corrupt}.json`), 'not json');
    writeFileSync(join(dataDir, 'parts', `${ids.partNoRecord}.part`), bytesOf(3));
    writeFileSync(join(dataDir, 'media', ids.mediaNoRecord), bytesOf(3));
    writeFileSync(join(dataDir, 'meta', `.${ids.kept}.0a1b2c.tmp`), '{"half":');
    writeFileSync(join(dataDir, 'meta', 'README'), 'not ours');

    const reopened = await open(dataDir, { now: () => 2_000 });
    expect(filesIn(dataDir)).toEqual([`media/${ids.kept}`, 'meta/README', `meta/${ids.kept}.json`]);
    const removed = reopened.recovered.filter((r) => r.action === 'removed').map((r) => r.mediaId);
    expect(removed.sort()).toEqual([ids.kept, ids.noPart, ids.noMedia, ids.corrupt, ids.partNoRecord, ids.mediaNoRecord].sort());
    expect(reopened.recovered.find((r) => r.mediaId === ids.corrupt)?.reason).toMatch(/does not decode/);
    expect((await entries(reopened)).map((e) => e.meta.mediaId)).toEqual([ids.kept]);
  });

  it('completes media that was renamed into place before its record said so (roll forward)', async () => {
    const dataDir = newDataDir();
    const store = await open(dataDir);
    const id = newId();
    const bytes = bytesOf(70_000, 5);
    await store.create(metaOf(id, bytes.length), 1_000);
    await append(store, id, 0, bytes);
    await store.close();
    renameSync(join(dataDir, 'parts', `${id}.part`), join(dataDir, 'media', id)); // the crash came right after this

    const reopened = await open(dataDir, { now: () => 9_000 });
    expect(reopened.recovered).toEqual([expect.objectContaining({ mediaId: id, action: 'completed' })]);
    expect(await reopened.stat(id)).toEqual({ state: 'complete', meta: metaOf(id, bytes.length), sha256: sha256(bytes), completedAt: 9_000 });
    expect(Buffer.compare(await readAll(reopened, id), bytes)).toBe(0);
  });

  it('removes partial uploads untouched for longer than partialTtlMs, and keeps younger ones', async () => {
    const dataDir = newDataDir();
    const store = await open(dataDir);
    const [old, young] = [newId(), newId()];
    await store.create(metaOf(old, 8), 1_000);
    await store.create(metaOf(young, 8), 50_000);
    await store.close();
    const reopened = await open(dataDir, { partialTtlMs: 60_000, now: () => 61_000 });
    expect(reopened.recovered.map((r) => [r.mediaId, r.action])).toEqual([[old, 'removed']]);
    expect(existsSync(join(dataDir, 'parts', `${young}.part`))).toBe(true);
  });
});

describe('the hub on the file store', () => {
  const DAY = 24 * 3600_000;
  const setup = async () => {
    const dataDir = newDataDir();
    const clock = virtualClock(Date.UTC(2026, 0, 1));
    const store = await open(dataDir, { now: () => clock.now() });
    let stall: Promise<void> | undefined;
    const hub: Hub = createHub({ clock, store, retentionMs: DAY, sweepIntervalMs: 10 * DAY });
    const transport = memoryTransport(hub, { gate: () => stall ?? Promise.resolve() });
    const client = async (userId: string) => {
      const c = createClient({ transport, clock });
      await c.login({ userId, token: hub.issueToken(userId, 30 * DAY) });
      return c;
    };
    return { dataDir, clock, store, hub, client, stallForever: () => (stall = new Promise(() => undefined)) };
  };

  it('uploads files through a client and downloads the same bytes back', async () => {
    const { dataDir, hub, client } = await setup();
    const alice = await client('alice');
    const bob = await client('bob');
    const sent = [bytesOf(1, 1), bytesOf(65_536, 2), bytesOf(1_000_003, 3)];
    const messages = await Promise.all(sent.map((bytes, i) => alice.createFileMessageByUploading(bytes, { fileName: `f${i}.bin` }).result));
    for (const [i, message] of messages.entries()) {
      const received = await bob.downloadMediaToMemory(message.mediaId).result;
      expect(Buffer.compare(received, sent[i]!)).toBe(0);
      expect((await hub.mediaInfo(message.mediaId)).sha256).toBe(sha256(sent[i]!));
    }
    expect(readdirSync(join(dataDir, 'media')).sort()).toEqual(messages.map((m) => m.mediaId).sort());
    expect(readdirSync(join(dataDir, 'parts'))).toEqual([]);
    await Promise.all([alice.logout(), bob.logout()]);
    hub.close();
  });

  it('a cancelled upload leaves no part file and no record', async () => {
    const { dataDir, hub, client, stallForever } = await setup();
    const alice = await client('alice');
    stallForever();
    const up = alice.createFileMessageByUploading(bytesOf(300_000));
    await until(() => readdirSync(join(dataDir, 'parts')).length === 1, 'the upload to start');
    await up.cancel();
    await expect(up.result).rejects.toMatchObject({ name: 'UploadError', code: 6 });
    // A cancel may land while the hub is still creating the upload: the caller is answered at once and the
    // upload is terminated once created (decision 78), within a few turns here, never left behind.
    await until(() => filesIn(dataDir).length === 0, 'the cancelled upload to be terminated');
    expect(filesIn(dataDir)).toEqual([]);
    await alice.logout();
    hub.close();
  });

  it('deletes the files of media past its retention', async () => {
    const { dataDir, clock, hub, client } = await setup();
    const alice = await client('alice');
    const [kept, expired] = [bytesOf(10, 1), bytesOf(20, 2)];
    const first = await alice.createFileMessageByUploading(expired).result;
    clock.advance(DAY / 2);
    const second = await alice.createFileMessageByUploading(kept).result;
    clock.advance(DAY / 2);
    expect(await hub.sweep()).toBe(1);
    expect(filesIn(dataDir)).toEqual([`media/${second.mediaId}`, `meta/${second.mediaId}.json`]);
    expect(await tagOf(hub.mediaInfo(first.mediaId))).toBe('NotExist');
    await alice.logout();
    hub.close();
  });
});
