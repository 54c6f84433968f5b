/**
 * DESIGN §3 "sessions": logout, or the same user logging in elsewhere (→ `ABORTED`), ends that client's
 * running transfers with 6 INTERRUPTED. Such tasks end `failed` (only a task cancelled by its caller ends
 * `cancelled`), clean up after themselves, and leave other clients alone.
 */
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, afterEach, describe, expect, it } from 'vitest';
import { type ConnectionState, type MediaStore, memoryStore, textMessage } from '../../src/index.js';
import { bytes, flush, gate, partFiles, record, rejectsWith, stateOf, tempFolder, until, uploaded, world, type World } from './support.js';

const entriesOf = async (store: MediaStore): Promise<unknown[]> => {
  const all: unknown[] = [];
  for await (const entry of store.list()) all.push(entry);
  return all;
};

describe('sessions', () => {
  let w: World;
  const folder = tempFolder();
  afterEach(() => w.hub.close());
  afterAll(() => folder.remove());

  describe('logout', () => {
    it('ends running uploads and downloads with 6 INTERRUPTED, as failed, before it resolves', async () => {
      const g = gate();
      w = world({ gate: g.fn });
      const client = await w.loggedIn();
      const mediaId = await uploaded(client, bytes(200_000));
      g.close();
      const up = client.createFileMessageByUploading(bytes(200_000, 2));
      const down = client.downloadMediaToMemory(mediaId);
      await until(() => g.waiting >= 2, 'both transfers at the gate');
      await client.logout();
      expect(stateOf(up)).toBe('failed');
      expect(stateOf(down)).toBe('failed');
      await rejectsWith(up.result, { name: 'UploadError', code: 6, mentions: /logged out/ });
      await rejectsWith(down.result, { name: 'DownloadError', code: 6, mentions: /logged out/ });
    });

    it('ends queued transfers too', async () => {
      const g = gate(false);
      w = world({ gate: g.fn });
      const client = await w.loggedIn('alice', { maxConcurrentTransfers: 1 });
      const running = client.createFileMessageByUploading(bytes(100, 1));
      const queued = client.createFileMessageByUploading(bytes(100, 2));
      await flush();
      expect(stateOf(queued)).toBe('pending');
      await client.logout();
      await rejectsWith(running.result, { name: 'UploadError', code: 6 });
      await rejectsWith(queued.result, { name: 'UploadError', code: 6 });
      expect(stateOf(queued)).toBe('failed');
      g.open();
      await flush();
      expect(g.steps).toHaveLength(1);
    });

    it('leaves no bytes of an interrupted upload on the server', async () => {
      const store = memoryStore();
      const g = gate(false);
      w = world({ hub: { store }, gate: g.fn });
      const client = await w.loggedIn();
      client.createFileMessageByUploading(bytes(300_000));
      await until(() => g.waiting > 0, 'the first chunk at the gate');
      g.releaseOne();
      await until(() => store.bytesHeld > 0, 'a chunk at the hub');
      await client.logout();
      expect(await entriesOf(store)).toEqual([]);
    });

    it('leaves no file and no temporary file for an interrupted download to a file', async () => {
      const g = gate();
      w = world({ gate: g.fn });
      const client = await w.loggedIn();
      const mediaId = await uploaded(client, bytes(300_000));
      g.close();
      const target = join(folder.path, 'logout.bin');
      const task = client.downloadMediaToFile(mediaId, target);
      await until(() => g.waiting > 0, 'the first chunk at the gate');
      g.releaseOne();
      await until(() => g.waiting > 0, 'the second chunk at the gate');
      await client.logout();
      await rejectsWith(task.result, { name: 'DownloadError', code: 6 });
      expect(existsSync(target)).toBe(false);
      expect(partFiles(folder.entries())).toEqual([]);
    });

    it('does not touch transfers that already finished', async () => {
      w = world();
      const client = await w.loggedIn();
      const done = client.createFileMessageByUploading(bytes(100));
      const message = await done.result;
      await client.logout();
      expect(stateOf(done)).toBe('done');
      expect(await done.result).toBe(message);
      expect((await w.hub.mediaInfo(message.mediaId)).size).toBe(100);
    });

    it("does not touch another user's transfers", async () => {
      const g = gate(false);
      w = world({ gate: g.fn });
      const alice = await w.loggedIn('alice');
      const bob = await w.loggedIn('bob');
      const hers = alice.createFileMessageByUploading(bytes(100, 1));
      const his = bob.createFileMessageByUploading(bytes(100, 2));
      await until(() => g.waiting >= 2, 'both uploads at the gate');
      await alice.logout();
      await rejectsWith(hers.result, { name: 'UploadError', code: 6 });
      expect(stateOf(his)).toBe('transferring');
      g.open();
      expect((await his.result).size).toBe(100);
    });

    it('moves the connection to DISCONNECTED, and a new login works', async () => {
      w = world();
      const client = w.client();
      const states = record(client.connectionState$);
      await client.login({ userId: 'alice', token: w.hub.issueToken('alice') });
      await client.logout();
      expect(states.values).toEqual<ConnectionState[]>(['DISCONNECTED', 'CONNECTING', 'CONNECTED', 'DISCONNECTED']);
      await client.login({ userId: 'alice', token: w.hub.issueToken('alice') });
      expect((await client.createFileMessageByUploading(bytes(10)).result).size).toBe(10);
    });

    it('no progress follows the interruption', async () => {
      const g = gate(false);
      w = world({ gate: g.fn });
      const client = await w.loggedIn('alice', { progressIntervalMs: 0 });
      const task = client.createFileMessageByUploading(bytes(300_000));
      const progress = record(client.uploadProgress$);
      await until(() => g.waiting > 0, 'the first chunk at the gate');
      g.releaseOne();
      await until(() => g.waiting > 0, 'the second chunk at the gate');
      await client.logout();
      const seen = progress.values.length;
      g.open();
      await flush();
      w.clock.advance(60_000);
      await flush();
      expect(progress.values).toHaveLength(seen);
      expect(stateOf(task)).toBe('failed');
    });
  });

  describe('the same user logging in elsewhere', () => {
    it('moves the first client to ABORTED and ends its running transfers with 6 INTERRUPTED', async () => {
      const g = gate(false);
      w = world({ gate: g.fn });
      const first = await w.loggedIn('alice');
      const states = record(first.connectionState$);
      const task = first.createFileMessageByUploading(bytes(200_000));
      await until(() => g.waiting > 0, 'the first chunk at the gate');
      await w.loggedIn('alice');
      await rejectsWith(task.result, { name: 'UploadError', code: 6, mentions: /logged in elsewhere/ });
      expect(stateOf(task)).toBe('failed');
      expect(states.values.at(-1)).toBe<ConnectionState>('ABORTED');
    });

    it('ends queued transfers too, and downloads to files leave nothing behind', async () => {
      const g = gate();
      w = world({ gate: g.fn });
      const first = await w.loggedIn('alice', { maxConcurrentTransfers: 1 });
      const mediaId = await uploaded(first, bytes(200_000));
      await flush();
      g.close();
      const target = join(folder.path, 'kicked.bin');
      const running = first.downloadMediaToFile(mediaId, target);
      const queued = first.downloadMediaToMemory(mediaId);
      await until(() => g.waiting > 0, 'the first chunk at the gate');
      await w.loggedIn('alice');
      await rejectsWith(running.result, { name: 'DownloadError', code: 6 });
      await rejectsWith(queued.result, { name: 'DownloadError', code: 6 });
      expect(existsSync(target)).toBe(false);
      expect(partFiles(folder.entries())).toEqual([]);
    });

    it('leaves no bytes of the interrupted upload on the server', async () => {
      const store = memoryStore();
      const g = gate(false);
      w = world({ hub: { store }, gate: g.fn });
      const first = await w.loggedIn('alice');
      const task = first.createFileMessageByUploading(bytes(300_000));
      await until(() => g.waiting > 0, 'the first chunk at the gate');
      g.releaseOne();
      await until(() => store.bytesHeld > 0, 'a chunk at the hub');
      await w.loggedIn('alice');
      await rejectsWith(task.result, { name: 'UploadError', code: 6 });
      await flush();
      expect(await entriesOf(store)).toEqual([]);
    });

    it('the new session works while the old client is ABORTED and fails with 102', async () => {
      w = world();
      const first = await w.loggedIn('alice');
      const second = await w.loggedIn('alice');
      await w.loggedIn('bob');
      await rejectsWith(first.sendMessageToPeer('bob', textMessage('hi')), { name: 'PeerMessageError', code: 102 });
      await second.sendMessageToPeer('bob', textMessage('hi'));
      expect((await second.createFileMessageByUploading(bytes(10)).result).size).toBe(10);
    });

    it('the aborted client can log in again, taking the session back', async () => {
      w = world();
      const first = await w.loggedIn('alice');
      const second = await w.loggedIn('alice');
      const secondStates = record(second.connectionState$);
      // A third login of alice within the same second would be refused (login code 10, two per second).
      w.clock.advance(1_000);
      await first.login({ userId: 'alice', token: w.hub.issueToken('alice') });
      expect((await first.createFileMessageByUploading(bytes(10)).result).size).toBe(10);
      await flush();
      expect(secondStates.values.at(-1)).toBe<ConnectionState>('ABORTED');
    });
  });
});
