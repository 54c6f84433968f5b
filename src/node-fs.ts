/**
 * File-system helpers shared by everything Node-only that writes durably (the download sink, the
 * server's file store and secret, the benchmarks' raw baseline).
 * @module
 */
import type { FileHandle } from 'node:fs/promises';
import { open, stat, unlink } from 'node:fs/promises';

/** The `code` of a Node system error (`ENOENT`, `EEXIST`, …), if it has one. */
export const errnoOf = (error: unknown): string | undefined =>
  error instanceof Error && 'code' in error && typeof error.code === 'string' ? error.code : undefined;

/** Makes a folder's entries (a rename, a new file) durable. */
export const fsyncFolder = async (folder: string): Promise<void> => {
  // Windows cannot open a folder for fsync; its renames are durable through NTFS's journal.
  if (process.platform === 'win32') return;
  const handle = await open(folder, 'r');
  try {
    await handle.sync();
  } finally {
    await handle.close();
  }
};

/** Writes all of `bytes` at `position` (a single `write` may write fewer). */
export const writeAll = async (handle: FileHandle, bytes: Uint8Array, position: number | null): Promise<void> => {
  for (let written = 0; written < bytes.length; ) {
    const { bytesWritten } = await handle.write(bytes, written, bytes.length - written, position === null ? null : position + written);
    written += bytesWritten;
  }
};

/** Appends all of `chunks` at the file's position in one `writev` (finishing a short one piece by piece). */
export const writevAll = async (handle: FileHandle, chunks: readonly Uint8Array[]): Promise<void> => {
  const { bytesWritten } = await handle.writev(chunks as Uint8Array[]);
  let skip = bytesWritten;
  for (const chunk of chunks) {
    if (skip >= chunk.length) {
      skip -= chunk.length;
      continue;
    }
    await writeAll(handle, chunk.subarray(skip), null);
    skip = 0;
  }
};

/** A `catch` handler that turns "no such file" into `fallback` and rethrows anything else. */
export const ifMissing =
  <T>(fallback: T) =>
  (error: unknown): T => {
    if (errnoOf(error) === 'ENOENT') return fallback;
    throw error;
  };

/** Removes a file; one already gone is fine. */
export const removeFile = (path: string): Promise<void> => unlink(path).catch(ifMissing(undefined));

/** The size of a file, `undefined` if there is none. */
export const sizeOf = (path: string): Promise<number | undefined> => stat(path).then((s) => s.size, ifMissing(undefined));
