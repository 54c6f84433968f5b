/**
 * DESIGN §3 "paths": absolute and well-formed UTF-8, else 2 INVALID_ARGUMENT — for upload sources and
 * download targets alike. A refused download leaves nothing on disk.
 */
import { existsSync, mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { bytes, partFiles, rejectsWith, tempFolder, uploaded, world } from './support.js';

describe('paths', () => {
  const folder = tempFolder();
  afterAll(() => folder.remove());

  describe('upload sources', () => {
    it.each([
      ['a relative path', 'notes.txt'],
      ['a dot-relative path', './notes.txt'],
      ['a parent-relative path', '../notes.txt'],
      ['an empty string', ''],
      ['a path with a lone high surrogate', '/tmp/\uD800.txt'],
      ['a path with a lone low surrogate', '/tmp/\uDC00.txt'],
      ['a path with a NUL byte', '/tmp/a\0b.txt'],
    ])('%s fails with 2 INVALID_ARGUMENT naming the source', async (_what, path) => {
      const w = world();
      const client = await w.loggedIn();
      await rejectsWith(client.createFileMessageByUploading(path).result, { name: 'UploadError', code: 2, mentions: /'source'/ });
      await rejectsWith(client.createImageMessageByUploading(path).result, { name: 'UploadError', code: 2, mentions: /'source'/ });
    });

    it('an absolute path to a missing file fails with 2 naming the source', async () => {
      const w = world();
      const client = await w.loggedIn();
      const missing = join(folder.path, 'missing.txt');
      await rejectsWith(client.createFileMessageByUploading(missing).result, { name: 'UploadError', code: 2, mentions: /'source'.*missing\.txt/ });
    });

    it('an absolute path to a folder fails with 2 naming the source', async () => {
      const w = world();
      const client = await w.loggedIn();
      await rejectsWith(client.createFileMessageByUploading(folder.path).result, { name: 'UploadError', code: 2, mentions: /'source'/ });
    });

    it('an absolute path with non-ASCII characters uploads, and its last segment is the file name', async () => {
      const w = world();
      const client = await w.loggedIn();
      const sub = join(folder.path, 'dossier été');
      mkdirSync(sub, { recursive: true });
      const path = join(sub, 'résumé 📄 版本.txt');
      writeFileSync(path, 'bonjour');
      const message = await client.createFileMessageByUploading(path).result;
      expect(message).toMatchObject({ fileName: 'résumé 📄 版本.txt', size: 7 });
      expect(new TextDecoder().decode(await client.downloadMediaToMemory(message.mediaId).result)).toBe('bonjour');
    });

    it('an absolute path with redundant segments is still absolute and uploads', async () => {
      const w = world();
      const client = await w.loggedIn();
      const path = join(folder.path, 'plain.txt');
      writeFileSync(path, 'abc');
      mkdirSync(join(folder.path, 'sub'), { recursive: true });
      const winding = `${folder.path}/./sub/../plain.txt`;
      expect((await client.createFileMessageByUploading(winding).result).size).toBe(3);
    });
  });

  describe('download targets', () => {
    it.each([
      ['a relative path', 'out.bin'],
      ['a dot-relative path', './out.bin'],
      ['an empty string', ''],
      ['a path with a lone surrogate', '/tmp/\uD83D-out.bin'],
      ['a path with a NUL byte', '/tmp/out\0.bin'],
    ])('%s fails with 2 INVALID_ARGUMENT naming absolutePath, before any transfer', async (_what, path) => {
      const w = world();
      const alice = await w.loggedIn();
      const mediaId = await uploaded(alice);
      const task = alice.downloadMediaToFile(mediaId, path);
      await rejectsWith(task.result, { name: 'DownloadError', code: 2, mentions: /'absolutePath'/ });
      expect(existsSync(resolve('out.bin'))).toBe(false);
    });

    it('an absolute path with non-ASCII characters receives the file', async () => {
      const w = world();
      const alice = await w.loggedIn();
      const mediaId = await uploaded(alice, bytes(5000));
      const target = join(folder.path, 'reçu 📥.bin');
      await alice.downloadMediaToFile(mediaId, target).result;
      expect(new Uint8Array(readFileSync(target))).toEqual(bytes(5000));
      expect(partFiles(folder.entries())).toEqual([]);
    });

    it('an absolute path in a missing folder fails with 2 naming absolutePath and creates nothing', async () => {
      const w = world();
      const alice = await w.loggedIn();
      const mediaId = await uploaded(alice);
      const missingFolder = join(folder.path, 'no-such-folder');
      const target = join(missingFolder, 'out.bin');
      await rejectsWith(alice.downloadMediaToFile(mediaId, target).result, { name: 'DownloadError', code: 2, mentions: /'absolutePath'/ });
      expect(existsSync(missingFolder)).toBe(false);
    });

    it.skipIf(process.platform === 'win32')(
      'a Windows drive path is not absolute on POSIX: it fails with 2 and writes nothing in the working folder',
      async () => {
        const w = world();
        const alice = await w.loggedIn();
        const mediaId = await uploaded(alice);
        const name = 'C:\\ferry-rules-paths-probe.bin';
        const stray = resolve(name);
        try {
          await rejectsWith(alice.downloadMediaToFile(mediaId, name).result, { name: 'DownloadError', code: 2, mentions: /'absolutePath'/ });
          expect(existsSync(stray)).toBe(false);
        } finally {
          rmSync(stray, { force: true });
        }
      },
    );
  });
});
