/**
 * The effects of one download: start reading (learning size and SHA-256), write chunks to a sink (a
 * temporary file beside the target, or memory), verify the SHA-256, then commit. A resume continues
 * from the bytes already received with the same running hash. Cleanup removes the temporary file.
 * @module
 */
import type { TransferEffects } from '../core/states.js';
import type { MediaState, Session } from '../../transports/transport.js';
import { throwIfAborted } from '../core/abort.js';
import { Failure, fault } from '../core/failure.js';
import { isSignal } from '../core/abort.js';
import { checkAbsolutePath, type FileAccess, type FileSink } from '../core/files.js';
import { isMediaId } from '../core/ids.js';
import type { CreateHasher, Hasher } from '../core/hash.js';

/** Where downloaded bytes go. */
export type DownloadTarget =
  | { readonly kind: 'memory' }
  | { readonly kind: 'file'; readonly path: string; readonly files: () => Promise<FileAccess> };

/**
 * Downloaded bytes kept in memory: one buffer of the media's size, allocated when the size is known
 * (`open`) and filled as chunks arrive, so a chunk is garbage as soon as it is copied and the result
 * needs no final concatenation (half the peak memory of keeping chunks).
 */
const memorySink = (): FileSink & { allocate(size: number): void; bytes(): Uint8Array } => {
  let buffer = new Uint8Array(0);
  let length = 0;
  let discarded = false;
  return {
    get length() {
      return length;
    },
    allocate(size) {
      if (buffer.length !== size) buffer = new Uint8Array(size);
    },
    write: async (bytes) => {
      if (discarded) throw fault(Failure.interrupted('the download was discarded'));
      buffer.set(bytes, length);
      length += bytes.length;
    },
    commit: async (signal) => {
      throwIfAborted(signal);
    },
    discard: async () => {
      discarded = true;
      buffer = new Uint8Array(0);
      length = 0;
    },
    bytes: () => (length === buffer.length ? buffer : buffer.subarray(0, length)),
  };
};

/** What can be known before any I/O about a download: a well-formed ID, path and options. */
export const checkDownload = (mediaId: unknown, path: unknown, options: unknown): Failure | undefined => {
  if (!isMediaId(mediaId)) return Failure.invalidArgument('mediaId', `malformed media ID ${JSON.stringify(mediaId)}`);
  const pathFailure = path === undefined ? undefined : checkAbsolutePath(path, 'absolutePath');
  if (pathFailure) return pathFailure;
  if (options === null || typeof options !== 'object') return Failure.invalidArgument('options', 'expected { signal?: AbortSignal }');
  const { signal } = options as { signal?: unknown };
  return signal === undefined || isSignal(signal) ? undefined : Failure.invalidArgument('signal', 'expected an AbortSignal');
};

/** The effects and cleanup of one download. Resolves with the bytes (memory) or nothing (file). */
export const downloadEffects = <T extends Uint8Array | void>(
  session: Session,
  mediaId: string,
  target: DownloadTarget,
  createHasher: () => Promise<CreateHasher>,
): { readonly effects: TransferEffects<T>; readonly cleanup: (signal: AbortSignal) => Promise<void> } => {
  let hasher: Hasher | undefined;
  const memory = target.kind === 'memory' ? memorySink() : undefined;
  let sink: FileSink | undefined = memory;
  // Set before the temporary file exists, so a cleanup that comes first still finds and removes it.
  let opening: Promise<FileSink> | undefined;
  let media: MediaState | undefined;

  return {
    effects: {
      async open(signal) {
        media = await session.getMedia(mediaId, { signal });
        throwIfAborted(signal);
        // Kept across a reopen after a failed open: nothing was hashed yet.
        hasher ??= (await createHasher())();
        memory?.allocate(media.size);
        if (target.kind === 'file') {
          opening = target.files().then((files) => files.createSink(target.path));
          sink = await opening;
        }
        return { total: media.size };
      },
      async move(offset, signal, onProgress) {
        if (!sink || !media || !hasher) throw fault(Failure.unknown('download moved before it was opened'));
        const { size, sha256 } = media;
        if (offset !== sink.length) throw fault(Failure.unknown(`resume at ${offset} but ${sink.length} bytes are kept`));
        // Chunks are lent (the transport may read the next into the same memory once asked): the sink
        // copies what it keeps, and the hash is updated before the next is asked for.
        for await (const chunk of session.readMedia(mediaId, offset, { signal, expected: size - offset })) {
          throwIfAborted(signal);
          if (chunk.length === 0) continue;
          if (sink.length + chunk.length > size) throw fault(Failure.integrity(sha256, `more than ${size} bytes`));
          await sink.write(chunk);
          hasher.update(chunk);
          onProgress(sink.length);
        }
        // A stream that ends early is a dropped link: worth resuming from what we have.
        if (sink.length < size) throw fault(Failure.network(`the stream ended at ${sink.length} of ${size} bytes`));
        const actual = hasher.digest();
        if (actual !== sha256) throw fault(Failure.integrity(sha256, actual));
        await sink.commit(signal);
        return (memory ? memory.bytes() : undefined) as T;
      },
      locate: async () => ({ offset: sink?.length ?? 0 }),
    },
    cleanup: async () => {
      const pending = opening?.catch(() => undefined);
      await (sink ?? (await pending))?.discard();
    },
  };
};
