/**
 * Crash recovery of the durable file store (`file-store.ts`), which states the invariants this restores.
 * @module
 */
import { readdir, truncate } from 'node:fs/promises';
import { join } from 'node:path';
import type { Hasher } from '../core/hash.js';
import { isMediaId } from '../core/ids.js';
import { fsyncFolder, removeFile, sizeOf } from '../platform/node-fs.js';
import type { recordsIn, Sidecar } from './store-records.js';

/** One thing the start-up sweep removed or repaired, and why. */
export interface Recovered {
  readonly mediaId: string;
  readonly action: 'removed' | 'completed' | 'truncated';
  readonly reason: string;
}

/** What recovery needs of the store: its folders and paths, its records, and two of its steps. */
export interface StoreLayout {
  readonly folders: { readonly parts: string; readonly media: string; readonly meta: string };
  readonly partPath: (id: string) => string;
  readonly mediaPath: (id: string) => string;
  readonly recordPath: (id: string) => string;
  readonly records: ReturnType<typeof recordsIn>;
  /** The running hash of the first `length` bytes of a file. */
  readonly hashFile: (path: string, length: number) => Promise<Hasher>;
  /** Writes the complete record of media whose bytes are in `media/`. */
  readonly markComplete: (sidecar: Sidecar, sha256: string, completedAt: number) => Promise<unknown>;
  readonly now: () => number;
  readonly partialTtlMs: number;
}

/**
 * The start-up sweep: removes what an interrupted create, write or delete left, rolls forward media
 * renamed into place before its record said so, truncates bytes past a partial upload's record, and
 * removes partial uploads untouched for longer than `partialTtlMs`. Runs before the store is handed out,
 * so nothing else touches the folders. Resolves with what it did, for the server to log.
 */
export const recoverStore = async (store: StoreLayout): Promise<Recovered[]> => {
  const { folders, partPath, mediaPath, recordPath, records, hashFile, markComplete, now, partialTtlMs } = store;
  const found: Recovered[] = [];
  const remove = async (id: string, reason: string): Promise<void> => {
    await removeFile(recordPath(id));
    await removeFile(partPath(id));
    await removeFile(mediaPath(id));
    found.push({ mediaId: id, action: 'removed', reason });
  };
  const ids = new Set<string>();
  const collect = async (folder: string, suffix: string): Promise<void> => {
    for (const name of await readdir(folder)) {
      const temp = /^\.([A-Za-z0-9_-]{22,64})\.[0-9a-f]+\.tmp$/.exec(name);
      if (folder === folders.meta && temp?.[1]) {
        await removeFile(join(folders.meta, name));
        found.push({ mediaId: temp[1], action: 'removed', reason: 'temporary record of an interrupted write' });
      } else if (name.endsWith(suffix) && isMediaId(name.slice(0, name.length - suffix.length))) {
        ids.add(name.slice(0, name.length - suffix.length));
      }
      // Anything else is not ours: left alone.
    }
  };
  await collect(folders.meta, '.json');
  await collect(folders.parts, '.part');
  await collect(folders.media, '');
  for (const id of ids) {
    const record = await records.read(id);
    const part = await sizeOf(partPath(id));
    const media = await sizeOf(mediaPath(id));
    if (record.kind === 'missing') {
      await remove(id, 'bytes without a record (interrupted create or delete)');
      continue;
    }
    if (record.kind === 'corrupt') {
      await remove(id, `record does not decode: ${record.detail}`);
      continue;
    }
    const { sidecar } = record;
    if (sidecar.state === 'complete') {
      if (media !== sidecar.size) await remove(id, 'complete record without its media file');
      else if (part !== undefined) {
        await removeFile(partPath(id));
        found.push({ mediaId: id, action: 'removed', reason: 'stray part file of complete media' });
      }
      continue;
    }
    if (part === undefined && media === sidecar.size) {
      // Crashed between the rename into media/ and the complete record: every byte is durable. The
      // time of the last byte was never recorded (the last append leaves that to `complete()`), so
      // retention counts from now: the media is kept at least as long as promised, never less.
      const hasher = await hashFile(mediaPath(id), sidecar.size);
      await markComplete(sidecar, hasher.digest(), now());
      await fsyncFolder(folders.parts);
      found.push({ mediaId: id, action: 'completed', reason: 'media file renamed but not yet recorded complete' });
      continue;
    }
    if (part === undefined || part < sidecar.offset) await remove(id, 'partial record whose part file is missing or shorter than recorded');
    else if (now() - sidecar.updatedAt >= partialTtlMs) await remove(id, 'partial upload untouched for longer than partialTtlMs');
    else {
      if (media !== undefined) await removeFile(mediaPath(id));
      if (part > sidecar.offset) {
        await truncate(partPath(id), sidecar.offset);
        found.push({ mediaId: id, action: 'truncated', reason: `${part - sidecar.offset} bytes past the recorded offset` });
      }
    }
  }
  if (found.length > 0) for (const folder of Object.values(folders)) await fsyncFolder(folder);
  return found;
};
