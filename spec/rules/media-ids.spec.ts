/**
 * DESIGN §3 "media IDs": opaque URL-safe strings with at least 128 random bits; malformed → 2,
 * unknown or expired → 4.
 */
import { join } from 'node:path';
import { afterAll, afterEach, describe, expect, it } from 'vitest';
import { bytes, gate, partFiles, rejectsWith, tempFolder, throwsWith, until, uploaded, world, type World } from './support.js';

const URL_SAFE = /^[A-Za-z0-9_-]+$/;

describe('media IDs', () => {
  let w: World;
  const folder = tempFolder();
  afterEach(() => w.hub.close());
  afterAll(() => folder.remove());

  it('are URL-safe strings of at least 22 characters (128 bits in base64url)', async () => {
    w = world();
    const client = await w.loggedIn();
    const mediaId = await uploaded(client);
    expect(mediaId).toMatch(URL_SAFE);
    expect(mediaId.length).toBeGreaterThanOrEqual(22);
    expect(encodeURIComponent(mediaId)).toBe(mediaId);
  });

  it('never start with "-", so a command line does not read one as an option', async () => {
    // 0xf8 makes the first base64url character "-" (62), the worst case of every draw.
    w = world({ hub: { random: (length) => new Uint8Array(length).fill(0xf8) } });
    const client = await w.loggedIn();
    const mediaId = await uploaded(client);
    expect(mediaId).toMatch(/^A[A-Za-z0-9_-]{21}$/);
  });

  it('carry at least 128 bits drawn from the random source for each upload', async () => {
    const requested: number[] = [];
    let counter = 0;
    w = world({
      hub: {
        random: (length) => {
          requested.push(length);
          counter += 1;
          return Uint8Array.from({ length }, (_, i) => (i * 31 + counter * 7) & 0xff);
        },
      },
    });
    const client = await w.loggedIn();
    requested.length = 0;
    await uploaded(client);
    expect(requested.reduce((a, b) => a + b, 0) * 8).toBeGreaterThanOrEqual(128);
  });

  it('are distinct across many uploads, and say nothing about the file', async () => {
    w = world();
    const client = await w.loggedIn();
    const ids = await Promise.all(
      Array.from({ length: 60 }, (_, i) =>
        client.createFileMessageByUploading(bytes(10, 1), { fileName: `same-name-${i % 2}.txt` }).result.then((m) => m.mediaId),
      ),
    );
    expect(new Set(ids).size).toBe(60);
    for (const id of ids) {
      expect(id).toMatch(URL_SAFE);
      // Not `txt` as well: 22 random URL-safe characters contain any given three in about 1 of 13,000 IDs,
      // so the 60 here would fail about one run in 200 (it did once, in CI). The name's stem cannot appear by chance.
      expect(id).not.toContain('same-name');
    }
  });

  describe('a malformed media ID fails with 2 INVALID_ARGUMENT naming mediaId', () => {
    it.each([
      ['empty', ''],
      ['too short', 'abc'],
      ['with a slash', 'AAAAAAAAAAA/AAAAAAAAAA'],
      ['a path traversal', '../../../../etc/passwd'],
      ['with base64 padding', 'AAAAAAAAAAAAAAAAAAAAAA=='],
      ['with a plus (not URL-safe)', 'AAAAAAAAAAA+AAAAAAAAAA'],
      ['with a space', 'AAAAAAAAAAA AAAAAAAAAA'],
      ['with non-ASCII', 'ÅAAAAAAAAAAAAAAAAAAAAA'],
      ['far too long', 'A'.repeat(200)],
    ])('%s, on download to memory', async (_what, mediaId) => {
      w = world();
      const client = await w.loggedIn();
      await rejectsWith(client.downloadMediaToMemory(mediaId).result, { name: 'DownloadError', code: 2, mentions: /'mediaId'/ });
    });

    it('on download to a file, creating nothing', async () => {
      w = world();
      const client = await w.loggedIn();
      const target = join(folder.path, 'malformed.bin');
      await rejectsWith(client.downloadMediaToFile('../escape', target).result, { name: 'DownloadError', code: 2, mentions: /'mediaId'/ });
      expect(folder.entries()).toEqual([]);
    });

    it('when building a file or image message by media ID (these throw, synchronously)', async () => {
      w = world();
      const client = w.client();
      throwsWith(() => client.createFileMessageByMediaId('not/an/id'), { name: 'MessageError', code: 2, mentions: /'mediaId'/ });
      throwsWith(() => client.createImageMessageByMediaId(''), { name: 'MessageError', code: 2, mentions: /'mediaId'/ });
    });
  });

  describe('an unknown or expired media ID fails with 4 NOT_EXIST', () => {
    it('a well-formed ID nobody uploaded', async () => {
      w = world();
      const client = await w.loggedIn();
      await rejectsWith(client.downloadMediaToMemory('AAAAAAAAAAAAAAAAAAAAAA').result, {
        name: 'DownloadError',
        code: 4,
        mentions: /AAAAAAAAAAAAAAAAAAAAAA/,
      });
    });

    it('a well-formed ID nobody uploaded, to a file, leaving no file', async () => {
      w = world();
      const client = await w.loggedIn();
      const target = join(folder.path, 'unknown.bin');
      await rejectsWith(client.downloadMediaToFile('B'.repeat(22), target).result, { name: 'DownloadError', code: 4 });
      expect(folder.entries()).not.toContain('unknown.bin');
      expect(partFiles(folder.entries())).toEqual([]);
    });

    it('the ID of an upload still in progress (not yet media)', async () => {
      const g = gate(false);
      w = world({ gate: g.fn });
      const alice = await w.loggedIn('alice');
      const bob = await w.loggedIn('bob');
      alice.createFileMessageByUploading(bytes(200_000));
      await until(() => g.waiting > 0, 'the first chunk at the gate');
      const inProgress = g.steps[0]!.mediaId;
      await rejectsWith(bob.downloadMediaToMemory(inProgress).result, { name: 'DownloadError', code: 4 });
    });

    it('an expired ID', async () => {
      w = world({ hub: { retentionMs: 1000 } });
      const client = await w.loggedIn();
      const mediaId = await uploaded(client);
      w.clock.advance(1000);
      await rejectsWith(client.downloadMediaToMemory(mediaId).result, { name: 'DownloadError', code: 4 });
    });

    it('a well-formed ID is a valid message field even when unknown: building the message does not look it up', async () => {
      w = world();
      const message = w.client().createImageMessageByMediaId('C'.repeat(22), { width: 10, height: 20 });
      expect(message).toMatchObject({ messageType: 'IMAGE', mediaId: 'C'.repeat(22), width: 10, height: 20, size: 0, fileName: '' });
    });
  });

  it('an ID from one hub is unknown on another', async () => {
    w = world();
    const client = await w.loggedIn();
    const mediaId = await uploaded(client);
    const other = world();
    try {
      const stranger = await other.loggedIn();
      await rejectsWith(stranger.downloadMediaToMemory(mediaId).result, { name: 'DownloadError', code: 4 });
    } finally {
      other.hub.close();
    }
  });
});
