/**
 * What the S3 media store keeps besides bytes, and where: the object keys of one entry, the record of a
 * partial upload (a small JSON object, replaced by compare-and-set) and the record of complete media
 * (user metadata of the media object itself, so the two cannot diverge). Every record is decoded with
 * io-ts whenever it is read; one that does not decode reads as corrupt, never as a crash (decision 89).
 * @module
 */
import * as E from 'fp-ts/lib/Either.js';
import * as t from 'io-ts';
import { fromBase64Url, toBase64Url, utf8, utf8Length } from '../core/bytes.js';
import type { MediaMeta, StoredEntry } from '../hub/media-store.js';
import { MediaId, reportErrors, WellFormedString } from '../protocol/codec.js';

/** S3's smallest part but the last, and the store's default part size. */
export const MIN_PART_SIZE = 5 * 1024 * 1024;
/** S3's largest part number. */
export const MAX_PARTS = 10_000;
/**
 * File names up to this many UTF-8 bytes ride in the media object's metadata; longer ones (the hub
 * allows 32 KiB) go to their own object. S3 allows 2 KB of user metadata per object, and base64url
 * grows the record by a third: ~300 bytes of other fields plus 1 KiB of name stays under it.
 */
export const INLINE_NAME_BYTES = 1024;
/** The user-metadata key of the media record (S3 sends it as `x-amz-meta-ferry-record`). */
export const RECORD_METADATA_KEY = 'ferry-record';

/**
 * The object keys of the store under `prefix`. IDs are checked by the caller (media IDs are URL-safe).
 * - `media/<id>`: complete media, its record in user metadata;
 * - `names/<id>`: the file name of media whose name is too long for metadata (written before the media);
 * - `uploads/<id>/record.json`: a partial upload's record; `uploads/<id>/tail-<tag>`: its tail, the bytes
 *   after its last part; `uploads/<id>/staging`: where its multipart upload completes;
 * - `deleting/<id>`: the marker a deletion holds while it removes an entry;
 * - `probes/<tag>`: what a readiness probe writes and removes.
 */
export const keysOf = (prefix: string) => ({
  prefix,
  mediaFolder: `${prefix}media/`,
  uploadsFolder: `${prefix}uploads/`,
  media: (id: string) => `${prefix}media/${id}`,
  name: (id: string) => `${prefix}names/${id}`,
  uploads: (id: string) => `${prefix}uploads/${id}/`,
  record: (id: string) => `${prefix}uploads/${id}/record.json`,
  staging: (id: string) => `${prefix}uploads/${id}/staging`,
  tail: (id: string, tag: string) => `${prefix}uploads/${id}/tail-${tag}`,
  deleting: (id: string) => `${prefix}deleting/${id}`,
  probe: (tag: string) => `${prefix}probes/${tag}`,
});
/** The keys of one store. */
export type Keys = ReturnType<typeof keysOf>;

const ByteCount = new t.Type<number, number, unknown>(
  'ByteCount',
  (u): u is number => typeof u === 'number' && Number.isSafeInteger(u) && u >= 0,
  (u, c) => (typeof u === 'number' && Number.isSafeInteger(u) && u >= 0 ? t.success(u) : t.failure(u, c)),
  t.identity,
);
// Any finite time: a custom clock need not return integers, and a record must never fail on that.
const Time = new t.Type<number, number, unknown>(
  'Time',
  (u): u is number => typeof u === 'number' && Number.isFinite(u),
  (u, c) => (typeof u === 'number' && Number.isFinite(u) ? t.success(u) : t.failure(u, c)),
  t.identity,
);
const pattern = (name: string, regex: RegExp, message: string) =>
  new t.Type<string, string, unknown>(
    name,
    (u): u is string => typeof u === 'string' && regex.test(u),
    (u, c) => (typeof u === 'string' && regex.test(u) ? t.success(u) : t.failure(u, c, message)),
    t.identity,
  );
const Sha256Hex = pattern('Sha256Hex', /^[0-9a-f]{64}$/, 'expected lowercase hex SHA-256');
/** A tail's tag: random hex, so the key it names is built here, never taken from a record. */
const TailTag = pattern('TailTag', /^[0-9a-f]{16,64}$/, 'expected a hex tag');
/** An S3 ETag, unquoted (as RGW compares it in `If-Match`). */
const ETag = pattern('ETag', /^[0-9A-Za-z-]{1,128}$/, 'expected an unquoted ETag');

const metaFields = {
  mediaId: MediaId,
  size: ByteCount,
  fileName: WellFormedString,
  uploader: WellFormedString,
  createdAt: Time,
};

/**
 * The record of a partial upload (`uploads/<id>/record.json`). Its bytes are `parts` (of the multipart
 * upload `uploadId`, numbered from 1, each `partSize` bytes but a last one that ends the upload) then
 * `tail` (an object of fewer than `partSize` bytes; or, with no multipart upload, the whole upload once
 * it is complete). A part or tail the record does not name is an orphan of a crash: never counted.
 */
export const PartialRecordCodec = t.type({
  version: t.literal(1),
  ...metaFields,
  updatedAt: Time,
  partSize: ByteCount,
  uploadId: t.union([t.string, t.null]),
  parts: t.array(t.type({ etag: ETag, size: ByteCount })),
  tail: t.union([t.null, t.type({ tag: TailTag, size: ByteCount })]),
});
/** A decoded partial record. */
export type PartialRecord = t.TypeOf<typeof PartialRecordCodec>;

/** Bytes covered by a partial record: its offset. */
export const offsetOf = (record: PartialRecord): number => record.parts.reduce((sum, part) => sum + part.size, 0) + (record.tail?.size ?? 0);

/** Why a decoded partial record cannot describe an upload, or `undefined` if it can. */
const partialProblem = (record: PartialRecord): string | undefined => {
  const { parts, tail, partSize, size, uploadId } = record;
  if (partSize < MIN_PART_SIZE) return `part size ${partSize} is under 5 MiB`;
  const offset = offsetOf(record);
  if (offset > size) return `offset ${offset} beyond size ${size}`;
  if (parts.length > 0 && uploadId === null) return 'parts without a multipart upload';
  if (parts.length > MAX_PARTS) return 'too many parts';
  const short = parts.findIndex((part) => part.size !== partSize);
  // Only the last part may be short, and only when it ends the upload.
  if (short !== -1 && !(short === parts.length - 1 && offset === size && parts[short]!.size > 0)) return `part ${short + 1} has ${parts[short]!.size} bytes`;
  if (tail && parts.length > 0 && parts.at(-1)!.size !== partSize) return 'a tail after the last part';
  // A tail is less than a part, except the single object of a complete upload that never needed parts.
  if (tail && !(tail.size < partSize || (uploadId === null && tail.size === size && size <= partSize))) return `tail of ${tail.size} bytes`;
  return undefined;
};

/** What reading a record found. */
export type Read<T> = { readonly kind: 'missing' } | { readonly kind: 'corrupt'; readonly detail: string } | { readonly kind: 'ok'; readonly value: T };

/** Decodes the JSON text of `uploads/<id>/record.json`. */
export const decodePartial = (id: string, text: string): Read<PartialRecord> => {
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch (error) {
    return { kind: 'corrupt', detail: `not JSON (${error instanceof Error ? error.message : String(error)})` };
  }
  const decoded = PartialRecordCodec.decode(json);
  if (E.isLeft(decoded)) return { kind: 'corrupt', detail: reportErrors(decoded.left) };
  const record = decoded.right;
  if (record.mediaId !== id) return { kind: 'corrupt', detail: `record names ${record.mediaId}` };
  const problem = partialProblem(record);
  return problem === undefined ? { kind: 'ok', value: record } : { kind: 'corrupt', detail: problem };
};

/** The JSON text of a partial record. */
export const encodePartial = (record: PartialRecord): string => JSON.stringify(PartialRecordCodec.encode(record));

const mediaFields = {
  version: t.literal(1),
  size: ByteCount,
  uploader: WellFormedString,
  createdAt: Time,
  sha256: Sha256Hex,
  completedAt: Time,
};
/**
 * The record of complete media, in the user metadata of `media/<id>` (base64url JSON: S3 metadata is
 * ASCII). The file name is inline when short, otherwise in `names/<id>` with its SHA-256 here, so a name
 * object that does not match reads as corrupt.
 */
export const MediaRecordCodec = t.union([
  t.type({ ...mediaFields, fileName: WellFormedString }),
  t.type({ ...mediaFields, fileNameSha256: Sha256Hex }),
]);
/** A decoded media record. */
export type MediaRecord = t.TypeOf<typeof MediaRecordCodec>;

/** The user metadata carrying a media record. */
export const encodeMedia = (record: MediaRecord): Record<string, string> => ({
  [RECORD_METADATA_KEY]: toBase64Url(utf8(JSON.stringify(MediaRecordCodec.encode(record)))),
});

/** Decodes the user metadata of `media/<id>`. */
export const decodeMedia = (metadata: Readonly<Record<string, string>> | undefined): Read<MediaRecord> => {
  const encoded = metadata?.[RECORD_METADATA_KEY];
  if (encoded === undefined) return { kind: 'corrupt', detail: `no ${RECORD_METADATA_KEY} metadata` };
  const bytes = fromBase64Url(encoded);
  if (!bytes) return { kind: 'corrupt', detail: 'metadata is not base64url' };
  let json: unknown;
  try {
    json = JSON.parse(new TextDecoder('utf-8', { fatal: true }).decode(bytes));
  } catch (error) {
    return { kind: 'corrupt', detail: `not JSON (${error instanceof Error ? error.message : String(error)})` };
  }
  const decoded = MediaRecordCodec.decode(json);
  return E.isLeft(decoded) ? { kind: 'corrupt', detail: reportErrors(decoded.left) } : { kind: 'ok', value: decoded.right };
};

/** Whether a file name rides in the media object's metadata. */
export const nameIsInline = (fileName: string): boolean => utf8Length(fileName) <= INLINE_NAME_BYTES;

/** The entry of a partial record. */
export const partialEntry = (record: PartialRecord): StoredEntry & { state: 'partial' } => ({
  state: 'partial',
  meta: metaOf(record),
  offset: offsetOf(record),
  updatedAt: record.updatedAt,
});

/** The meta of a partial record. */
export const metaOf = (record: Pick<PartialRecord, keyof typeof metaFields>): MediaMeta => ({
  mediaId: record.mediaId,
  size: record.size,
  fileName: record.fileName,
  uploader: record.uploader,
  createdAt: record.createdAt,
});

/** The entry of complete media, given its record and its file name (inline or from `names/<id>`). */
export const completeEntry = (mediaId: string, record: MediaRecord, fileName: string): StoredEntry & { state: 'complete' } => ({
  state: 'complete',
  meta: { mediaId, size: record.size, fileName, uploader: record.uploader, createdAt: record.createdAt },
  sha256: record.sha256,
  completedAt: record.completedAt,
});
