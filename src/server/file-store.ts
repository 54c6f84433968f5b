/**
 * The durable media store: the server's default `MediaStore`, keeping bytes and records in a folder so
 * that completed media survives restarts and crashes, and partial uploads can be resumed.
 *
 * Layout under `dataDir` (one filesystem, so renames are atomic):
 * - `parts/<id>.part` — the bytes of an upload still receiving them;
 * - `media/<id>` — the bytes of complete media;
 * - `meta/<id>.json` — the record (sidecar), decoded with io-ts whenever it is read; written to
 *   `meta/.<id>.<random>.tmp`, fsynced, renamed over the record and the folder fsynced.
 *
 * Invariants, and how `recover()` (run before `fileStore()` resolves) restores them after a crash:
 * - Media is visible only through a `complete` record. `complete()` fsyncs the part file, renames it into
 *   `media/`, fsyncs both folders, and only then writes the complete record. A crash between the rename
 *   and the record leaves a `partial` record with a media file and no part file: the bytes are durable and
 *   were all received, so recovery rolls forward (hashes the file, writes the complete record).
 * - A `partial` record's `offset` is durable: the part file is fsynced up to it before the record says
 *   so. Bytes past it were never recorded, so recovery truncates them; a part file shorter than its
 *   record cannot be trusted and is removed. Progress is recorded in the background (`settle`) every
 *   `checkpointBytes` and after each append, so receiving never waits for the disk; a failed append
 *   records what arrived before it answers. An acknowledged offset may therefore be ahead of the record
 *   for a moment: after a crash the upload's offset is the record's, and the client resends the rest
 *   (tus clients ask the offset with HEAD before resuming).
 * - `create()` makes the part file (`wx`) before the record and `delete()` removes the record before the
 *   bytes, so bytes without a record are leftovers of an interrupted create or delete: removed.
 * - A record that does not decode is reported and removed with its bytes; until then it reads as absent.
 *
 * Records (codec, atomic writes) are in `store-records.ts`, the start-up sweep in `store-recovery.ts`;
 * the operations stay together here (past the ~300-line habit) because each one's crash ordering is
 * argued against the invariants above.
 * @module
 */
import { keyedQueue } from '../core/keyed-queue.js';
import { createReadStream } from 'node:fs';
import { type FileHandle, mkdir, open, readdir, rename, statfs, truncate } from 'node:fs/promises';
import { join } from 'node:path';
import { abortable, throwIfAborted } from '../core/abort.js';
import { Failure, FaultError, failureOf, fault } from '../core/failure.js';
import type { CreateHasher, Hasher } from '../core/hash.js';
import type { MediaMeta, MediaStore, ReadInto, StoredEntry } from '../hub/media-store.js';
import { isMediaId } from '../core/ids.js';
import { DEFAULT_PARTIAL_TTL_MS } from '../core/limits.js';
import { describeUntrusted } from '../core/untrusted.js';
import { errnoOf, fsyncFolder, removeFile, sizeOf, writeBehind } from '../platform/node-fs.js';
import { nodeSha256 } from '../platform/node-hash.js';
import { type Recovered, recoverStore } from './store-recovery.js';
import { entryOf, recordsIn, type Sidecar, SidecarCodec } from './store-records.js';

export type { Recovered } from './store-recovery.js';


/** Bytes of one append received and not yet written beyond which it stops pulling: its memory bound. */
const WRITE_BEHIND = 1024 * 1024;
/** Size of the staging buffers an append copies chunks into (less for a smaller upload). */
const STAGE_BYTES = 256 * 1024;

/** Options of {@link fileStore}. */
export interface FileStoreOptions {
  /** Folder for media, partial uploads and records; created if missing. @example { dataDir: './.ferry-data' } */
  readonly dataDir: string;
  /** SHA-256 implementation. Default: {@link nodeSha256}. */
  readonly createHasher?: CreateHasher;
  /**
   * A partial upload untouched for this long is removed by the start-up sweep (the hub sweeps it while
   * running). Give the hub's `partialTtlMs`. Default: 24 h. @example { partialTtlMs: 3_600_000 }
   */
  readonly partialTtlMs?: number;
  /** Time source of the start-up sweep; give the hub's clock. Default: `Date.now`. @example { now: clock.now } */
  readonly now?: () => number;
  /**
   * Bytes after which a long append makes its progress durable (fsync + record), so a crash in a single
   * 30 MiB request loses at most this much. Default: 8 MiB. @example { checkpointBytes: 1_048_576 }
   */
  readonly checkpointBytes?: number;
  /**
   * Bytes per chunk yielded by `read`: the most a download holds of the file at once, twice (the chunk in
   * hand and the one read ahead). Default: 256 KiB, one read per WebSocket data frame (decision 129).
   */
  readonly readChunkSize?: number;
}

/** The durable store. */
export interface FileStore extends MediaStore {
  readonly dataDir: string;
  /** What the start-up sweep found, for the server to log. */
  readonly recovered: readonly Recovered[];
  /**
   * Waits for running operations and refuses new ones. An append waits for its chunks, so abort
   * requests first. Idempotent.
   */
  close(): Promise<void>;
  /**
   * Proves the store writable: writes a small file where uploads write, fsyncs it and removes it. Rejects
   * (`Unknown`, with the errno) when the folder is gone, read-only or full, or the store is closed.
   */
  probe(): Promise<void>;
}

/** An upload receiving bytes in this process: the running hash matches the first `offset` bytes of its part file. */
interface Receiving {
  readonly meta: MediaMeta;
  readonly hasher: Hasher;
  offset: number;
  /** The offset the record on disk holds (fsynced). */
  durable: number;
  /** The offset the latest recording of progress, running or done, makes durable: `durable ≤ recording ≤ offset`. */
  recording: number;
  updatedAt: number;
  phase: 'idle' | 'appending';
  /** The background recording of progress in flight, if any (see `settle`). */
  settling?: Promise<void> | undefined;
  /** Progress arrived while `settling` ran: record again when it ends. */
  unsettled?: boolean;
  /** Recording progress failed: the bytes past `durable` may be lost, so the upload reloads from its record. */
  lost?: unknown;
}

/** A media file from `offset` in chunks of its own (a read stream's). */
async function* readStream(path: string, offset: number, signal: AbortSignal | undefined, chunkSize: number): AsyncIterable<Uint8Array> {
  const stream = createReadStream(path, { start: offset, highWaterMark: chunkSize });
  try {
    for await (const chunk of stream) {
      throwIfAborted(signal);
      yield chunk as Buffer;
    }
  } finally {
    stream.destroy();
  }
}

/**
 * The bytes `offset` to `end` of a media file, each chunk read into the buffer `into` lends
 * (`MediaStore.read`; decision 135); fewer if the file is shorter.
 */
async function* readInto(path: string, offset: number, end: number, into: ReadInto, signal: AbortSignal | undefined, chunkSize: number): AsyncIterable<Uint8Array> {
  const file = await open(path, 'r');
  try {
    for (let position = offset; position < end; ) {
      throwIfAborted(signal);
      const target = into(Math.min(chunkSize, end - position));
      if (target.length === 0) throw new RangeError('a read was lent an empty buffer');
      const { bytesRead } = await file.read(target, 0, Math.min(target.length, end - position), position);
      if (bytesRead === 0) return;
      position += bytesRead;
      yield target.subarray(0, bytesRead);
    }
  } finally {
    await file.close();
  }
}

/**
 * Opens (creating if needed) a durable store in `dataDir` and sweeps what a crash left behind.
 * @example
 * const store = await fileStore({ dataDir: '/var/lib/ferry' });
 * const hub = createHub({ store });
 */
export const fileStore = async (options: FileStoreOptions): Promise<FileStore> => {
  const createHasher = options.createHasher ?? nodeSha256;
  const partialTtlMs = options.partialTtlMs ?? DEFAULT_PARTIAL_TTL_MS;
  const now = options.now ?? Date.now;
  const checkpointBytes = options.checkpointBytes ?? 8 * 1024 * 1024;
  const readChunkSize = options.readChunkSize ?? 256 * 1024;
  for (const [name, value] of Object.entries({ partialTtlMs, checkpointBytes, readChunkSize })) {
    if (!(value > 0 && Number.isFinite(value))) throw new RangeError(`${name} must be a positive number, got ${String(value)}`);
  }
  const folders = { parts: join(options.dataDir, 'parts'), media: join(options.dataDir, 'media'), meta: join(options.dataDir, 'meta') };
  for (const folder of Object.values(folders)) await mkdir(folder, { recursive: true, mode: 0o700 });

  /** Every path is built here, from an ID checked here. */
  const checked = (mediaId: string): string => {
    if (!isMediaId(mediaId)) throw fault(Failure.invalidArgument('mediaId', `malformed media ID ${describeUntrusted(mediaId)}`));
    return mediaId;
  };
  const partPath = (id: string) => join(folders.parts, `${checked(id)}.part`);
  const mediaPath = (id: string) => join(folders.media, checked(id));
  const recordPath = (id: string) => join(folders.meta, `${checked(id)}.json`);

  const records = recordsIn(folders.meta, recordPath);
  const readRecord = records.read;
  const writeRecord = records.write;

  const receiving = new Map<string, Receiving>();
  // Record writes, completion and deletion of one ID run one at a time; appends stream outside the lock
  // and take it only to record progress, so a delete never waits for a stalled upload.
  const exclusive = keyedQueue();

  const hashFile = async (path: string, length: number): Promise<Hasher> => {
    const hasher = createHasher();
    let seen = 0;
    if (length > 0) {
      for await (const chunk of createReadStream(path, { start: 0, end: length - 1, highWaterMark: readChunkSize })) {
        hasher.update(chunk as Buffer);
        seen += (chunk as Buffer).length;
      }
    }
    if (seen !== length) throw fault(Failure.unknown(`${path} has ${seen} of ${length} bytes`));
    return hasher;
  };

  const partialRecord = ({ meta, offset, updatedAt }: Receiving): Sidecar => ({
    version: 1,
    mediaId: meta.mediaId,
    size: meta.size,
    fileName: meta.fileName,
    uploader: meta.uploader,
    createdAt: meta.createdAt,
    state: 'partial',
    offset,
    updatedAt,
  });

  /** The upload of `id` in this process, loaded from disk after a restart. Call under the lock. */
  const load = async (id: string): Promise<Receiving> => {
    const live = receiving.get(id);
    if (live) return live;
    const record = await readRecord(id);
    if (record.kind !== 'ok') throw fault(Failure.notExist(`upload ${id}`));
    const { sidecar } = record;
    if (sidecar.state === 'complete') throw fault(Failure.conflict(`upload ${id} is complete`));
    const length = await sizeOf(partPath(id));
    if (length === undefined || length < sidecar.offset) throw fault(Failure.notExist(`upload ${id} (part file missing or short)`));
    // Bytes past the recorded offset were never made durable: the client sends them again.
    if (length > sidecar.offset) await truncate(partPath(id), sidecar.offset);
    const { offset, updatedAt } = sidecar;
    const upload: Receiving = { meta: entryOf(sidecar).meta, hasher: await hashFile(partPath(id), offset), offset, durable: offset, recording: offset, updatedAt, phase: 'idle' };
    receiving.set(id, upload);
    return upload;
  };

  /** Makes an upload's offset durable: the part file is cut and fsynced to it, then the record says so. */
  const checkpoint = (id: string, upload: Receiving, handle: FileHandle): Promise<void> =>
    exclusive(id, async () => {
      if (receiving.get(id) !== upload) return; // deleted meanwhile: its record must not come back
      try {
        await handle.truncate(upload.offset);
        await handle.datasync();
        await writeRecord(partialRecord(upload));
        upload.durable = upload.offset;
      } catch (error) {
        // The next append reloads the upload from the last durable record.
        receiving.delete(id);
        throw error;
      }
    });

  /**
   * Records an upload's progress in the background: fsyncs the part file, then (under the lock, and only
   * forward) writes the record with the offset reached before the fsync began. One runs per upload at a
   * time; progress made meanwhile is recorded when it ends. If it fails, the bytes past the last record
   * may not be on disk: the upload is forgotten (`lost`), so its append stops with `Conflict` and the
   * next request reloads it from the record, at the offset the client then resends from.
   */
  const settle = (id: string, upload: Receiving): void => {
    if (upload.settling) {
      upload.unsettled = true;
      return;
    }
    const target = upload.offset;
    upload.recording = target;
    const run = async (): Promise<void> => {
      const handle = await open(partPath(id), 'r');
      try {
        await handle.datasync();
      } finally {
        await handle.close();
      }
      await exclusive(id, async () => {
        if (receiving.get(id) !== upload || upload.durable >= target) return;
        await writeRecord(partialRecord({ ...upload, offset: target }));
        upload.durable = target;
      });
    };
    const settling = run()
      .catch((error: unknown) => {
        // Completed, terminated or swept meanwhile (the part file moved or went): nothing to record.
        if (receiving.get(id) !== upload) return;
        receiving.delete(id);
        upload.lost = error;
      })
      .finally(() => {
        upload.settling = undefined;
        if (upload.unsettled && upload.lost === undefined && receiving.get(id) === upload) {
          upload.unsettled = false;
          if (upload.offset > upload.durable) settle(id, upload);
        }
      });
    upload.settling = settling;
    track(settling);
  };

  /** Writes the complete record of media whose bytes are in `media/`. */
  const markComplete = async (sidecar: Sidecar, sha256: string, completedAt: number): Promise<StoredEntry & { state: 'complete' }> => {
    const { version, mediaId, size, fileName, uploader, createdAt, updatedAt } = sidecar;
    const complete = { version, mediaId, size, fileName, uploader, createdAt, updatedAt, state: 'complete' as const, sha256, completedAt };
    await writeRecord(complete);
    return entryOf(complete) as StoredEntry & { state: 'complete' };
  };

  let state: 'open' | 'closed' = 'open';
  const running = new Set<Promise<unknown>>();
  /** Keeps `close()` waiting for `operation`. */
  const track = (operation: Promise<unknown>): void => {
    running.add(operation);
    void operation.then(
      () => running.delete(operation),
      () => running.delete(operation),
    );
  };
  /** Every public operation: refused after close, tracked for close, I/O errors turned into failures. */
  const guarded = <T>(what: string, run: () => Promise<T>): Promise<T> => {
    if (state === 'closed') return Promise.reject(fault(Failure.unknown('the file store is closed')));
    const operation = (async () => run())().catch((error: unknown) => {
      if (error instanceof FaultError) throw error;
      const errno = errnoOf(error);
      // A full disk (or quota) is its own failure: the server answers 507 and stays up; bytes so far stay.
      if (errno === 'ENOSPC' || errno === 'EDQUOT') throw fault(Failure.insufficientStorage(`no space left on the disk of the data folder (${what}: ${errno})`), error);
      throw fault(Failure.unknown(`file store: ${what}: ${errnoOf(error) ?? (error instanceof Error ? error.message : String(error))}`), error);
    });
    track(operation);
    return operation;
  };

  const store: Omit<FileStore, 'recovered'> = {
    dataDir: options.dataDir,
    create: (meta, at) =>
      guarded('create', () =>
        exclusive(checked(meta.mediaId), async () => {
          const id = meta.mediaId;
          const upload: Receiving = { meta, hasher: createHasher(), offset: 0, durable: 0, recording: 0, updatedAt: at, phase: 'idle' };
          const sidecar = partialRecord(upload);
          if (!SidecarCodec.is(sidecar)) throw fault(Failure.invalidArgument('meta', 'cannot be recorded'));
          if ((await readRecord(id)).kind !== 'missing' || (await sizeOf(mediaPath(id))) !== undefined) {
            throw fault(Failure.conflict(`media ${id} exists`));
          }
          const handle = await open(partPath(id), 'wx', 0o600).catch((error: unknown) => {
            throw errnoOf(error) === 'EEXIST' ? fault(Failure.conflict(`upload ${id} exists`), error) : error;
          });
          try {
            await handle.close();
            await fsyncFolder(folders.parts);
            await writeRecord(sidecar);
          } catch (error) {
            await removeFile(partPath(id));
            throw error;
          }
          receiving.set(id, upload);
        }),
      ),

    append: (mediaId, offset, chunks, { signal, now: clock, onAppended, owned }) =>
      guarded('append', async () => {
        const id = checked(mediaId);
        throwIfAborted(signal);
        const upload = await exclusive(id, () => load(id));
        if (upload.phase === 'appending') throw fault(Failure.conflict(`upload ${id} is receiving bytes from another request`));
        if (offset !== upload.offset) throw fault(Failure.conflict(`offset ${offset} is not the upload's offset ${upload.offset}`));
        upload.phase = 'appending';
        const handle = await open(partPath(id), 'r+').catch((error: unknown) => {
          upload.phase = 'idle';
          throw errnoOf(error) === 'ENOENT' ? fault(Failure.notExist(`upload ${id}`), error) : error;
        });
        const iterator = chunks[Symbol.asyncIterator]();
        let exhausted = false;
        // Writes run behind the receiving; the offset (and progress) moves only as bytes reach the file.
        // Chunks are kept until written; a source that may reuse its buffers has them copied (staged).
        const behind = writeBehind(handle, {
          position: upload.offset,
          limit: WRITE_BEHIND,
          ...(owned ? {} : { stage: Math.max(1, Math.min(STAGE_BYTES, upload.meta.size - upload.offset)) }),
          onWritten: (bytes) => {
            upload.offset += bytes;
            upload.updatedAt = clock();
            onAppended?.(upload.offset);
            if (upload.offset - upload.recording >= checkpointBytes) settle(id, upload);
          },
        });
        /** Waits for every write; a failed one leaves the hash ahead of the file, so the upload is forgotten
         * and the next append reloads it from the last durable record (the client resumes from there). */
        const drained = () =>
          behind.drained().catch((error: unknown) => {
            if (receiving.get(id) === upload) receiving.delete(id);
            throw error;
          });
        try {
          try {
            for (;;) {
              // Racing the signal: a source that ignores it still cannot keep this append alive. Racing the
              // writes: a failed one ends the append at once, not at the next chunk.
              const pulled = iterator.next();
              const next = await behind.race(signal ? abortable(pulled, signal) : pulled);
              if (next.done) {
                exhausted = true;
                break;
              }
              throwIfAborted(signal);
              if (upload.lost !== undefined) throw fault(Failure.conflict(`upload ${id}: recording progress failed; resume from its offset`), upload.lost);
              // Deleted (terminated, swept) while waiting for this chunk.
              if (receiving.get(id) !== upload) throw fault(Failure.notExist(`upload ${id}`));
              const chunk = next.value;
              upload.hasher.update(chunk);
              await behind.write(chunk);
            }
            await drained();
          } catch (error) {
            // Keep what arrived for a resume: what was written (no write may run during the checkpoint).
            await drained().catch(() => undefined);
            await checkpoint(id, upload, handle).catch((teardown: unknown) => {
              throw fault(failureOf(error), new AggregateError([error, teardown], 'append failed, then recording its progress failed'));
            });
            throw error;
          }
          // Complete uploads are made durable by `complete()`, which the hub calls next.
          if (upload.offset < upload.meta.size && upload.offset > upload.recording) settle(id, upload);
          return upload.offset;
        } finally {
          upload.phase = 'idle';
          await handle.close();
          // The source is not ours to await: after an abort its pending `next()` may never settle.
          if (!exhausted) iterator.return?.().catch(() => undefined);
        }
      }),

    complete: (mediaId, at) =>
      guarded('complete', () =>
        exclusive(checked(mediaId), async () => {
          const id = mediaId;
          const record = await readRecord(id);
          if (record.kind === 'ok' && record.sidecar.state === 'complete') return entryOf(record.sidecar) as StoredEntry & { state: 'complete' };
          const upload = await load(id);
          if (upload.phase === 'appending') throw fault(Failure.conflict(`upload ${id} is receiving bytes`));
          if (upload.offset !== upload.meta.size) throw fault(Failure.conflict(`upload ${id} has ${upload.offset} of ${upload.meta.size} bytes`));
          const handle = await open(partPath(id), 'r+');
          try {
            await handle.sync();
          } finally {
            await handle.close();
          }
          // The digest consumes the hasher: from here this upload is reloaded from disk if anything fails.
          receiving.delete(id);
          const sha256 = upload.hasher.digest();
          await rename(partPath(id), mediaPath(id));
          try {
            await fsyncFolder(folders.media);
            await fsyncFolder(folders.parts);
            return await markComplete(partialRecord(upload), sha256, at);
          } catch (error) {
            // If the complete record did not land, the media is not visible: put the bytes back so the
            // upload stays a consistent partial one (a crash instead of this error is rolled forward by
            // recovery, which is equally consistent). If it landed, only a folder fsync failed: keep it.
            const landed = await readRecord(id).then((r) => r.kind === 'ok' && r.sidecar.state === 'complete');
            if (!landed) {
              await rename(mediaPath(id), partPath(id)).catch((teardown: unknown) => {
                throw fault(failureOf(error), new AggregateError([error, teardown], 'completing failed, then restoring the part file failed'));
              });
            }
            throw error;
          }
        }),
      ),

    stat: (mediaId) =>
      guarded('stat', async () => {
        if (!isMediaId(mediaId)) return undefined;
        const record = await readRecord(mediaId);
        return record.kind === 'ok' ? entryOf(record.sidecar, receiving.get(mediaId)) : undefined;
      }),

    async *read(mediaId, offset, signal, into) {
      const id = checked(mediaId);
      if (!(Number.isSafeInteger(offset) && offset >= 0)) throw fault(Failure.invalidArgument('offset', `expected a byte offset, got ${offset}`));
      throwIfAborted(signal);
      const record = await guarded('read', () => readRecord(id));
      if (record.kind !== 'ok' || record.sidecar.state !== 'complete') throw fault(Failure.notExist(`media ${id}`));
      if (offset >= record.sidecar.size) return;
      try {
        yield* into === undefined ? readStream(mediaPath(id), offset, signal, readChunkSize) : readInto(mediaPath(id), offset, record.sidecar.size, into, signal, readChunkSize);
      } catch (error) {
        if (error instanceof FaultError) throw error;
        throw errnoOf(error) === 'ENOENT' ? fault(Failure.notExist(`media ${id}`), error) : fault(Failure.unknown(`file store: read: ${errnoOf(error)}`), error);
      }
    },

    delete: (mediaId) =>
      guarded('delete', async () => {
        if (!isMediaId(mediaId)) return undefined;
        return exclusive(mediaId, async () => {
          receiving.delete(mediaId);
          const record = await readRecord(mediaId);
          // The record goes first and durably: bytes without a record are orphans that recovery removes.
          await removeFile(recordPath(mediaId));
          await fsyncFolder(folders.meta);
          await removeFile(partPath(mediaId));
          await removeFile(mediaPath(mediaId));
          return record.kind === 'ok' ? record.sidecar.state : undefined;
        });
      }),

    async *list() {
      const names = await guarded('list', () => readdir(folders.meta));
      for (const name of names) {
        const id = name.endsWith('.json') ? name.slice(0, -'.json'.length) : '';
        if (!isMediaId(id)) continue;
        const entry = await store.stat(id);
        if (entry) yield entry;
      }
    },

    freeBytes: () =>
      guarded('statfs', async () => {
        const stats = await statfs(options.dataDir);
        return stats.bavail * stats.bsize;
      }),

    probe: () =>
      guarded('probe', async () => {
        // Not a media ID, so recovery never mistakes a probe left by a crash for an upload.
        const path = join(folders.parts, `.probe-${process.pid}-${Math.random().toString(36).slice(2)}`);
        const handle = await open(path, 'wx', 0o600);
        try {
          await handle.write(Buffer.from('ferry readiness probe\n'));
          await handle.sync();
        } finally {
          await handle.close();
          await removeFile(path);
        }
      }),

    async close() {
      state = 'closed';
      await Promise.allSettled([...running]);
    },
  };

  const recovered = await recoverStore({ folders, partPath, mediaPath, recordPath, records, hashFile, markComplete, now, partialTtlMs });
  return { ...store, recovered };
};
