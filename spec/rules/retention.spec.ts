/**
 * DESIGN §3 "retention": media is kept `retentionMs` (default 7 days) from upload; afterwards download
 * fails with 4 NOT_EXIST and the bytes are deleted. Time is virtual: nothing here sleeps.
 */
import { join } from 'node:path';
import { afterAll, afterEach, describe, expect, it } from 'vitest';
import { DEFAULT_RETENTION_MS, type MediaStore, memoryStore } from '../../src/index.js';
import { bytes, flush, partFiles, rejectsWith, tempFolder, uploaded, world, type World } from './support.js';

const DAY = 24 * 3600_000;

const entriesOf = async (store: MediaStore): Promise<unknown[]> => {
  const all: unknown[] = [];
  for await (const entry of store.list()) all.push(entry);
  return all;
};

describe('retention', () => {
  let w: World;
  const folder = tempFolder();
  afterEach(() => w.hub.close());
  afterAll(() => folder.remove());

  it('the default is seven days', () => {
    w = world();
    expect(DEFAULT_RETENTION_MS).toBe(7 * DAY);
    expect(w.hub.retentionMs).toBe(7 * DAY);
  });

  it('media is downloadable one millisecond before seven days have passed', async () => {
    w = world();
    const client = await w.loggedIn();
    const mediaId = await uploaded(client, bytes(5000));
    w.clock.advance(7 * DAY - 1);
    await flush();
    expect(await client.downloadMediaToMemory(mediaId).result).toEqual(bytes(5000));
  });

  it('after seven days the download fails with 4 NOT_EXIST naming the media', async () => {
    w = world();
    const client = await w.loggedIn();
    const mediaId = await uploaded(client);
    w.clock.advance(7 * DAY);
    await flush();
    const error = await rejectsWith(client.downloadMediaToMemory(mediaId).result, { name: 'DownloadError', code: 4, mentions: mediaId });
    expect(error.operation).toBe('download');
  });

  it('the hub says when media expires: retentionMs after the upload completed', async () => {
    w = world();
    const client = await w.loggedIn();
    const uploadedAt = w.clock.now();
    const mediaId = await uploaded(client);
    expect((await w.hub.mediaInfo(mediaId)).expiresAt).toBe(uploadedAt + 7 * DAY);
  });

  it('a hub with a custom retentionMs keeps media exactly that long', async () => {
    w = world({ hub: { retentionMs: 3600_000 } });
    const client = await w.loggedIn();
    const mediaId = await uploaded(client);
    w.clock.advance(3600_000 - 1);
    await client.downloadMediaToMemory(mediaId).result;
    w.clock.advance(1);
    await rejectsWith(client.downloadMediaToMemory(mediaId).result, { name: 'DownloadError', code: 4 });
  });

  it('expired media is gone for every user, not only the uploader', async () => {
    w = world({ hub: { retentionMs: 60_000 } });
    const alice = await w.loggedIn('alice');
    const bob = await w.loggedIn('bob');
    const mediaId = await uploaded(alice);
    await bob.downloadMediaToMemory(mediaId).result;
    w.clock.advance(60_000);
    await rejectsWith(bob.downloadMediaToMemory(mediaId).result, { name: 'DownloadError', code: 4 });
    await rejectsWith(alice.downloadMediaToMemory(mediaId).result, { name: 'DownloadError', code: 4 });
  });

  it('the bytes of expired media are deleted by the periodic sweep, without anyone asking for them', async () => {
    const store = memoryStore();
    w = world({ hub: { store, retentionMs: 2 * 3600_000 } });
    const client = await w.loggedIn();
    await uploaded(client, bytes(10_000));
    expect(store.bytesHeld).toBe(10_000);
    w.clock.advance(3600_000);
    await flush();
    expect(store.bytesHeld).toBe(10_000);
    // The default sweep runs every hour; by the third hour the media has expired and is swept.
    w.clock.advance(2 * 3600_000);
    await flush();
    expect(store.bytesHeld).toBe(0);
    expect(await entriesOf(store)).toEqual([]);
  });

  it('the bytes of expired media are deleted when a download finds them expired', async () => {
    const store = memoryStore();
    w = world({ hub: { store, retentionMs: 60_000, sweepIntervalMs: 24 * DAY } });
    const client = await w.loggedIn();
    const mediaId = await uploaded(client, bytes(10_000));
    w.clock.advance(60_000);
    expect(store.bytesHeld).toBe(10_000);
    await rejectsWith(client.downloadMediaToMemory(mediaId).result, { name: 'DownloadError', code: 4 });
    expect(store.bytesHeld).toBe(0);
  });

  it('a sweep keeps media that has not expired', async () => {
    const store = memoryStore();
    w = world({ hub: { store, retentionMs: 7 * DAY } });
    const client = await w.loggedIn();
    const old = await uploaded(client, bytes(1000, 1));
    w.clock.advance(6 * DAY);
    const recent = await uploaded(client, bytes(1000, 2));
    w.clock.advance(DAY);
    await w.hub.sweep();
    await rejectsWith(client.downloadMediaToMemory(old).result, { name: 'DownloadError', code: 4 });
    expect(await client.downloadMediaToMemory(recent).result).toEqual(bytes(1000, 2));
    expect(store.bytesHeld).toBe(1000);
  });

  it('a download of expired media to a file leaves no file and no temporary file', async () => {
    w = world({ hub: { retentionMs: 60_000 } });
    const client = await w.loggedIn();
    const mediaId = await uploaded(client);
    w.clock.advance(60_000);
    const target = join(folder.path, 'expired.bin');
    await rejectsWith(client.downloadMediaToFile(mediaId, target).result, { name: 'DownloadError', code: 4 });
    expect(folder.entries()).not.toContain('expired.bin');
    expect(partFiles(folder.entries())).toEqual([]);
  });

  it('a message built from an expired media ID is still a valid message; only the download fails', async () => {
    w = world({ hub: { retentionMs: 60_000 } });
    const alice = await w.loggedIn('alice');
    const bob = await w.loggedIn('bob');
    const mediaId = await uploaded(alice);
    w.clock.advance(60_000);
    const message = alice.createFileMessageByMediaId(mediaId, { fileName: 'old.bin', size: 1000 });
    const received: unknown[] = [];
    bob.peerMessages$.subscribe((event) => received.push(event.message));
    await alice.sendMessageToPeer('bob', message);
    expect(received).toEqual([message]);
    await rejectsWith(bob.downloadMediaToMemory(mediaId).result, { name: 'DownloadError', code: 4 });
  });
});
