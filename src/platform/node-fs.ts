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

/**
 * Writes all of `chunks` in one `writev` (finishing a short one piece by piece), at `position`, or at the
 * file's position when it is `null`.
 */
export const writevAll = async (handle: FileHandle, chunks: readonly Uint8Array[], position: number | null = null): Promise<void> => {
  const { bytesWritten } = await handle.writev(chunks as Uint8Array[], position ?? undefined);
  let at = bytesWritten;
  let skip = bytesWritten;
  for (const chunk of chunks) {
    if (skip >= chunk.length) {
      skip -= chunk.length;
      continue;
    }
    const rest = chunk.subarray(skip);
    await writeAll(handle, rest, position === null ? null : position + at);
    at += rest.length;
    skip = 0;
  }
};

/** Options of {@link writeBehind}. */
export interface WriteBehindOptions {
  /** Where the first byte goes; `null`: at the file's position. */
  readonly position: number | null;
  /** Bytes accepted and not yet written beyond which `write` waits for the backlog. */
  readonly limit: number;
  /**
   * Copy each chunk into staging buffers of this many bytes (reused once written; about `limit ÷ stage`
   * of them in use) instead of keeping a reference: for a producer that reuses its buffers. Without it a
   * chunk must not change until it is written.
   */
  readonly stage?: number;
  /** Called after each write with the bytes it wrote, in order. */
  readonly onWritten?: (bytes: number) => void;
}

/** A file writer that writes behind its producer: see {@link writeBehind}. */
export interface WriteBehind {
  /** Accepts `bytes`; resolves at once, or once the backlog is written if more than `limit` is outstanding. */
  write(bytes: Uint8Array): Promise<void>;
  /** Resolves once everything accepted is written; rejects with the first write failure. */
  drained(): Promise<void>;
  /**
   * Settles like `promise`, or rejects with a write's failure as soon as one happens, whichever comes
   * first: a producer waiting for its next chunk hears of a failed write at once. Keeps no reference to
   * `promise` once it settled.
   */
  race<T>(promise: Promise<T>): Promise<T>;
}

/**
 * Writes what a producer hands over in the background, one `writev` per batch of whatever arrived while
 * the previous write ran, so the next bytes are received while the last are written and a fast disk
 * costs one write per chunk while a slow one gets fewer, larger writes (as `fs.WriteStream` batches).
 * A failed write fails the next `write`, `drained` and any `race` waiting, and nothing more is written.
 */
export const writeBehind = (handle: FileHandle, options: WriteBehindOptions): WriteBehind => {
  const { limit, stage, onWritten } = options;
  let position = options.position;
  let queued: Uint8Array[] = [];
  let outstanding = 0;
  let flushing: Promise<void> | undefined;
  let failure: { readonly error: unknown } | undefined;
  // Rejecters of the `race`s waiting now (a long-lived promise raced each time would keep every result).
  const racing = new Set<(error: unknown) => void>();
  // Staging (`stage`): `spare` buffers to fill, the one filling, and how much of it is queued already.
  const spare: Uint8Array[] = [];
  let filling: Uint8Array | undefined;
  let filled = 0;
  let queuedUpTo = 0;

  /** Queues the staged bytes not queued yet (a view: the buffer keeps filling after them). */
  const queueStaged = (): void => {
    if (filling === undefined || filled === queuedUpTo) return;
    queued.push(filling.subarray(queuedUpTo, filled));
    queuedUpTo = filled;
    if (filled === filling.length) filling = undefined;
  };
  const flush = (): Promise<void> =>
    (flushing ??= (async () => {
      try {
        for (queueStaged(); queued.length > 0 && failure === undefined; queueStaged()) {
          const batch = queued;
          queued = [];
          let bytes = 0;
          for (const piece of batch) bytes += piece.length;
          await writevAll(handle, batch, position);
          if (position !== null) position += bytes;
          outstanding -= bytes;
          // A staging buffer whose last byte was written is free again.
          if (stage !== undefined) for (const piece of batch) if (piece.byteOffset + piece.length === piece.buffer.byteLength) spare.push(new Uint8Array(piece.buffer));
          onWritten?.(bytes);
        }
      } catch (error) {
        failure = { error };
        for (const reject of racing) reject(error);
        racing.clear();
      } finally {
        flushing = undefined;
      }
    })());
  const drained = async (): Promise<void> => {
    while (flushing || (failure === undefined && (queued.length > 0 || (filling !== undefined && filled > queuedUpTo)))) await (flushing ?? flush());
    if (failure !== undefined) throw failure.error;
  };
  const stageCopy = (bytes: Uint8Array): void => {
    for (let from = 0; from < bytes.length; ) {
      if (filling === undefined) {
        filling = spare.pop() ?? new Uint8Array(stage as number);
        filled = 0;
        queuedUpTo = 0;
      }
      const take = Math.min(bytes.length - from, filling.length - filled);
      filling.set(bytes.subarray(from, from + take), filled);
      filled += take;
      from += take;
      if (filled === filling.length) queueStaged();
    }
  };
  return {
    async write(bytes) {
      if (failure !== undefined) throw failure.error;
      if (bytes.length === 0) return;
      if (stage === undefined) queued.push(bytes);
      else stageCopy(bytes);
      outstanding += bytes.length;
      void flush();
      if (outstanding > limit) await drained();
    },
    drained,
    race: (promise) =>
      failure !== undefined
        ? Promise.reject(failure.error)
        : new Promise((resolve, reject) => {
            racing.add(reject);
            promise.then(
              (value) => (racing.delete(reject), resolve(value)),
              (error: unknown) => (racing.delete(reject), reject(error)),
            );
          }),
  };
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
