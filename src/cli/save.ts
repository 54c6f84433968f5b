/**
 * Saving received media into a folder. A file name from a message is untrusted: it is reduced to a
 * plain name (no folders, no `..`, no control or format characters, no leading dots, no names Windows
 * reserves, at most 200 bytes), and it never replaces an existing file: the name is reserved by creating
 * it exclusively (`name (1).ext`, `name (2).ext`… when taken), then the download atomically replaces the
 * empty placeholder once verified. A failed or cancelled download removes the placeholder.
 * @module
 */
import { mkdir, open, unlink } from 'node:fs/promises';
import { extname, join } from 'node:path';
import type { Client } from '../client/client-api.js';
import { baseName } from '../core/files.js';
import { errnoOf } from '../platform/node-fs.js';
import type { CommandContext } from './connect.js';

const MAX_NAME_BYTES = 200;
const WINDOWS_RESERVED = /^(con|prn|aux|nul|com\d|lpt\d)(\..*)?$/i;

/** Cuts `text` to at most `max` UTF-8 bytes without splitting a character. */
const cutToBytes = (text: string, max: number): string => {
  let out = '';
  let bytes = 0;
  for (const char of text) {
    bytes += Buffer.byteLength(char);
    if (bytes > max) break;
    out += char;
  }
  return out;
};

/**
 * A safe plain file name for an untrusted `name`, or `fallback` when nothing usable is left.
 * @example safeFileName('../../etc/passwd', 'media') // 'passwd'
 */
export const safeFileName = (name: string, fallback: string): string => {
  const plain = baseName(name)
    .normalize('NFC')
    .replace(/[\p{Cc}\p{Cf}<>:"|?*]/gu, '_')
    .replace(/^[.\s]+|[.\s]+$/g, '');
  const reserved = WINDOWS_RESERVED.test(plain) ? `_${plain}` : plain;
  const extension = cutToBytes(extname(reserved), 32);
  const stem = reserved.slice(0, reserved.length - extension.length);
  const cut = Buffer.byteLength(reserved) > MAX_NAME_BYTES ? `${cutToBytes(stem, MAX_NAME_BYTES - Buffer.byteLength(extension))}${extension}` : reserved;
  return cut === '' ? fallback : cut;
};

/** Creates a new empty file for `name` in `folder` under a name no other file has; resolves with its path. */
export const reserveFile = async (folder: string, name: string): Promise<string> => {
  await mkdir(folder, { recursive: true });
  const extension = extname(name);
  const stem = name.slice(0, name.length - extension.length);
  for (let n = 0; n < 10_000; n++) {
    const path = join(folder, n === 0 ? name : `${stem} (${n})${extension}`);
    try {
      await (await open(path, 'wx')).close();
      return path;
    } catch (error) {
      if (errnoOf(error) !== 'EEXIST') throw error;
    }
  }
  throw new Error(`no free name for ${JSON.stringify(name)} in ${folder}`);
};

const removeQuietly = (path: string): Promise<void> =>
  unlink(path).catch((error: unknown) => {
    if (errnoOf(error) !== 'ENOENT') throw error;
  });

/**
 * Downloads `mediaId` into `folder` under a safe, unused version of `name`, showing progress; resolves
 * with the path. Tracked by the interruption, so Ctrl-C waits until the placeholder is gone too.
 */
export const saveMedia = (client: Client, context: CommandContext, mediaId: string, folder: string, name: string): Promise<string> =>
  context.interruption.track(
    (async () => {
      const path = await reserveFile(folder, safeFileName(name, mediaId));
      try {
        const task = client.downloadMediaToFile(mediaId, path, { signal: context.interruption.signal });
        context.reporter.watch(task, baseName(path), 'download');
        await task.result;
        return path;
      } catch (error) {
        await removeQuietly(path);
        throw error;
      }
    })(),
  );
