/**
 * The effects of one download: start reading (learning size and SHA-256), write chunks to a sink (a
 * temporary file beside the target, or memory), verify the SHA-256, then commit. A resume continues
 * from the bytes already received with the same running hash. Cleanup removes the temporary file.
 * @module
 */
import type { TransferEffects } from '../machines/transfer.js';
import type { DownloadStart, Session } from '../transports/transport.js';
import { onAbort, throwIfAborted } from './abort.js';
import { concatBytes } from './bytes.js';
import { Failure, fault } from './failure.js';
import type { FileAccess, FileSink } from './files.js';
import type { CreateHasher } from './hash.js';

/** Where downloaded bytes go. */
export type DownloadTarget =
  | { readonly kind: 'memory' }
  | { readonly kind: 'file'; readonly path: string; readonly files: () => Promise<FileAccess> };

const memorySink = (): FileSink & { bytes(): Uint8Array } => {
  let chunks: Uint8Array[] = [];
  let length = 0;
  let discarded = false;
  return {
    get length() {
      return length;
    },
    write: async (bytes) => {
      if (discarded) throw fault(Failure.interrupted('the download was discarded'));
      chunks.push(bytes);
      length += bytes.length;
    },
    commit: async (signal) => {
      throwIfAborted(signal);
    },
    discard: async () => {
      discarded = true;
      chunks = [];
      length = 0;
    },
    bytes: () => concatBytes(chunks, length),
  };
};

/** The effects and cleanup of one download. Resolves with the bytes (memory) or nothing (file). */
export const downloadEffects = <T extends Uint8Array | void>(
  session: Session,
  mediaId: string,
  target: DownloadTarget,
  createHasher: CreateHasher,
): { readonly effects: TransferEffects<T>; readonly cleanup: () => Promise<void> } => {
  const hasher = createHasher();
  const memory = target.kind === 'memory' ? memorySink() : undefined;
  let sink: FileSink | undefined = memory;
  // Set while the temporary file is being created, so a cleanup that comes first still finds it.
  let opening: Promise<FileSink> | undefined;
  // The stream opened by `open`, used by the first `move` so the first request is not made twice. It has
  // its own controller: the `open` actor's signal is never aborted once `open` has resolved.
  let started: { readonly start: DownloadStart; readonly controller: AbortController } | undefined;
  let size = 0;
  let sha256 = '';

  return {
    effects: {
      async open(signal) {
        const controller = new AbortController();
        const dispose = onAbort(signal, () => controller.abort(signal.reason));
        try {
          const start = await session.download(mediaId, 0, { signal: controller.signal });
          started = { start, controller };
        } finally {
          dispose();
        }
        size = started.start.size;
        sha256 = started.start.sha256;
        if (target.kind === 'file') {
          opening = target.files().then((files) => files.createSink(target.path));
          sink = await opening;
        }
        return { total: size };
      },
      async move(offset, signal, onProgress) {
        if (!sink) throw fault(Failure.unknown('download moved before it was opened'));
        if (offset !== sink.length) throw fault(Failure.unknown(`resume at ${offset} but ${sink.length} bytes are kept`));
        const first = started && offset === 0 ? started : undefined;
        started = undefined;
        const dispose = first ? onAbort(signal, () => first.controller.abort(signal.reason)) : () => undefined;
        try {
          const from = first ? first.start : await session.download(mediaId, offset, { signal });
          for await (const chunk of from.chunks) {
            throwIfAborted(signal);
            if (chunk.length === 0) continue;
            if (sink.length + chunk.length > size) throw fault(Failure.integrity(sha256, `more than ${size} bytes`));
            await sink.write(chunk);
            hasher.update(chunk);
            onProgress(sink.length);
          }
        } finally {
          dispose();
        }
        // A stream that ends early is a dropped link: worth resuming from what we have.
        if (sink.length < size) throw fault(Failure.network(`the stream ended at ${sink.length} of ${size} bytes`));
        const actual = hasher.digest();
        if (actual !== sha256) throw fault(Failure.integrity(sha256, actual));
        await sink.commit(signal);
        return (memory ? memory.bytes() : undefined) as T;
      },
      locate: async () => sink?.length ?? 0,
    },
    cleanup: async () => {
      started?.controller.abort();
      started = undefined;
      const pending = opening?.catch(() => undefined);
      await (sink ?? (await pending))?.discard();
    },
  };
};
