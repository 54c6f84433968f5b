/**
 * Transfers on a WebSocket, server side, with per-transfer credit:
 * - an upload feeds the hub's `appendUpload` from a bounded queue; the client may send only up to the
 *   `limit` of the last `ack` (acknowledged offset + window), and acknowledgements come from the store
 *   as it keeps bytes, so bytes in server memory per upload are at most one window;
 * - a download sends data frames only up to the client's `limit` (its `credit` frames), through the
 *   socket's drained FIFO, so a client that stops reading stops the read.
 * @module
 */
import { throwIfAborted } from '../core/abort.js';
import { Failure, fault } from '../core/failure.js';
import type { Hub, UploadStatus } from '../hub/hub.js';
import { DATA_HEADER_SIZE, WS_CHUNK_SIZE, WS_UPLOAD_WINDOW, writeDataHeader } from '../protocol/ws-frames.js';
import type { WsOutput } from './ws-output.js';

/**
 * The most data frames an upload may have queued: a client sending tiny frames is refused, not buffered.
 * A client whose frames average at least 1 KiB never reaches it within its credit.
 */
const MAX_QUEUED_FRAMES = WS_UPLOAD_WINDOW / 1024;

/**
 * The least room of a frame a download lends the store to read into (decision 135): a client that grants
 * credit a few bytes at a time gets its frames cut from a whole chunk read once, not a disk read each.
 */
const MIN_LENT = 16 * 1024;

/** A transfer the connection routes frames to. */
export interface ServerTransfer {
  /** A data frame for this transfer; a `Failure` ends the transfer with it. */
  receive(offset: number, chunk: Uint8Array): Failure | undefined;
  /** A `credit` frame from the client. */
  credit(limit: number): void;
}

/**
 * Wakes one waiting loop, also when the signal aborts; the loop re-checks its condition and the signal.
 * (Resolving rather than rejecting on abort: the store stops reading on the signal itself, and a
 * generator that threw while nobody awaited it would be an unhandled rejection.)
 */
const wakeable = () => {
  let wake: (() => void) | undefined;
  return {
    wait: (signal: AbortSignal): Promise<void> =>
      new Promise<void>((resolve) => {
        if (signal.aborted) return resolve();
        const onAbort = (): void => resolve();
        signal.addEventListener('abort', onAbort, { once: true });
        wake = () => {
          signal.removeEventListener('abort', onAbort);
          resolve();
        };
      }),
    wake: () => {
      const w = wake;
      wake = undefined;
      w?.();
    },
  };
};

/**
 * Starts an upload: resolves with the hub's state once the last byte is kept. `transfer.receive` must
 * be fed the client's data frames; failures of the frames abort the append through `controller`.
 * `window()` is the credit to grant beyond the kept offset now (the socket's uploads share a budget).
 */
export const serverUpload = (
  hub: Hub,
  userId: string,
  output: WsOutput,
  request: { readonly transfer: number; readonly uploadId: unknown; readonly offset: number },
  controller: AbortController,
  window: () => number,
  /** Told once the hub knows the upload as this user's, before any byte: only then is it tracked. */
  accepted: (uploadId: string) => void = () => undefined,
): { readonly transfer: ServerTransfer; readonly done: Promise<UploadStatus> } => {
  const { signal } = controller;
  const chunks: Uint8Array[] = [];
  const { wait, wake } = wakeable();
  let next = request.offset;
  // What the last `ack` allowed, and the offset it acknowledged. Credit once granted is never taken back.
  let limit = request.offset + window();
  let acked = request.offset;
  let size = Number.POSITIVE_INFINITY;

  async function* received(): AsyncIterable<Uint8Array> {
    for (;;) {
      if (signal.aborted) return;
      const chunk = chunks.shift();
      if (chunk) yield chunk;
      else if (next >= size) return;
      else await wait(signal);
    }
  }

  const transfer: ServerTransfer = {
    receive(offset, chunk) {
      if (offset !== next) return Failure.invalidArgument('offset', `data at ${offset}, expected ${next}`);
      if (next + chunk.length > limit) return Failure.invalidArgument('credit', `data up to ${next + chunk.length} beyond the credit ${limit}`);
      if (chunks.length >= MAX_QUEUED_FRAMES) return Failure.invalidArgument('frame', `more than ${MAX_QUEUED_FRAMES} data frames queued`);
      chunks.push(chunk);
      next += chunk.length;
      wake();
      return undefined;
    },
    credit: () => undefined,
  };

  const done = (async () => {
    const state = await hub.uploadStatus(userId, request.uploadId);
    // A complete upload is not this session's to clean up: an append to it is refused (Conflict) below.
    if (!state.complete) accepted(state.uploadId);
    size = state.size;
    output.sendText({ type: 'ack', transfer: request.transfer, offset: request.offset, limit });
    return hub.appendUpload(userId, request.uploadId, request.offset, received(), {
      signal,
      // Each chunk is a view into its own data frame, fresh from the socket.
      owned: true,
      onProgress: (at) => {
        // An acknowledgement once a quarter of the last credit is kept, and at the last byte: the client
        // may always send that far, so the next one always comes, and 30 MiB take 30 frames, not 480.
        if (at - acked < (limit - acked) / 4 && at < size) return;
        acked = at;
        limit = Math.max(limit, at + window());
        output.sendText({ type: 'ack', transfer: request.transfer, offset: at, limit });
      },
    });
  })();
  return { transfer, done };
};

/**
 * Starts a download: data frames of up to `chunkSize` media bytes (the socket's protocol version) from
 * `offset` within the client's credit; resolves after the last one. The store reads each chunk into the
 * frame being filled where it can (`ReadInto`), and a frame goes back to the download's few once the
 * socket has written it: a download allocates a handful of frames, not one per frame plus the store's
 * chunks, whose garbage cost the server more than the bytes did (decision 135). A store that reads into
 * buffers of its own has its chunks copied into the frames, as before.
 */
export const serverRead = (
  hub: Hub,
  output: WsOutput,
  request: { readonly transfer: number; readonly mediaId: unknown; readonly offset: number; readonly limit: number },
  controller: AbortController,
  chunkSize: number = WS_CHUNK_SIZE,
): { readonly transfer: ServerTransfer; readonly done: Promise<{ size: number }> } => {
  const { signal } = controller;
  const { wait, wake } = wakeable();
  let limit = request.limit;
  const transfer: ServerTransfer = {
    receive: () => Failure.invalidArgument('transfer', `transfer ${request.transfer} is a download: it takes no data`),
    credit(next) {
      if (next > limit) limit = next;
      wake();
    },
  };
  const done = (async () => {
    const { mediaId, size } = await hub.mediaInfo(request.mediaId);
    if (request.offset > size) throw fault(Failure.invalidArgument('offset', `expected 0 to ${size}, got ${request.offset}`));
    /** Offset of the next frame: every byte before it was handed to the socket. */
    let at = request.offset;
    /** Waits until the client grants bytes beyond `at` (or every byte was sent). */
    const credited = async (): Promise<void> => {
      while (limit <= at && at < size) {
        await wait(signal);
        throwIfAborted(signal);
      }
    };
    // The store's file is opened only once the client wants bytes: a read it never credits holds nothing.
    await credited();
    /** Frames the socket is done with, to fill again (at most the few in flight: see `WsOutput.sendData`). */
    const free: Uint8Array<ArrayBuffer>[] = [];
    /** Media bytes a frame holds at most: a small media's frames are its size. */
    const capacity = Math.min(chunkSize, size - request.offset);
    /**
     * Where the store reads when the room left in the frame is small (a client granting credit in tiny
     * steps): a whole chunk, cut into frames from memory, rather than a disk read per tiny frame.
     */
    let spare: Uint8Array | undefined;
    /** The frame being filled, its media bytes and how many it has. */
    let frame: Uint8Array<ArrayBuffer> | undefined;
    let length = 0;
    let filled = 0;
    /** Starts a frame at `at`: no more than the client granted, so a window smaller than a frame still moves. */
    const begin = (): Uint8Array<ArrayBuffer> => {
      length = Math.min(chunkSize, size - at, limit - at);
      if (length <= 0) throw fault(Failure.unknown(`media ${mediaId} has more than its ${size} bytes`));
      const started = free.pop() ?? new Uint8Array(DATA_HEADER_SIZE + capacity);
      writeDataHeader(started, request.transfer, at);
      filled = 0;
      frame = started;
      return started;
    };
    /**
     * Lends the store the rest of the frame being filled (at most the `most` it asks for): a chunk read
     * there is in place. Less room than {@link MIN_LENT} bytes (unless that is all the media has left)
     * gets the spare chunk instead.
     */
    const into = (most: number): Uint8Array => {
      const target = frame ?? begin();
      const room = Math.min(length - filled, most);
      if (room < Math.min(MIN_LENT, size - at - filled)) return (spare ??= new Uint8Array(capacity)).subarray(0, Math.min(capacity, most));
      return target.subarray(DATA_HEADER_SIZE + filled, DATA_HEADER_SIZE + filled + room);
    };
    /** Sends the frame once full (or at the end); it comes back to `free` once written. */
    const flush = async (): Promise<void> => {
      const full = frame;
      if (!full) return;
      frame = undefined;
      await output.sendData(full.subarray(0, DATA_HEADER_SIZE + filled), signal, () => free.push(full));
      at += filled;
    };
    for await (const chunk of hub.readMedia(mediaId, request.offset, signal, into)) {
      for (let start = 0; start < chunk.length; ) {
        if (!frame) await credited();
        const target = frame ?? begin();
        const take = Math.min(chunk.length - start, length - filled);
        const part = chunk.subarray(start, start + take);
        const place = target.byteOffset + DATA_HEADER_SIZE + filled;
        if (part.buffer !== target.buffer || part.byteOffset !== place) target.set(part, DATA_HEADER_SIZE + filled);
        filled += take;
        start += take;
        if (filled === length) await flush();
      }
      if (!frame) {
        // Every byte is sent: the store is not asked to read on (it would be lent a frame past the end).
        if (at >= size) break;
        // Before the store reads on: the next frame is lent within the client's credit.
        await credited();
      }
    }
    await flush();
    return { size };
  })();
  return { transfer, done };
};
