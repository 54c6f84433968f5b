/**
 * Upload sources: an absolute file path (streamed from disk, never read whole), a `Uint8Array` or a
 * `Blob`. Checking the shape is synchronous; opening (stat of a path) happens when the transfer starts.
 * @module
 */
import { throwIfAborted } from '../core/abort.js';
import { Failure, fault } from '../core/failure.js';
import { baseName, checkAbsolutePath, type FileAccess } from '../core/files.js';
import { MAX_FILE_SIZE, MIN_FILE_SIZE } from '../core/limits.js';

/** What can be uploaded. */
export type UploadSource = string | Uint8Array | Blob;

/** An opened source: its size, its name if it has one, and its bytes on demand. */
export interface OpenedSource {
  readonly size: number;
  readonly name: string;
  /** The first `length` bytes (fewer if the source is shorter). */
  head(length: number, signal: AbortSignal): Promise<Uint8Array>;
  /** The bytes from `offset`, `chunkSize` at a time; stops with `Interrupted` before a chunk once `signal` aborts. */
  chunks(offset: number, chunkSize: number, signal: AbortSignal): AsyncIterable<Uint8Array>;
}

const isBlob = (value: unknown): value is Blob => typeof Blob !== 'undefined' && value instanceof Blob;

/** The size rule: 1 byte to `max` inclusive. */
export const checkSize = (size: number, max = MAX_FILE_SIZE): Failure | undefined =>
  size < MIN_FILE_SIZE
    ? Failure.invalidArgument('source', 'the file is empty')
    : size > max
      ? Failure.sizeOverflow(size, max)
      : undefined;

/** Synchronous checks: a path must be absolute and well-formed; bytes and blobs must obey the size rule. */
export const checkSource = (source: unknown): Failure | undefined => {
  if (typeof source === 'string') return checkAbsolutePath(source, 'source');
  if (source instanceof Uint8Array) return checkSize(source.length);
  if (isBlob(source)) return checkSize(source.size);
  return Failure.invalidArgument('source', 'expected an absolute file path, a Uint8Array or a Blob');
};

/*
 * The opened sources are classes, their `chunks` generators methods (decision 148): an object literal's
 * `async *chunks` is a new generator function per opened source, and V8 builds a prototype object and
 * three maps for each one the first time it runs, which was a per-upload cost of its own.
 */

/** Bytes in memory: chunks are views of the caller's buffer, never copies. */
class BytesSource implements OpenedSource {
  readonly size: number;
  readonly name = '';

  constructor(private readonly bytes: Uint8Array) {
    this.size = bytes.length;
  }

  async head(length: number): Promise<Uint8Array> {
    return this.bytes.subarray(0, length);
  }

  async *chunks(offset: number, chunkSize: number, signal: AbortSignal): AsyncIterable<Uint8Array> {
    const { bytes, size } = this;
    for (let at = offset; at < size; at += chunkSize) {
      throwIfAborted(signal);
      yield bytes.subarray(at, Math.min(at + chunkSize, size));
    }
  }
}

/** A `Blob` (or `File`): each chunk read as it is needed. */
class BlobSource implements OpenedSource {
  readonly size: number;
  readonly name: string;

  constructor(private readonly blob: Blob) {
    this.size = blob.size;
    this.name = 'name' in blob && typeof blob.name === 'string' ? blob.name : '';
  }

  async head(length: number): Promise<Uint8Array> {
    return new Uint8Array(await this.blob.slice(0, length).arrayBuffer());
  }

  async *chunks(offset: number, chunkSize: number, signal: AbortSignal): AsyncIterable<Uint8Array> {
    const { blob, size } = this;
    for (let at = offset; at < size; at += chunkSize) {
      throwIfAborted(signal);
      yield new Uint8Array(await blob.slice(at, Math.min(at + chunkSize, size)).arrayBuffer());
    }
  }
}

/** A file by absolute path, streamed through the client's `FileAccess`, as long as it was when opened. */
class PathSource implements OpenedSource {
  readonly name: string;

  constructor(
    private readonly path: string,
    readonly size: number,
    private readonly files: FileAccess,
  ) {
    this.name = baseName(path);
  }

  async head(length: number, signal: AbortSignal): Promise<Uint8Array> {
    for await (const chunk of this.files.read(this.path, 0, length, signal)) return chunk;
    return new Uint8Array(0);
  }

  chunks(offset: number, chunkSize: number, signal: AbortSignal): AsyncIterable<Uint8Array> {
    return upTo(this.size, offset, this.files.read(this.path, offset, chunkSize, signal), signal);
  }
}

const fromPath = async (path: string, files: FileAccess): Promise<OpenedSource> => {
  const { size } = await files.stat(path, 'source');
  const tooBig = checkSize(size);
  if (tooBig) throw fault(tooBig);
  return new PathSource(path, size, files);
};

/**
 * Stops at `size`, the length the file had when it was opened: a file that grows during its upload is
 * uploaded as it was (its first `size` bytes); one that shrinks ends early and the upload fails with 2.
 * Checks the signal before each chunk, whatever the injected `FileAccess` does.
 */
async function* upTo(size: number, offset: number, chunks: AsyncIterable<Uint8Array>, signal: AbortSignal): AsyncIterable<Uint8Array> {
  let at = offset;
  for await (const chunk of chunks) {
    throwIfAborted(signal);
    if (at >= size) return;
    const kept = chunk.length <= size - at ? chunk : chunk.subarray(0, size - at);
    at += kept.length;
    yield kept;
  }
}

/**
 * Opens a source that passed {@link checkSource}. Bytes are read as the upload proceeds, as `fetch`
 * reads a body: a caller must not change its buffer until the task's result settles. (Copying it would
 * double the memory of every queued upload.)
 */
export const openSource = async (source: UploadSource, files: () => Promise<FileAccess>): Promise<OpenedSource> =>
  typeof source === 'string' ? fromPath(source, await files()) : source instanceof Uint8Array ? new BytesSource(source) : new BlobSource(source);
