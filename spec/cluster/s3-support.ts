/**
 * What the S3 store specs share: a raw client on the specs' RGW, a fresh key prefix per test (removed
 * afterwards with everything under it, multipart uploads included), clients that count or fail chosen
 * requests, and byte helpers.
 */
import { createHash, randomBytes, randomUUID } from 'node:crypto';
import {
  AbortMultipartUploadCommand,
  CreateBucketCommand,
  DeleteObjectCommand,
  HeadBucketCommand,
  ListMultipartUploadsCommand,
  ListObjectsV2Command,
  S3Client,
} from '@aws-sdk/client-s3';
import type { MediaMeta, MediaStore } from '../../src/index.js';
import type { S3Service } from './services.js';

export const MiB = 1024 * 1024;

/** A client on the specs' S3 store. */
export const rawClient = (s3: S3Service): S3Client =>
  new S3Client({
    endpoint: s3.endpoint,
    region: s3.region,
    forcePathStyle: true,
    credentials: { accessKeyId: s3.accessKeyId, secretAccessKey: s3.secretAccessKey },
  });

/** Creates the specs' bucket if it is missing (the shared services may start without it). */
export const ensureTestBucket = async (client: S3Client, bucket: string): Promise<void> => {
  const exists = await client.send(new HeadBucketCommand({ Bucket: bucket })).then(
    () => true,
    () => false,
  );
  if (!exists) {
    await client.send(new CreateBucketCommand({ Bucket: bucket })).catch((error: unknown) => {
      if ((error as Error).name !== 'BucketAlreadyOwnedByYou') throw error;
    });
  }
};

/** A prefix no other test (or helper on this machine) uses. */
export const freshPrefix = (): string => `ferry-test:${randomUUID()}:`;

/** Every key under `prefix`. */
export const keysUnder = async (client: S3Client, bucket: string, prefix: string): Promise<string[]> => {
  const keys: string[] = [];
  let token: string | undefined;
  do {
    const page = await client.send(new ListObjectsV2Command({ Bucket: bucket, Prefix: prefix, ...(token ? { ContinuationToken: token } : {}) }));
    for (const entry of page.Contents ?? []) if (entry.Key) keys.push(entry.Key);
    token = page.IsTruncated ? page.NextContinuationToken : undefined;
  } while (token);
  return keys.sort();
};

/** The multipart uploads in progress under `prefix`. */
export const uploadsUnder = async (client: S3Client, bucket: string, prefix: string): Promise<{ key: string; uploadId: string }[]> => {
  const page = await client.send(new ListMultipartUploadsCommand({ Bucket: bucket, Prefix: prefix }));
  return (page.Uploads ?? []).flatMap((upload) => (upload.Key && upload.UploadId ? [{ key: upload.Key, uploadId: upload.UploadId }] : []));
};

/** Removes everything under `prefix`: objects and multipart uploads. */
export const removeUnder = async (client: S3Client, bucket: string, prefix: string): Promise<void> => {
  for (const { key, uploadId } of await uploadsUnder(client, bucket, prefix)) {
    await client.send(new AbortMultipartUploadCommand({ Bucket: bucket, Key: key, UploadId: uploadId }));
  }
  await Promise.all((await keysUnder(client, bucket, prefix)).map((key) => client.send(new DeleteObjectCommand({ Bucket: bucket, Key: key }))));
};

/** A request as a middleware sees it. */
export interface Seen {
  readonly command: string;
  readonly key: string | undefined;
}

/**
 * Adds a middleware to `client` that records every request (command and key) and lets `before` run first:
 * it may do other work before the request goes out, or reject it with an error, as if the process had died
 * there.
 */
export const watch = (client: S3Client, before: (seen: Seen) => Error | undefined | Promise<Error | undefined> = () => undefined): Seen[] => {
  const seen: Seen[] = [];
  client.middlewareStack.add(
    (next, context) => async (args) => {
      const input = args.input as { Key?: string };
      const request = { command: String(context.commandName), key: input.Key };
      seen.push(request);
      const error = await before(request);
      if (error) throw error;
      return next(args);
    },
    { step: 'initialize', name: 'ferry-spec-watch' },
  );
  return seen;
};

export const sha256 = (bytes: Uint8Array): string => createHash('sha256').update(bytes).digest('hex');

/** Random bytes (a fresh source each time, so a wrong offset cannot go unnoticed). */
export const randomContent = (size: number): Uint8Array => new Uint8Array(randomBytes(size));

/**
 * The bytes as chunks of `chunkSize`, copied into ONE reused buffer (as a socket's reader would): a store
 * that keeps a chunk past the next pull without copying it corrupts the upload. `onPull(pulled)` is
 * called before each chunk with the bytes pulled so far.
 */
export async function* reusedChunks(bytes: Uint8Array, chunkSize = 64 * 1024, onPull: (pulled: number) => void = () => undefined): AsyncIterable<Uint8Array> {
  const scratch = new Uint8Array(chunkSize);
  for (let at = 0; at < bytes.length; at += chunkSize) {
    const piece = bytes.subarray(at, at + chunkSize);
    onPull(at + piece.length);
    scratch.set(piece);
    yield scratch.subarray(0, piece.length);
    scratch.fill(0xee);
  }
}

export const metaOf = (mediaId: string, size: number, fileName = 'photo.jpg'): MediaMeta => ({ mediaId, size, fileName, uploader: 'alice', createdAt: 1_000 });

let ids = 0;
/** A media ID unique in this process. */
export const newId = (): string => `s3-store-spec-${process.pid}-${String(++ids).padStart(6, '0')}`;

/** Everything `read` yields from `offset`. */
export const readAll = async (store: MediaStore, id: string, offset = 0, signal?: AbortSignal): Promise<Uint8Array> => {
  const parts: Uint8Array[] = [];
  for await (const chunk of store.read(id, offset, signal)) parts.push(Buffer.from(chunk));
  return Buffer.concat(parts);
};

let killedBytes: Uint8Array | undefined;
/**
 * The upload `s3-store-kill.spec.ts` has a child process append and kill -9: 16 MiB (four parts, the last
 * short), the same bytes in both processes (a fixed pseudo-random sequence, made on first use), in 64 KiB
 * chunks from any offset.
 */
export const killedUpload = {
  size: 16 * MiB,
  bytes(): Uint8Array {
    if (!killedBytes) {
      killedBytes = new Uint8Array(killedUpload.size);
      let x = 20261202;
      for (let i = 0; i < killedBytes.length; i += 4) {
        x = (Math.imul(x, 1103515245) + 12345) >>> 0;
        killedBytes[i] = x >>> 24;
        killedBytes[i + 1] = x >>> 16;
        killedBytes[i + 2] = x >>> 8;
        killedBytes[i + 3] = x;
      }
    }
    return killedBytes;
  },
  async *chunks(from: number): AsyncIterable<Uint8Array> {
    const bytes = killedUpload.bytes();
    for (let at = from; at < bytes.length; at += 64 * 1024) yield bytes.subarray(at, Math.min(at + 64 * 1024, bytes.length));
  },
};
