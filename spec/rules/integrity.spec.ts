/**
 * DESIGN §3 "integrity": the server records a SHA-256 of each media; downloads are verified against it.
 * A store that hands out other bytes than it was given must make the download fail (code 1) and leave
 * no file behind.
 */
import { createHash } from 'node:crypto';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, afterEach, describe, expect, it } from 'vitest';
import { type MediaStore, memoryStore } from '../../src/index.js';
import { advanceUntil, bytes, expectSameBytes, partFiles, rejectsWith, stateOf, tempFolder, uploaded, world, type World } from './support.js';

const sha256 = (data: Uint8Array): string => createHash('sha256').update(data).digest('hex');

type Tamper = 'none' | 'flip' | 'extra' | 'short';

/** A memory store whose reads can be tampered with after the upload, as a failing disk or a bad cache would. */
const tamperingStore = (): { store: MediaStore; tamper(mode: Tamper): void } => {
  const inner = memoryStore();
  let mode: Tamper = 'none';
  const store: MediaStore = {
    ...inner,
    async *read(mediaId, offset, signal) {
      const entry = await inner.stat(mediaId);
      // 'short' ends every stream one byte before the end of the media, however often it is resumed.
      const end = mode === 'short' && entry ? entry.meta.size - 1 : Number.POSITIVE_INFINITY;
      let at = offset;
      let first = true;
      for await (const chunk of inner.read(mediaId, offset, signal)) {
        if (mode === 'flip' && first) {
          const copy = chunk.slice();
          copy[copy.length >> 1] = (copy[copy.length >> 1] ?? 0) ^ 0x01;
          yield copy;
        } else if (at + chunk.length > end) {
          if (end > at) yield chunk.subarray(0, end - at);
          return;
        } else yield chunk;
        at += chunk.length;
        first = false;
      }
      if (mode === 'extra') yield new Uint8Array([0x42]);
    },
  };
  return {
    store,
    tamper: (m) => {
      mode = m;
    },
  };
};

describe('integrity', () => {
  let w: World;
  const folder = tempFolder();
  afterEach(() => w.hub.close());
  afterAll(() => folder.remove());

  it('the hub records the SHA-256 of each media as it was uploaded', async () => {
    w = world();
    const client = await w.loggedIn();
    const data = bytes(200_001);
    const mediaId = await uploaded(client, data);
    const info = await w.hub.mediaInfo(mediaId);
    expect(info.sha256).toMatch(/^[0-9a-f]{64}$/);
    expect(info.sha256).toBe(sha256(data));
  });

  it('the SHA-256 of a file uploaded from a path is that of its bytes', async () => {
    w = world();
    const client = await w.loggedIn();
    const path = join(folder.path, 'source.bin');
    const data = bytes(150_000, 3);
    writeFileSync(path, data);
    const message = await client.createFileMessageByUploading(path).result;
    expect((await w.hub.mediaInfo(message.mediaId)).sha256).toBe(sha256(data));
  });

  it('an intact download passes verification, to memory and to a file', async () => {
    const { store } = tamperingStore();
    w = world({ hub: { store } });
    const client = await w.loggedIn();
    const data = bytes(300_000, 4);
    const mediaId = await uploaded(client, data);
    expectSameBytes(await client.downloadMediaToMemory(mediaId).result, data);
    const target = join(folder.path, 'intact.bin');
    await client.downloadMediaToFile(mediaId, target).result;
    expectSameBytes(new Uint8Array(readFileSync(target)), data);
    expect(partFiles(folder.entries())).toEqual([]);
  });

  describe('a download of bytes that do not match the recorded SHA-256 fails with 1 FAILURE', () => {
    it('to memory: one flipped bit', async () => {
      const { store, tamper } = tamperingStore();
      w = world({ hub: { store } });
      const client = await w.loggedIn();
      const mediaId = await uploaded(client, bytes(200_000));
      tamper('flip');
      const task = client.downloadMediaToMemory(mediaId);
      const error = await rejectsWith(task.result, { name: 'DownloadError', code: 1, mentions: /SHA-256/ });
      expect(error.failure).toMatchObject({ _tag: 'Integrity', expected: sha256(bytes(200_000)) });
      expect(stateOf(task)).toBe('failed');
    });

    it('to a file: one flipped bit leaves no file and no temporary file', async () => {
      const { store, tamper } = tamperingStore();
      w = world({ hub: { store } });
      const client = await w.loggedIn();
      const mediaId = await uploaded(client, bytes(200_000));
      tamper('flip');
      const target = join(folder.path, 'corrupt.bin');
      await rejectsWith(client.downloadMediaToFile(mediaId, target).result, { name: 'DownloadError', code: 1, mentions: /SHA-256/ });
      expect(existsSync(target)).toBe(false);
      expect(partFiles(folder.entries())).toEqual([]);
    });

    it('to a file: more bytes than recorded leaves no file', async () => {
      const { store, tamper } = tamperingStore();
      w = world({ hub: { store } });
      const client = await w.loggedIn();
      const mediaId = await uploaded(client, bytes(100_000));
      tamper('extra');
      const target = join(folder.path, 'longer.bin');
      await rejectsWith(client.downloadMediaToFile(mediaId, target).result, { name: 'DownloadError', code: 1 });
      expect(existsSync(target)).toBe(false);
      expect(partFiles(folder.entries())).toEqual([]);
    });

    it('a file already at the target path is left as it was', async () => {
      const { store, tamper } = tamperingStore();
      w = world({ hub: { store } });
      const client = await w.loggedIn();
      const mediaId = await uploaded(client, bytes(100_000));
      tamper('flip');
      const target = join(folder.path, 'existing.txt');
        writeFileSync(target, 'keep me');
      await rejectsWith(client.downloadMediaToFile(mediaId, target).result, { name: 'DownloadError', code: 1 });
      expect(readFileSync(target, 'utf8')).toBe('keep me');
      expect(partFiles(folder.entries())).toEqual([]);
    });
  });

  it('a stream that keeps ending early is resumed until no byte moves for the idle timeout, then fails with 3 and leaves no file', async () => {
    const { store, tamper } = tamperingStore();
    w = world({ hub: { store } });
    const client = await w.loggedIn('alice', { idleTimeoutMs: 20_000 });
    const mediaId = await uploaded(client, bytes(100_000));
    tamper('short');
    const target = join(folder.path, 'short.bin');
    const task = client.downloadMediaToFile(mediaId, target);
    // Retries wait on the virtual clock (0, 1, 3, 5, 5, … s by default); the watchdog ends them.
    await advanceUntil(w.clock, () => stateOf(task) !== 'transferring', 'the idle timeout', 1000);
    expect(w.clock.now()).toBeGreaterThanOrEqual(20_000);
    await rejectsWith(task.result, { name: 'DownloadError', code: 3 });
    expect(existsSync(target)).toBe(false);
    expect(partFiles(folder.entries())).toEqual([]);
  });

  it('verification uses the hash recorded at upload time, not one computed from what is stored later', async () => {
    const { store, tamper } = tamperingStore();
    w = world({ hub: { store } });
    const client = await w.loggedIn();
    const mediaId = await uploaded(client, bytes(50_000));
    const recorded = (await w.hub.mediaInfo(mediaId)).sha256;
    tamper('flip');
    expect((await w.hub.mediaInfo(mediaId)).sha256).toBe(recorded);
    await rejectsWith(client.downloadMediaToMemory(mediaId).result, { name: 'DownloadError', code: 1 });
    tamper('none');
    expectSameBytes(await client.downloadMediaToMemory(mediaId).result, bytes(50_000));
  });
});
