/**
 * One append of the S3 media store (decision 89): bytes are copied into one part-sized buffer; a full
 * buffer becomes a multipart part, what is left when the request ends becomes the upload's tail object
 * (read back into the buffer by the next append, as @tus/s3-store does). Every step ends with the
 * upload's record replaced by compare-and-set, and only then is the new offset acknowledged, so an
 * acknowledged byte is in S3 and named by the record; a part or tail the record does not name (a crash
 * between the two writes) is never counted and is overwritten or removed later.
 * @module
 */
import { randomBytes } from 'node:crypto';
import { abortable, abortFault, onAbort } from '../core/abort.js';
import { Failure, FaultError, failureOf, fault } from '../core/failure.js';
import type { Hasher } from '../core/hash.js';
import type { AppendOptions } from '../hub/media-store.js';
import type { Objects } from './s3-objects.js';
import { type Keys, offsetOf, type PartialRecord } from './s3-records.js';

/** A running SHA-256 of the first `at` bytes of an upload, all of which this process appended. */
export interface RunningHash {
  readonly hasher: Hasher;
  at: number;
}

/** What an append needs of its store. */
export interface AppendContext {
  readonly objects: Objects;
  readonly keys: Keys;
  /** The upload's record and its ETag, as read for this append. */
  readonly record: PartialRecord;
  readonly etag: string;
  /**
   * Replaces the record if its ETag is still `etag`; resolves with the new ETag. Rejects with `Conflict`
   * if another writer replaced it, `NotExist` if it was deleted.
   */
  readonly writeRecord: (record: PartialRecord, etag: string, signal: AbortSignal) => Promise<string>;
  /** The running hash to continue, if one covers exactly the record's offset; `undefined` otherwise. */
  readonly hash: RunningHash | undefined;
  /** Bytes held longer than this (on `now`) without being acknowledged are staged as the tail. */
  readonly checkpointMs: number;
  /** Aborted when the entry is deleted in this process: the append stops with `NotExist`. */
  readonly deleted: AbortSignal;
  /** Keeps the store's `close()` waiting for background work. */
  readonly track: (work: Promise<unknown>) => void;
}

const tag = (): string => randomBytes(12).toString('hex');

/**
 * What a failed removal of a replaced tail changes: nothing anyone reads. No record names the object any
 * more; the entry's deletion or completion removes everything under its folder, and the lifecycle rule
 * anything a crash left.
 */
const leftForLater = (): void => undefined;

/**
 * Appends `chunks` to the upload whose record `context` holds, from its offset. Resolves with the new
 * offset; calls `onAppended` after each step is durable. On a failure of the source (not of S3, not an
 * abort) what arrived is staged first, so a resume continues after it. On abort nothing more is written.
 */
export const appendToS3 = async (context: AppendContext, chunks: AsyncIterable<Uint8Array>, { signal, now, onAppended }: AppendOptions): Promise<number> => {
  const { objects, keys, checkpointMs, hash } = context;
  let { record, etag } = context;
  const id = record.mediaId;
  const { size, partSize } = record;
  const controller = new AbortController();
  const disposers = [
    onAbort(signal, () => controller.abort(signal?.reason)),
    onAbort(context.deleted, () => controller.abort(context.deleted.reason)),
  ];
  const stop = controller.signal;
  const stopped = (): FaultError => (context.deleted.aborted ? fault(Failure.notExist(`upload ${id} (deleted)`)) : abortFault(stop));

  // The buffer holds the bytes from `start` (the end of the last part) on: first the tail, then what arrives.
  let start = offsetOf(record) - (record.tail?.size ?? 0);
  const buffer = new Uint8Array(Math.max(1, Math.min(partSize, size - start)));
  let capacity = Math.min(partSize, size - start);
  let fill = 0;
  /** The offset the record holds: every byte before it is in S3. */
  let durable = offsetOf(record);
  let lastAcknowledged = now();

  const commit = async (next: PartialRecord): Promise<void> => {
    try {
      etag = await context.writeRecord(next, etag, stop);
    } catch (error) {
      // Whether the write landed is unknown: the running hash can no longer be trusted.
      if (hash) hash.at = -1;
      throw error;
    }
    const replaced = record.tail;
    record = next;
    const reached = offsetOf(next);
    if (hash && hash.at === durable) {
      hash.hasher.update(buffer.subarray(durable - start, reached - start));
      hash.at = reached;
    }
    durable = reached;
    lastAcknowledged = now();
    if (replaced && replaced.tag !== next.tail?.tag) context.track(objects.remove(keys.tail(id, replaced.tag), `remove a replaced tail of ${id}`).catch(leftForLater));
    onAppended?.(reached);
  };

  /** Stages the buffer as the upload's tail: a new object, named by the record only once it is there. */
  const stageTail = async (): Promise<void> => {
    const name = tag();
    const put = await objects.put(keys.tail(id, name), buffer.subarray(0, fill), `stage the tail of upload ${id}`, { signal: stop });
    if (put === 'precondition') throw fault(Failure.unknown(`the S3 store refused the tail of upload ${id}`));
    await commit({ ...record, tail: { tag: name, size: fill }, updatedAt: now() });
  };

  /** Makes the full buffer the next part (or, for an upload of one part at most, its single object). */
  const flushPart = async (): Promise<void> => {
    if (record.uploadId === null && record.parts.length === 0 && start + fill === size) {
      await stageTail();
    } else {
      const uploadId = record.uploadId ?? (await objects.createMultipart(keys.staging(id), `start the multipart upload of ${id}`, stop));
      const number = record.parts.length + 1;
      const etagOfPart = await objects.uploadPart(keys.staging(id), uploadId, number, buffer.subarray(0, fill), `upload part ${number} of ${id}`, stop);
      if (etagOfPart === 'missing') throw fault(Failure.notExist(`upload ${id} (its multipart upload is gone)`));
      await commit({ ...record, uploadId, parts: [...record.parts, { etag: etagOfPart, size: fill }], tail: null, updatedAt: now() });
    }
    start += fill;
    fill = 0;
    capacity = Math.min(partSize, size - start);
  };

  /** Makes what the buffer holds beyond the record durable: the last part if it ends the upload, else the tail. */
  const flushRest = async (): Promise<void> => {
    if (start + fill <= durable) return;
    await (start + fill === size ? flushPart() : stageTail());
  };

  const iterator = chunks[Symbol.asyncIterator]();
  let exhausted = false;
  let sourceFailed = false;
  try {
    if (record.tail) {
      const tail = await objects.getBytes(keys.tail(id, record.tail.tag), `read the tail of upload ${id}`, stop);
      if (tail === 'missing' || tail.length !== record.tail.size) {
        throw fault(Failure.notExist(`upload ${id} (its tail object is ${tail === 'missing' ? 'missing' : `${tail.length} bytes, not ${record.tail.size}`})`));
      }
      buffer.set(tail, 0);
      fill = tail.length;
    }
    for (;;) {
      let next: IteratorResult<Uint8Array>;
      try {
        next = await abortable(iterator.next(), stop);
      } catch (error) {
        sourceFailed = !stop.aborted;
        throw error;
      }
      if (next.done) {
        exhausted = true;
        break;
      }
      const chunk = next.value;
      if (start + fill + chunk.length > size) throw fault(Failure.sizeOverflow(start + fill + chunk.length, size));
      // A chunk is valid until the next is pulled: copy it now, across as many parts as it spans.
      for (let at = 0; at < chunk.length; ) {
        const taken = Math.min(capacity - fill, chunk.length - at);
        buffer.set(chunk.subarray(at, at + taken), fill);
        fill += taken;
        at += taken;
        if (fill === capacity) await flushPart();
      }
      // A slow sender still gets acknowledgements (and the hub's claim its renewals): stage what is held.
      if (start + fill > durable && now() - lastAcknowledged >= checkpointMs) await stageTail();
    }
    await flushRest();
    return durable;
  } catch (error) {
    if (stop.aborted) throw stopped();
    if (sourceFailed) {
      // The sender went away: keep what arrived, so the resume starts after it.
      await flushRest().catch((teardown: unknown) => {
        throw fault(failureOf(error), new AggregateError([error, teardown], 'append failed, then staging what arrived failed'));
      });
    }
    throw error;
  } finally {
    for (const dispose of disposers) dispose();
    // The source is not ours to await: after an abort its pending `next()` may never settle.
    if (!exhausted) iterator.return?.().catch(() => undefined);
  }
};
