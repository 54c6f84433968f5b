/**
 * File access on Node: bounded reads, and downloads written to a temporary file in the target folder,
 * then fsync, atomic rename and folder fsync, so a path holds either nothing or the whole verified file.
 * @module
 */
import { type FileHandle, open, rename, stat, unlink } from 'node:fs/promises';
import { basename, dirname, join } from 'node:path';
import { throwIfAborted } from '../core/abort.js';
import { toHex } from '../core/bytes.js';
import { Failure, fault } from '../core/failure.js';
import type { FileAccess, FileSink } from '../core/files.js';
import { cryptoRandomBytes } from '../core/ids.js';
import { errnoOf, fsyncFolder, writeBehind } from './node-fs.js';


/** What a file-system error means for a person, in words; the code itself stays on the failure's cause. */
const ERRNO_WORDS: Readonly<Record<string, string>> = {
  ENOENT: 'no such file',
  EACCES: 'permission denied',
  EPERM: 'permission denied',
  EISDIR: 'it is a folder',
  ENOTDIR: 'a folder in its path is a file',
  ELOOP: 'too many symbolic links',
  ENAMETOOLONG: 'the name is too long',
};

const invalidPath = (argument: string, path: string, error: unknown) => {
  const errno = errnoOf(error);
  const why = (errno && ERRNO_WORDS[errno]) ?? errno ?? String(error);
  return fault(Failure.invalidArgument(argument, `cannot use ${JSON.stringify(path)}: ${why}`), error);
};


/** Bytes accepted but not yet written before `write` waits: the most a download holds for its file. */
const WRITE_BEHIND = 1024 * 1024;

/** Size of the staging buffers a download's chunks are copied into: a few of them are in use at once. */
const STAGE = 256 * 1024;

/**
 * Bytes written between two background `fdatasync`s of a download's file: the kernel writes the file
 * out while the rest arrives, so the fsync before the rename flushes only the tail (30 MiB took
 * ~25 ms to fsync at once here, all of it after the last byte).
 */
const SYNC_EVERY = 8 * 1024 * 1024;

const sink = (handle: FileHandle, tempPath: string, finalPath: string): FileSink => {
  let length = 0;
  // Every operation runs after the previous one, so `discard` never races a write in flight.
  let chain: Promise<unknown> = Promise.resolve();
  let state: 'open' | 'committed' | 'discarded' = 'open';
  const then = <T>(step: () => Promise<T>): Promise<T> => {
    const next = chain.then(step);
    chain = next.catch(() => undefined);
    return next;
  };
  // Written bytes are flushed to disk in the background every SYNC_EVERY, one flush at a time; a failed
  // one fails the commit (after a failed fsync the kernel may have dropped the pages: a later fsync
  // could succeed on a file missing them).
  let unsynced = 0;
  let syncing: Promise<void> | undefined;
  let syncFailure: { readonly error: unknown } | undefined;
  const onWritten = (bytes: number): void => {
    unsynced += bytes;
    if (unsynced < SYNC_EVERY || syncing) return;
    unsynced = 0;
    syncing = handle.datasync().then(
      () => (syncing = undefined),
      (error: unknown) => {
        syncFailure ??= { error };
        syncing = undefined;
      },
    );
  };
  // Accepted bytes go out in the background while the next arrive; a failed write fails the next
  // `write` or the commit. The chunks are lent (the transport may reuse their memory), so they are
  // copied into staging buffers, which are reused once written.
  const behind = writeBehind(handle, { position: null, limit: WRITE_BEHIND, stage: STAGE, onWritten });
  return {
    get length() {
      return length;
    },
    write: (bytes) =>
      then(async () => {
        if (state !== 'open') throw fault(Failure.interrupted('the download was discarded'));
        length += bytes.length;
        await behind.write(bytes);
      }),
    commit: (signal) =>
      then(async () => {
        if (state !== 'open') throw fault(Failure.interrupted('the download was discarded'));
        await behind.drained();
        await syncing;
        if (syncFailure) throw syncFailure.error;
        await handle.sync();
        await handle.close();
        throwIfAborted(signal);
        await rename(tempPath, finalPath);
        state = 'committed';
        await fsyncFolder(dirname(finalPath));
      }),
    discard: () =>
      then(async () => {
        if (state === 'discarded') return;
        await behind.drained().catch(() => undefined);
        await syncing;
        // A cancel that lands while the commit runs finds the file already moved: it must not stay there.
        const path = state === 'committed' ? finalPath : tempPath;
        if (state === 'open') await handle.close();
        state = 'discarded';
        await unlink(path).catch((error: unknown) => {
          if (errnoOf(error) !== 'ENOENT') throw error;
        });
      }),
  };
};

/** {@link FileAccess} on Node's file system. */
export const nodeFiles: FileAccess = {
  async stat(path, argument) {
    const stats = await stat(path).catch((error: unknown) => {
      throw invalidPath(argument, path, error);
    });
    if (!stats.isFile()) throw fault(Failure.invalidArgument(argument, `${JSON.stringify(path)} is not a regular file`));
    return { size: stats.size };
  },
  async *read(path, offset, chunkSize, signal) {
    const handle = await open(path, 'r').catch((error: unknown) => {
      throw invalidPath('source', path, error);
    });
    // One buffer for the whole file: each chunk is valid until the next is asked for (the `ByteSource`
    // contract), so an upload holds one chunk of the file at a time, and makes no garbage per chunk.
    const buffer = new Uint8Array(chunkSize);
    try {
      for (let position = offset; ; ) {
        throwIfAborted(signal);
        const { bytesRead } = await handle.read(buffer, 0, chunkSize, position);
        if (bytesRead === 0) return;
        position += bytesRead;
        yield bytesRead === chunkSize ? buffer : buffer.subarray(0, bytesRead);
      }
    } finally {
      await handle.close();
    }
  },
  async createSink(path) {
    // A folder at the target would only fail at the final rename, after every byte had moved.
    const existing = await stat(path).catch(() => undefined);
    if (existing?.isDirectory()) throw fault(Failure.invalidArgument('absolutePath', `${JSON.stringify(path)} is a folder`));
    const tempPath = join(dirname(path), `.${basename(path)}.${toHex(cryptoRandomBytes(6))}.ferry-part`);
    const handle = await open(tempPath, 'wx', 0o666).catch((error: unknown) => {
      throw invalidPath('absolutePath', path, error);
    });
    return sink(handle, tempPath, path);
  },
};
