/**
 * The S3 media store: a `MediaStore` whose bytes and records live in an S3 bucket (Ceph RGW in the specs),
 * so that any node of a cluster can continue an upload another began, and serve any media (decisions 89, 90).
 *
 * Layout under `prefix` (`s3-records.ts`): `media/<id>` holds complete media with its record in user
 * metadata; `uploads/<id>/` holds a partial upload's record (`record.json`), its tail and the staging
 * object its multipart upload completes into; `deleting/<id>` marks a deletion in progress.
 *
 * Invariants:
 * - Media is visible only as `media/<id>`, which appears at once with its record (a copy with
 *   `MetadataDirective: REPLACE` from the completed staging object or the single tail object). `stat`
 *   prefers it over a partial record still there (a completion whose clean-up did not finish).
 * - A partial upload's offset is what its record names (`offsetOf`): parts, then a tail. The record is
 *   replaced only by compare-and-set on its ETag, after the bytes it adds are in S3, and an append
 *   acknowledges an offset only once the record holds it. Any node reads the offset from S3 alone.
 * - The SHA-256 is computed by the process that appended every byte from 0, as they were acknowledged;
 *   otherwise completion reads the assembled object back and hashes it before the media becomes visible.
 * - A deletion holds `deleting/<id>` (created only if absent, taken over after a minute) so that of two
 *   deletions at once, on any nodes, one alone reports what it removed. It removes the record first and
 *   the media last; a completion checks, after its copy, that the record is still there, and otherwise
 *   removes the media it made: a deletion racing a completion on another node leaves no media behind.
 * The append itself is in `s3-append.ts`, the S3 calls in `s3-objects.ts`, the bucket in `s3-bucket.ts`;
 * the other operations stay together here (past the ~300-line habit) because each one's ordering is
 * argued against the others' (stat's order of reads, completion against deletion).
 * @module
 */
import { keyedQueue } from '../core/keyed-queue.js';
import { createHash, randomBytes } from 'node:crypto';
import { S3Client } from '@aws-sdk/client-s3';
import { abortFault, throwIfAborted } from '../core/abort.js';
import { utf8 } from '../core/bytes.js';
import { Failure, FaultError, fault } from '../core/failure.js';
import type { CreateHasher } from '../core/hash.js';
import { isMediaId } from '../core/ids.js';
import { DEFAULT_PARTIAL_TTL_MS, DEFAULT_RETENTION_MS } from '../core/limits.js';
import { describeUntrusted } from '../core/untrusted.js';
import type { MediaStore, StoredEntry } from '../hub/media-store.js';
import { appendToS3, type RunningHash } from './s3-append.js';
import { ensureBucket, lifecycleRules } from './s3-bucket.js';
import { s3Fault } from './s3-faults.js';
import { objectsOf } from './s3-objects.js';
import {
  completeEntry,
  decodeMedia,
  decodePartial,
  encodeMedia,
  encodePartial,
  keysOf,
  type MediaRecord,
  MIN_PART_SIZE,
  nameIsInline,
  offsetOf,
  type PartialRecord,
  PartialRecordCodec,
  partialEntry,
} from './s3-records.js';

/** SHA-256 from `node:crypto` (the platform layer's `nodeSha256`, which this layer may not import). */
const nodeCryptoSha256: CreateHasher = () => {
  const hash = createHash('sha256');
  return {
    update: (bytes) => {
      hash.update(bytes);
    },
    digest: () => hash.digest('hex'),
  };
};

/** Running hashes kept per process at most: an evicted one only costs a read-back at completion. */
const MAX_RUNNING_HASHES = 10_000;
/** A deletion marker older than this (on the store's clock) was left by a crash and is taken over. */
const MARKER_STALE_MS = 60_000;
/** The user-metadata key of a deletion marker's time. */
const MARKER_AT = 'ferry-at';

/**
 * Timeouts of every S3 request, so an unreachable store fails in seconds rather than hanging. A request
 * is tried twice (the SDK's retry, for timeouts, resets and 5xx answers), so a store that accepts
 * connections and never answers fails an operation after about twice `idleMs`.
 */
export interface S3Timeouts {
  /** To establish a connection. Default: 3,000 ms. @example { connectMs: 1_000 } */
  readonly connectMs?: number;
  /** Of silence on a connection, also while a response body is read. Default: 10,000 ms. */
  readonly idleMs?: number;
  /** From sending a request (its body included) to its response's headers. Default: 30,000 ms. */
  readonly requestMs?: number;
}

/** Attempts per S3 request (the SDK's standard retry: timeouts, resets, 5xx and throttling). */
const ATTEMPTS = 2;

/** Options of {@link s3Store}. */
export interface S3StoreOptions {
  /** The S3 endpoint. @example { endpoint: 'http://127.0.0.1:7480' } */
  readonly endpoint: string;
  /** The bucket; `ensureBucket()` creates it if missing. @example { bucket: 'ferry-media' } */
  readonly bucket: string;
  /** The region requests are signed for. Default: `'us-east-1'`. */
  readonly region?: string;
  readonly accessKeyId: string;
  readonly secretAccessKey: string;
  /** Path-style addressing (`endpoint/bucket/key`), which RGW and most S3-compatible stores want. Default: `true`. */
  readonly forcePathStyle?: boolean;
  /** Prepended to every object key, so several stores can share a bucket. Default: `''`. @example { prefix: 'ferry/' } */
  readonly prefix?: string;
  /**
   * Size of every multipart part but the last, at least 5 MiB (S3's minimum); also what one append
   * buffers at most. A partial upload keeps the part size it was created with. Default: 5 MiB.
   * @example { partSize: 8 * 1024 * 1024 }
   */
  readonly partSize?: number;
  /** The hub's clock, for deletion markers. Default: `Date.now`. @example { now: () => clock.now() } */
  readonly now?: () => number;
  /** A client to share (then the store neither configures nor destroys it). Default: one made from the options above. */
  readonly client?: S3Client;
  /** SHA-256 implementation. Default: `node:crypto`. */
  readonly createHasher?: CreateHasher;
  /** The hub's retention, for the lifecycle rule that backs up the sweeper. Default: 7 days. */
  readonly retentionMs?: number;
  /** The hub's unfinished-upload TTL, for the lifecycle rule. Default: 24 h. */
  readonly partialTtlMs?: number;
  /** Request timeouts (ignored with `client`). */
  readonly timeouts?: S3Timeouts;
  /** How long `probe()` may take. Default: 5,000 ms. */
  readonly probeTimeoutMs?: number;
  /**
   * An append holding bytes this long (on the append's clock) without acknowledging any stages them as
   * the tail, so a slow sender sees progress and keeps its claim. Default: 15,000 ms.
   */
  readonly checkpointMs?: number;
}

/** The S3 media store. */
export interface S3Store extends MediaStore {
  readonly bucket: string;
  readonly prefix: string;
  /**
   * Proves the bucket reachable and writable (writes and removes a small object under `probes/`), within
   * `probeTimeoutMs`. Rejects with `Network` ("the S3 store at … is unreachable") or `Unknown` (refused).
   */
  probe(): Promise<void>;
  /**
   * Creates the bucket if missing and puts the store's lifecycle rules (decision 89), keeping the
   * bucket's other rules. Run once at start-up; idempotent.
   */
  ensureBucket(): Promise<void>;
  /** Waits for running operations and refuses new ones; destroys the client it made. Idempotent. */
  close(): Promise<void>;
}

/**
 * A media store in an S3 bucket.
 * @example
 * const store = s3Store({ endpoint: 'http://127.0.0.1:7480', bucket: 'ferry', accessKeyId, secretAccessKey, now: () => clock.now() });
 * await store.ensureBucket();
 * const hub = createHub({ store, clock });
 */
export const s3Store = (options: S3StoreOptions): S3Store => {
  const { endpoint, bucket } = options;
  const prefix = options.prefix ?? '';
  const partSize = options.partSize ?? MIN_PART_SIZE;
  const now = options.now ?? Date.now;
  const createHasher = options.createHasher ?? nodeCryptoSha256;
  const retentionMs = options.retentionMs ?? DEFAULT_RETENTION_MS;
  const partialTtlMs = options.partialTtlMs ?? DEFAULT_PARTIAL_TTL_MS;
  const probeTimeoutMs = options.probeTimeoutMs ?? 5_000;
  const checkpointMs = options.checkpointMs ?? 15_000;
  if (!(Number.isSafeInteger(partSize) && partSize >= MIN_PART_SIZE)) throw new RangeError(`partSize must be a whole number of at least 5 MiB, got ${String(partSize)}`);
  for (const [name, value] of Object.entries({ retentionMs, partialTtlMs, probeTimeoutMs, checkpointMs })) {
    if (!(typeof value === 'number' && value > 0)) throw new RangeError(`${name} must be a positive number, got ${String(value)}`);
  }
  const timeouts = options.timeouts ?? {};
  const client =
    options.client ??
    new S3Client({
      endpoint,
      region: options.region ?? 'us-east-1',
      forcePathStyle: options.forcePathStyle ?? true,
      credentials: { accessKeyId: options.accessKeyId, secretAccessKey: options.secretAccessKey },
      maxAttempts: ATTEMPTS,
      requestHandler: {
        connectionTimeout: timeouts.connectMs ?? 3_000,
        socketTimeout: timeouts.idleMs ?? 10_000,
        requestTimeout: timeouts.requestMs ?? 30_000,
        throwOnRequestTimeout: true,
      },
    });
  const objects = objectsOf({ client, bucket, endpoint });
  const keys = keysOf(prefix);

  const checked = (mediaId: string): string => {
    if (!isMediaId(mediaId)) throw fault(Failure.invalidArgument('mediaId', `malformed media ID ${describeUntrusted(mediaId)}`));
    return mediaId;
  };

  /** Running hashes by upload, oldest first (a `Map` keeps insertion order). */
  const hashes = new Map<string, RunningHash>();
  const remember = (id: string, hash: RunningHash): void => {
    hashes.delete(id);
    hashes.set(id, hash);
    if (hashes.size > MAX_RUNNING_HASHES) hashes.delete(hashes.keys().next().value as string);
  };
  /** Appends running in this process, each with the controller a deletion aborts. */
  const appending = new Map<string, AbortController>();

  // Completion and deletion of one ID run one at a time in this process; across processes the record's
  // compare-and-set and the deletion marker decide.
  const exclusive = keyedQueue();

  let state: 'open' | 'closed' = 'open';
  const running = new Set<Promise<unknown>>();
  /** Keeps `close()` waiting for `work`. */
  const track = (work: Promise<unknown>): void => {
    running.add(work);
    void work.then(
      () => running.delete(work),
      () => running.delete(work),
    );
  };
  const closedFault = () => fault(Failure.unknown('the S3 store is closed'));
  /** Every public operation: refused after close, tracked for close, unexpected errors turned into failures. */
  const guarded = <T>(what: string, run: () => Promise<T>): Promise<T> => {
    if (state === 'closed') return Promise.reject(closedFault());
    const operation = (async () => run())().catch((error: unknown) => {
      throw error instanceof FaultError ? error : s3Fault(error, what, endpoint);
    });
    track(operation);
    return operation;
  };

  /** The record of a partial upload and its ETag; `undefined` if there is none or it does not decode. */
  const readPartial = async (id: string, signal?: AbortSignal): Promise<{ record: PartialRecord; etag: string } | undefined> => {
    const got = await objects.getText(keys.record(id), `read the record of upload ${id}`, signal);
    if (got === 'missing') return undefined;
    const decoded = decodePartial(id, got.text);
    return decoded.kind === 'ok' ? { record: decoded.value, etag: got.etag } : undefined;
  };

  /** Complete media's entry from its object's metadata (and long name); `undefined` if absent or corrupt. */
  const readComplete = async (id: string): Promise<(StoredEntry & { state: 'complete' }) | undefined> => {
    const head = await objects.head(keys.media(id), `read the record of media ${id}`);
    if (head === 'missing') return undefined;
    const decoded = decodeMedia(head.metadata);
    if (decoded.kind !== 'ok') return undefined;
    const record = decoded.value;
    if ('fileName' in record) return completeEntry(id, record, record.fileName);
    const name = await objects.getBytes(keys.name(id), `read the file name of media ${id}`);
    if (name === 'missing' || createHash('sha256').update(name).digest('hex') !== record.fileNameSha256) return undefined;
    return completeEntry(id, record, new TextDecoder().decode(name));
  };

  /**
   * Complete media first: it wins over a partial record a completion left behind, and a HEAD is what a
   * download's stat costs (a GET of the record, with its body, is the slower request on RGW).
   */
  const statOf = async (id: string): Promise<StoredEntry | undefined> => {
    const complete = await readComplete(id);
    if (complete) return complete;
    const partial = await readPartial(id);
    if (partial) return partialEntry(partial.record);
    // Completed (copied, then its record removed) between the two reads?
    return readComplete(id);
  };

  /** Replaces a record by compare-and-set; `Conflict` if another writer replaced it, `NotExist` if it went. */
  const writeRecord = async (record: PartialRecord, etag: string, signal: AbortSignal): Promise<string> => {
    const id = record.mediaId;
    const written = await objects.put(keys.record(id), encodePartial(record), `record the progress of upload ${id}`, {
      condition: { ifMatch: etag },
      contentType: 'application/json',
      signal,
    });
    if (written !== 'precondition') return written;
    throw (await readPartial(id)) ? fault(Failure.conflict(`upload ${id} was changed by another append`)) : fault(Failure.notExist(`upload ${id}`));
  };

  /** The key of the assembled bytes of a complete upload: its completed staging object, or its single tail. */
  const assemble = async (record: PartialRecord): Promise<string> => {
    const id = record.mediaId;
    if (record.uploadId === null) {
      if (!record.tail) throw fault(Failure.unknown(`upload ${id} has neither parts nor a tail`));
      return keys.tail(id, record.tail.tag);
    }
    const staging = keys.staging(id);
    const etags = record.parts.map((part) => part.etag);
    if ((await objects.completeMultipart(staging, record.uploadId, etags, `complete the multipart upload of ${id}`)) === 'missing') {
      // Completed before a crash (the staging object is there), or aborted by the lifecycle rule.
      const head = await objects.head(staging, `find the assembled upload ${id}`);
      if (head === 'missing' || head.size !== record.size) throw fault(Failure.notExist(`upload ${id} (its multipart upload is gone)`));
    }
    return staging;
  };

  /** The SHA-256 of a complete upload: the running hash if this process appended every byte, else read back from S3. */
  const digestOf = async (record: PartialRecord, source: string): Promise<string> => {
    const id = record.mediaId;
    const running = hashes.get(id);
    hashes.delete(id);
    if (running && running.at === record.size) return running.hasher.digest();
    const what = `read upload ${id} back to hash it`;
    const stream = await objects.getStream(source, 0, what);
    if (typeof stream === 'string') throw fault(Failure.notExist(`upload ${id} (its assembled object is missing)`));
    const hasher = createHasher();
    let seen = 0;
    try {
      for await (const chunk of stream) {
        hasher.update(chunk as Uint8Array);
        seen += (chunk as Uint8Array).length;
      }
    } catch (error) {
      throw s3Fault(error, what, endpoint);
    } finally {
      stream.destroy();
    }
    if (seen !== record.size) throw fault(Failure.unknown(`upload ${id}: the S3 store holds ${seen} of its ${record.size} bytes`));
    return hasher.digest();
  };

  /** Aborts the multipart uploads of an entry and removes every object under its `uploads/` folder, the record first. */
  const removeUploadObjects = async (id: string): Promise<void> => {
    await objects.remove(keys.record(id), `remove the record of upload ${id}`);
    for await (const upload of objects.multipartUploads(keys.uploads(id), `list the multipart uploads of ${id}`)) {
      await objects.abortMultipart(upload.key, upload.uploadId, `abort a multipart upload of ${id}`);
    }
    const found: string[] = [];
    for await (const key of objects.keys(keys.uploads(id), `list the objects of upload ${id}`)) found.push(key);
    await Promise.all(found.map((key) => objects.remove(key, `remove ${key}`)));
  };

  /**
   * Takes the deletion marker of `id`: creates it if absent, or takes over one a crash left (older than
   * {@link MARKER_STALE_MS}). Its body is random, so its ETag names this holder alone.
   */
  const takeMarker = async (id: string): Promise<boolean> => {
    const key = keys.deleting(id);
    const what = `mark ${id} as being deleted`;
    const mark = (condition: { ifMatch: string } | { ifNoneMatch: '*' }) =>
      objects.put(key, randomBytes(12).toString('hex'), what, { condition, metadata: { [MARKER_AT]: String(now()) } });
    for (let attempt = 0; attempt < 2; attempt++) {
      if ((await mark({ ifNoneMatch: '*' })) !== 'precondition') return true;
      const head = await objects.head(key, what);
      if (head === 'missing') continue; // removed as we looked: try once more
      const at = Number(head.metadata[MARKER_AT]);
      if (Number.isFinite(at) && now() - at < MARKER_STALE_MS) return false;
      return (await mark({ ifMatch: head.etag })) !== 'precondition';
    }
    return false;
  };

  /**
   * What a failed clean-up changes: nothing anyone reads (media is already visible, or the entry already
   * gone). What stays is removed by the entry's deletion or by the lifecycle rule.
   */
  const leftForLater = (): void => undefined;

  const store: S3Store = {
    bucket,
    prefix,

    create: (meta, at) =>
      guarded('create', () =>
        exclusive(checked(meta.mediaId), async () => {
          const id = meta.mediaId;
          const record: PartialRecord = { version: 1, ...meta, updatedAt: at, partSize, uploadId: null, parts: [], tail: null };
          if (!PartialRecordCodec.is(record)) throw fault(Failure.invalidArgument('meta', 'cannot be recorded'));
          if ((await objects.head(keys.media(id), `look for media ${id}`)) !== 'missing') throw fault(Failure.conflict(`media ${id} exists`));
          const written = await objects.put(keys.record(id), encodePartial(record), `create upload ${id}`, {
            condition: { ifNoneMatch: '*' },
            contentType: 'application/json',
          });
          if (written === 'precondition') throw fault(Failure.conflict(`upload ${id} exists`));
        }),
      ),

    append: (mediaId, offset, chunks, appendOptions) =>
      guarded('append', async () => {
        const id = checked(mediaId);
        throwIfAborted(appendOptions.signal);
        if (appending.has(id)) throw fault(Failure.conflict(`upload ${id} is receiving bytes from another request`));
        const deleted = new AbortController();
        appending.set(id, deleted);
        try {
          const read = await readPartial(id, appendOptions.signal);
          const current = read && offsetOf(read.record);
          // A full upload's record may outlive its completion for a moment (its clean-up runs after).
          if (!read || current === read.record.size) {
            const complete = (await objects.head(keys.media(id), `look for media ${id}`, appendOptions.signal)) !== 'missing';
            if (complete) throw fault(Failure.conflict(`upload ${id} is complete`));
            if (!read) throw fault(Failure.notExist(`upload ${id}`));
          }
          if (offset !== current) throw fault(Failure.conflict(`offset ${offset} is not the upload's offset ${current}`));
          let hash = hashes.get(id);
          if (hash?.at !== offset) {
            hashes.delete(id);
            hash = offset === 0 ? { hasher: createHasher(), at: 0 } : undefined;
          }
          if (hash) remember(id, hash);
          const context = { objects, keys, record: read.record, etag: read.etag, writeRecord, hash, checkpointMs, deleted: deleted.signal, track };
          return await appendToS3(context, chunks, appendOptions);
        } finally {
          if (appending.get(id) === deleted) appending.delete(id);
        }
      }),

    complete: (mediaId, at) =>
      guarded('complete', () =>
        exclusive(checked(mediaId), async () => {
          const id = mediaId;
          const done = await readComplete(id);
          if (done) return done;
          if (appending.has(id)) throw fault(Failure.conflict(`upload ${id} is receiving bytes`));
          const read = await readPartial(id);
          if (!read) throw fault(Failure.notExist(`upload ${id}`));
          const { record } = read;
          const offset = offsetOf(record);
          if (offset !== record.size) throw fault(Failure.conflict(`upload ${id} has ${offset} of ${record.size} bytes`));
          const source = await assemble(record);
          const sha256 = await digestOf(record, source);
          const { size, uploader, createdAt, fileName } = record;
          const common = { version: 1 as const, size, uploader, createdAt, sha256, completedAt: at };
          let mediaRecord: MediaRecord;
          if (nameIsInline(fileName)) {
            mediaRecord = { ...common, fileName };
          } else {
            const name = utf8(fileName);
            await objects.put(keys.name(id), name, `record the file name of media ${id}`, { contentType: 'text/plain; charset=utf-8' });
            mediaRecord = { ...common, fileNameSha256: createHash('sha256').update(name).digest('hex') };
          }
          if ((await objects.copy(source, keys.media(id), encodeMedia(mediaRecord), `make media ${id} visible`)) === 'missing') {
            throw fault(Failure.notExist(`upload ${id} (deleted while completing)`));
          }
          // A deletion elsewhere removes the record first and the media last: if the record is gone now, the
          // deletion may have passed the media key before this copy landed, so the media is this one's to remove.
          if ((await objects.head(keys.record(id), `look for the record of upload ${id}`)) === 'missing') {
            await objects.remove(keys.media(id), `remove media ${id}, deleted while completing`);
            throw fault(Failure.notExist(`upload ${id} (deleted while completing)`));
          }
          track(removeUploadObjects(id).catch(leftForLater));
          return completeEntry(id, mediaRecord, fileName);
        }),
      ),

    stat: (mediaId) => guarded('stat', async () => (isMediaId(mediaId) ? statOf(mediaId) : undefined)),

    async *read(mediaId, offset, signal) {
      const id = checked(mediaId);
      if (!(Number.isSafeInteger(offset) && offset >= 0)) throw fault(Failure.invalidArgument('offset', `expected a byte offset, got ${describeUntrusted(offset)}`));
      throwIfAborted(signal);
      if (state === 'closed') throw closedFault();
      const what = `read media ${id}`;
      let position = offset;
      for (;;) {
        const stream = await objects.getStream(keys.media(id), position, what, signal);
        if (stream === 'missing') throw fault(Failure.notExist(`media ${id}`));
        if (stream === 'past-end') return;
        let progressed = false;
        try {
          for await (const chunk of stream) {
            throwIfAborted(signal);
            position += (chunk as Uint8Array).length;
            progressed = true;
            yield chunk as Uint8Array;
          }
          return;
        } catch (error) {
          if (signal?.aborted) throw abortFault(signal);
          if (error instanceof FaultError) throw error;
          // The connection dropped or idled out (a slow reader): continue where it stopped, if this one moved.
          if (!progressed) throw s3Fault(error, what, endpoint);
        } finally {
          stream.destroy();
        }
      }
    },

    delete: (mediaId) =>
      guarded('delete', async () => {
        if (!isMediaId(mediaId)) return undefined;
        const id = mediaId;
        return exclusive(id, async () => {
          appending.get(id)?.abort(fault(Failure.notExist(`upload ${id} (deleted)`)));
          hashes.delete(id);
          if (!(await takeMarker(id))) return undefined;
          try {
            // What is there once the marker is ours is what this deletion removes. The record goes first
            // and the media last, so a completion running elsewhere notices (see `complete`).
            const entry = await statOf(id);
            await removeUploadObjects(id);
            await objects.remove(keys.name(id), `remove the file name of media ${id}`);
            await objects.remove(keys.media(id), `remove media ${id}`);
            return entry?.state;
          } finally {
            await objects.remove(keys.deleting(id), `unmark ${id}`).catch(leftForLater);
          }
        });
      }),

    async *list() {
      if (state === 'closed') throw closedFault();
      for await (const key of objects.keys(keys.mediaFolder, 'list media')) {
        const id = key.slice(keys.mediaFolder.length);
        if (!isMediaId(id)) continue;
        const entry = await readComplete(id);
        if (entry) yield entry;
      }
      const suffix = '/record.json';
      for await (const key of objects.keys(keys.uploadsFolder, 'list uploads')) {
        if (!key.endsWith(suffix)) continue;
        const id = key.slice(keys.uploadsFolder.length, -suffix.length);
        if (!isMediaId(id)) continue;
        // Media completed since the first listing is left for the next sweep; only partial uploads here.
        const entry = await statOf(id);
        if (entry?.state === 'partial') yield entry;
      }
    },

    probe: () =>
      guarded('probe', async () => {
        const signal = AbortSignal.timeout(probeTimeoutMs);
        const key = keys.probe(randomBytes(12).toString('hex'));
        const what = `the readiness probe of bucket ${bucket}`;
        try {
          await objects.put(key, 'ferry readiness probe\n', what, { signal });
          await objects.remove(key, what, signal);
        } catch (error) {
          if (signal.aborted) throw fault(Failure.unavailable(`the S3 store at ${endpoint} did not answer within ${probeTimeoutMs} ms (${what})`), error);
          throw error;
        }
      }),

    ensureBucket: () => guarded('ensure the bucket', () => ensureBucket(client, bucket, lifecycleRules(prefix, retentionMs, partialTtlMs))),

    async close() {
      state = 'closed';
      await Promise.allSettled([...running]);
      if (!options.client) client.destroy();
    },
  };
  return store;
};
