/**
 * The S3 calls the media store makes, each one typed for its use: not-found and failed preconditions as
 * values, every other error as a fault (`s3-faults.ts`) naming what was being done. Nothing here knows
 * what an upload is; `s3-store.ts` and `s3-append.ts` do.
 * @module
 */
import type { Readable } from 'node:stream';
import {
  AbortMultipartUploadCommand,
  CompleteMultipartUploadCommand,
  CopyObjectCommand,
  CreateMultipartUploadCommand,
  DeleteObjectCommand,
  GetObjectCommand,
  HeadObjectCommand,
  ListMultipartUploadsCommand,
  ListObjectsV2Command,
  PutObjectCommand,
  type S3Client,
  UploadPartCommand,
} from '@aws-sdk/client-s3';
import { isInvalidRange, isNotFound, isPreconditionFailed, s3Fault } from './s3-faults.js';

/** Where the objects are. */
export interface ObjectsOptions {
  readonly client: S3Client;
  readonly bucket: string;
  /** The endpoint, for failure messages. */
  readonly endpoint: string;
}

/** A conditional write: replace only the object with this ETag, or create only if there is none. */
export type WriteCondition = { readonly ifMatch: string } | { readonly ifNoneMatch: '*' } | undefined;

/** What `head` found. */
export interface Head {
  readonly size: number;
  readonly etag: string;
  readonly metadata: Readonly<Record<string, string>>;
}

/**
 * ETags as RGW compares them in `If-Match`: without the quotes S3 puts around them (RGW 16 refuses a
 * quoted one as not matching; AWS and MinIO accept both).
 */
export const unquote = (etag: string | undefined): string => (etag ?? '').replaceAll('"', '');

/** A key as `CopySource` wants it: `bucket/key`, each path segment percent-encoded. */
const copySource = (bucket: string, key: string): string => `${bucket}/${key.split('/').map(encodeURIComponent).join('/')}`;

/** Reads a whole (small) body; the SDK's Node body is a `Readable` with `transformToString`. */
const textOf = async (body: unknown): Promise<string> => (body as { transformToString(encoding?: string): Promise<string> }).transformToString('utf-8');

/** The typed S3 calls of one bucket. */
export const objectsOf = ({ client, bucket, endpoint }: ObjectsOptions) => {
  /** Runs one call, turning its errors into faults about `what` (not-found and precondition left to `handle`). */
  const call = async <T, R = never>(what: string, signal: AbortSignal | undefined, run: () => Promise<T>, handle?: (error: unknown) => R | undefined): Promise<T | R> => {
    try {
      return await run();
    } catch (error) {
      const handled = signal?.aborted ? undefined : handle?.(error);
      if (handled !== undefined) return handled;
      throw s3Fault(error, what, endpoint, signal);
    }
  };
  const options = (signal: AbortSignal | undefined) => (signal ? { abortSignal: signal } : {});
  const missing = (error: unknown) => (isNotFound(error) ? ('missing' as const) : undefined);
  const refused = (error: unknown) => (isPreconditionFailed(error) ? ('precondition' as const) : undefined);

  return {
    /** A small object's text and ETag, or `'missing'`. */
    getText: async (key: string, what: string, signal?: AbortSignal): Promise<{ text: string; etag: string } | 'missing'> =>
      call(
        what,
        signal,
        async () => {
          const answer = await client.send(new GetObjectCommand({ Bucket: bucket, Key: key }), options(signal));
          return { text: await textOf(answer.Body), etag: unquote(answer.ETag) };
        },
        missing,
      ),

    /** A (small) object's bytes, or `'missing'`. */
    getBytes: async (key: string, what: string, signal?: AbortSignal): Promise<Uint8Array | 'missing'> =>
      call(
        what,
        signal,
        async () => {
          const answer = await client.send(new GetObjectCommand({ Bucket: bucket, Key: key }), options(signal));
          return (answer.Body as { transformToByteArray(): Promise<Uint8Array> }).transformToByteArray();
        },
        missing,
      ),

    /**
     * A stream of an object's bytes from `offset`: `'missing'` if there is no object, `'past-end'` if it
     * has `offset` bytes or fewer. The caller destroys the stream.
     */
    getStream: async (key: string, offset: number, what: string, signal?: AbortSignal): Promise<Readable | 'missing' | 'past-end'> =>
      call(
        what,
        signal,
        async () => {
          const range = offset > 0 ? { Range: `bytes=${offset}-` } : {};
          const answer = await client.send(new GetObjectCommand({ Bucket: bucket, Key: key, ...range }), options(signal));
          return answer.Body as Readable;
        },
        (error) => missing(error) ?? (isInvalidRange(error) ? ('past-end' as const) : undefined),
      ),

    /** An object's size, ETag and user metadata, or `'missing'`. */
    head: async (key: string, what: string, signal?: AbortSignal): Promise<Head | 'missing'> =>
      call(
        what,
        signal,
        async () => {
          const answer = await client.send(new HeadObjectCommand({ Bucket: bucket, Key: key }), options(signal));
          return { size: answer.ContentLength ?? 0, etag: unquote(answer.ETag), metadata: answer.Metadata ?? {} };
        },
        missing,
      ),

    /** Writes an object; resolves with its ETag, or `'precondition'` when `condition` did not hold. */
    put: async (
      key: string,
      body: Uint8Array | string,
      what: string,
      { condition, metadata, contentType, signal }: { condition?: WriteCondition; metadata?: Record<string, string>; contentType?: string; signal?: AbortSignal } = {},
    ): Promise<string | 'precondition'> =>
      call(
        what,
        signal,
        async () => {
          const answer = await client.send(
            new PutObjectCommand({
              Bucket: bucket,
              Key: key,
              Body: body,
              ContentType: contentType ?? 'application/octet-stream',
              ...(metadata ? { Metadata: metadata } : {}),
              ...(condition && 'ifMatch' in condition ? { IfMatch: condition.ifMatch } : {}),
              ...(condition && 'ifNoneMatch' in condition ? { IfNoneMatch: condition.ifNoneMatch } : {}),
            }),
            options(signal),
          );
          return unquote(answer.ETag);
        },
        refused,
      ),

    /** Removes an object; a missing one is not an error (S3 answers 204 either way). */
    remove: async (key: string, what: string, signal?: AbortSignal): Promise<void> => {
      await call(what, signal, () => client.send(new DeleteObjectCommand({ Bucket: bucket, Key: key }), options(signal)));
    },

    /** Every key under `prefix`, page by page (1,000 a page: one page in memory at a time). */
    async *keys(prefix: string, what: string, signal?: AbortSignal): AsyncIterable<string> {
      let token: string | undefined;
      do {
        const page = await call(what, signal, () =>
          client.send(new ListObjectsV2Command({ Bucket: bucket, Prefix: prefix, ...(token ? { ContinuationToken: token } : {}) }), options(signal)),
        );
        for (const entry of page.Contents ?? []) if (entry.Key !== undefined) yield entry.Key;
        token = page.IsTruncated ? page.NextContinuationToken : undefined;
      } while (token);
    },

    /** Starts a multipart upload to `key`; resolves with its upload ID. */
    createMultipart: async (key: string, what: string, signal?: AbortSignal): Promise<string> => {
      const answer = await call(what, signal, () =>
        client.send(new CreateMultipartUploadCommand({ Bucket: bucket, Key: key, ContentType: 'application/octet-stream' }), options(signal)),
      );
      if (!answer.UploadId) throw s3Fault(new Error('CreateMultipartUpload answered without an upload ID'), what, endpoint);
      return answer.UploadId;
    },

    /** Uploads one part; resolves with its ETag, or `'missing'` if the multipart upload is gone. */
    uploadPart: async (key: string, uploadId: string, partNumber: number, body: Uint8Array, what: string, signal?: AbortSignal): Promise<string | 'missing'> =>
      call(
        what,
        signal,
        async () =>
          unquote((await client.send(new UploadPartCommand({ Bucket: bucket, Key: key, UploadId: uploadId, PartNumber: partNumber, Body: body }), options(signal))).ETag),
        missing,
      ),

    /** Completes a multipart upload from its parts in order; `'missing'` if there is no such upload (any more). */
    completeMultipart: async (key: string, uploadId: string, etags: readonly string[], what: string): Promise<'done' | 'missing'> =>
      call(
        what,
        undefined,
        async () => {
          const Parts = etags.map((etag, index) => ({ PartNumber: index + 1, ETag: `"${etag}"` }));
          await client.send(new CompleteMultipartUploadCommand({ Bucket: bucket, Key: key, UploadId: uploadId, MultipartUpload: { Parts } }));
          return 'done' as const;
        },
        missing,
      ),

    /** Aborts a multipart upload; one already gone is not an error. */
    abortMultipart: async (key: string, uploadId: string, what: string): Promise<void> => {
      await call(what, undefined, () => client.send(new AbortMultipartUploadCommand({ Bucket: bucket, Key: key, UploadId: uploadId })), missing);
    },

    /** The multipart uploads in progress under `prefix`: key and upload ID. */
    async *multipartUploads(prefix: string, what: string): AsyncIterable<{ key: string; uploadId: string }> {
      let marker: { KeyMarker?: string; UploadIdMarker?: string } = {};
      for (;;) {
        const page = await call(what, undefined, () => client.send(new ListMultipartUploadsCommand({ Bucket: bucket, Prefix: prefix, ...marker })));
        for (const upload of page.Uploads ?? []) if (upload.Key && upload.UploadId) yield { key: upload.Key, uploadId: upload.UploadId };
        if (!page.IsTruncated) return;
        marker = { ...(page.NextKeyMarker ? { KeyMarker: page.NextKeyMarker } : {}), ...(page.NextUploadIdMarker ? { UploadIdMarker: page.NextUploadIdMarker } : {}) };
      }
    },

    /**
     * Copies `from` to `to` with new user metadata (`MetadataDirective: REPLACE`): the object appears at
     * `to` at once, bytes and metadata together. RGW copies by reference within a pool. `'missing'` if
     * there is no `from`.
     */
    copy: async (from: string, to: string, metadata: Record<string, string>, what: string): Promise<'done' | 'missing'> =>
      call(
        what,
        undefined,
        async () => {
          await client.send(
            new CopyObjectCommand({
              Bucket: bucket,
              Key: to,
              CopySource: copySource(bucket, from),
              MetadataDirective: 'REPLACE',
              Metadata: metadata,
              ContentType: 'application/octet-stream',
            }),
          );
          return 'done' as const;
        },
        missing,
      ),
  };
};

/** The typed calls of one bucket. */
export type Objects = ReturnType<typeof objectsOf>;
