/**
 * The records of the durable file store (`meta/<id>.json`): their io-ts codec, and reading and writing
 * them. A record is decoded whenever it is read; one that does not decode reads as `corrupt`, never as a
 * crash. Writes are atomic and durable (temp file, fsync, rename, folder fsync).
 * @module
 */
import { randomBytes } from 'node:crypto';
import { open, readFile, rename } from 'node:fs/promises';
import { join } from 'node:path';
import * as E from 'fp-ts/lib/Either.js';
import * as t from 'io-ts';
import { MediaId, reportErrors, WellFormedString } from '../protocol/codec.js';
import type { MediaMeta, StoredEntry } from '../hub/media-store.js';
import { MAX_FILE_SIZE } from '../core/limits.js';
import { fsyncFolder, ifMissing, removeFile } from '../platform/node-fs.js';

const ByteCount = new t.Type<number, number, unknown>(
  'ByteCount',
  (u): u is number => typeof u === 'number' && Number.isSafeInteger(u) && u >= 0 && u <= MAX_FILE_SIZE,
  (u, c) => (typeof u === 'number' && Number.isSafeInteger(u) && u >= 0 && u <= MAX_FILE_SIZE ? t.success(u) : t.failure(u, c)),
  t.identity,
);
// Any finite time: a custom clock need not return integers, and a record must never fail on that.
const Time = new t.Type<number, number, unknown>(
  'Time',
  (u): u is number => typeof u === 'number' && Number.isFinite(u),
  (u, c) => (typeof u === 'number' && Number.isFinite(u) ? t.success(u) : t.failure(u, c)),
  t.identity,
);
const Sha256Hex = new t.Type<string, string, unknown>(
  'Sha256Hex',
  (u): u is string => typeof u === 'string' && /^[0-9a-f]{64}$/.test(u),
  (u, c) => (typeof u === 'string' && /^[0-9a-f]{64}$/.test(u) ? t.success(u) : t.failure(u, c, 'expected lowercase hex SHA-256')),
  t.identity,
);
const recordFields = {
  version: t.literal(1),
  mediaId: MediaId,
  size: ByteCount,
  fileName: WellFormedString,
  uploader: WellFormedString,
  createdAt: Time,
  updatedAt: Time,
};
/** The record of one upload or media item, as stored in `meta/<id>.json`. */
export const SidecarCodec = t.union([
  t.type({ ...recordFields, state: t.literal('partial'), offset: ByteCount }),
  t.type({ ...recordFields, state: t.literal('complete'), sha256: Sha256Hex, completedAt: Time }),
]);
/** A decoded record. */
export type Sidecar = t.TypeOf<typeof SidecarCodec>;

/** What reading a record found. */
export type RecordRead = { readonly kind: 'missing' } | { readonly kind: 'corrupt'; readonly detail: string } | { readonly kind: 'ok'; readonly sidecar: Sidecar };

/** The store's view of a record: what `stat` and `list` report; `live` overrides a partial one's progress. */
export const entryOf = (sidecar: Sidecar, live?: { readonly offset: number; readonly updatedAt: number }): StoredEntry => {
  const meta: MediaMeta = {
    mediaId: sidecar.mediaId,
    size: sidecar.size,
    fileName: sidecar.fileName,
    uploader: sidecar.uploader,
    createdAt: sidecar.createdAt,
  };
  return sidecar.state === 'complete'
    ? { state: 'complete', meta, sha256: sidecar.sha256, completedAt: sidecar.completedAt }
    : { state: 'partial', meta, offset: live?.offset ?? sidecar.offset, updatedAt: live?.updatedAt ?? sidecar.updatedAt };
};

/**
 * The records kept in `folder`, each at `pathOf(id)` (which checks the ID).
 * @example
 * const records = recordsIn(join(dataDir, 'meta'), (id) => join(dataDir, 'meta', `${id}.json`));
 */
export const recordsIn = (folder: string, pathOf: (id: string) => string) => ({
  /** The record of `id`: missing, corrupt (with why), or decoded. */
  read: async (id: string): Promise<RecordRead> => {
    const text = await readFile(pathOf(id), 'utf8').catch(ifMissing(undefined));
    if (text === undefined) return { kind: 'missing' };
    let json: unknown;
    try {
      json = JSON.parse(text);
    } catch (error) {
      return { kind: 'corrupt', detail: `not JSON (${error instanceof Error ? error.message : String(error)})` };
    }
    const decoded = SidecarCodec.decode(json);
    if (E.isLeft(decoded)) return { kind: 'corrupt', detail: reportErrors(decoded.left) };
    const sidecar = decoded.right;
    if (sidecar.mediaId !== id) return { kind: 'corrupt', detail: `record names ${sidecar.mediaId}` };
    if (sidecar.state === 'partial' && sidecar.offset > sidecar.size) return { kind: 'corrupt', detail: 'offset beyond size' };
    return { kind: 'ok', sidecar };
  },

  /** Replaces the record atomically and durably: temp file, fsync, rename, folder fsync. */
  write: async (sidecar: Sidecar): Promise<void> => {
    const final = pathOf(sidecar.mediaId);
    const temp = join(folder, `.${sidecar.mediaId}.${randomBytes(6).toString('hex')}.tmp`);
    const handle = await open(temp, 'wx', 0o600);
    try {
      try {
        await handle.writeFile(JSON.stringify(SidecarCodec.encode(sidecar)));
        await handle.sync();
      } finally {
        await handle.close();
      }
      await rename(temp, final);
    } catch (error) {
      await removeFile(temp);
      throw error;
    }
    await fsyncFolder(folder);
  },
});
