/**
 * Transfers on the WebSocket link, client side, with per-transfer credit (`docs/protocol-ws.md`):
 * - an upload sends data frames only up to the `limit` of the server's last `ack`, and reports progress
 *   from the acknowledged offsets only;
 * - a download grants the server credit as its consumer takes chunks, so bytes in flight are at most
 *   one window, and a consumer that stops stops the server.
 * Both follow the transport's abort contract (prompt `Interrupted`, a `cancel` frame to the server) and
 * its failure contract (a dropped socket is `Network`).
 * @module
 */
import { abortable, abortFault, throwIfAborted } from '../src/core/abort.js';
import { Failure, type FaultError, fault } from '../src/core/failure.js';
import type { ByteSource } from './transport.js';
import type { Link } from './ws-link.js';
import { DATA_HEADER_SIZE, downloadWindowOf, encodeData } from '../src/protocol/ws-frames.js';

/** A promise that the next `wake` resolves; loops re-check their condition after it. */
const signalled = () => {
  let resolve: () => void = () => undefined;
  let promise = new Promise<void>((r) => (resolve = r));
  return {
    next: () => promise,
    wake: () => {
      resolve();
      promise = new Promise<void>((r) => (resolve = r));
    },
  };
};

/**
 * Frame buffers of one upload: one the socket is writing, one waiting in the link's FIFO, and a third
 * filled from the source meanwhile. Memory per upload: three frames (768 KiB with version 2).
 */
const FRAMES = 3;

/** Sends `source` from `offset` to its end; resolves with the server's answer (the upload's state). */
export const wsUpload = async (
  link: Link,
  uploadId: string,
  offset: number,
  source: ByteSource,
  signal: AbortSignal,
  onProgress: (offset: number) => void,
): Promise<unknown> => {
  if (link.state !== 'open') throw fault(Failure.network('reconnecting'));
  // A listener added to an aborted signal never fires: an upload already cancelled sends nothing.
  throwIfAborted(signal);
  // Aborts on the caller's signal or when the server answers early (a failure): every wait races it.
  const stop = new AbortController();
  const onAbort = (): void => stop.abort(abortFault(signal));
  signal.addEventListener('abort', onAbort, { once: true });
  const credit = signalled();
  let limit = offset;
  let acked = offset;
  let reporting = false;
  const report = (): void => {
    reporting = false;
    if (!signal.aborted) onProgress(acked);
  };
  const transfer = link.transfer({
    ack(at, upTo) {
      limit = Math.max(limit, upTo);
      if (at > acked) {
        acked = at;
        // The acknowledgements of one batch make one progress report (each is an event of the transfer
        // machine), with the latest offset, before the call's answer that may follow them is seen.
        if (!reporting) {
          reporting = true;
          queueMicrotask(report);
        }
      }
      credit.wake();
    },
  });
  let answered = false;
  const result = link.call({ op: 'append', transfer: transfer.id, uploadId, offset }, undefined, transfer.id);
  result.then(
    () => (answered = true),
    (error: FaultError) => {
      answered = true;
      if (!stop.signal.aborted) stop.abort(error);
    },
  );
  /** What each frame buffer is doing: the promise of its last send, until the link is done with it. */
  const sending: Promise<void>[] = [];
  try {
    let at = offset;
    const chunkSize = link.chunkSize;
    // FRAMES buffers for the whole upload, used in turn: one is filled from the source while the link
    // sends the others; `link.data` resolves once the socket is done with one (copied or written it).
    const frames = Array.from({ length: FRAMES }, () => new Uint8Array(DATA_HEADER_SIZE + chunkSize));
    let turn = 0;
    for await (const chunk of source.chunks(offset, chunkSize, stop.signal)) {
      // A chunk goes in pieces as far as the credit allows when a frame is more than the credit left.
      for (let start = 0; start < chunk.length; ) {
        while (at >= limit) await abortable(credit.next(), stop.signal);
        const piece = chunk.subarray(start, Math.min(chunk.length, start + (limit - at)));
        const slot = turn++ % FRAMES;
        // Not raced with `abortable`: that would leave this promise's rejection unhandled after an abort.
        await sending[slot];
        const sent = link.data(encodeData(transfer.id, at, piece, frames[slot]), stop.signal);
        // Awaited when its buffer comes round again, or at the end; handled now so none is left unhandled.
        sent.catch(() => undefined);
        sending[slot] = sent;
        at += piece.length;
        start += piece.length;
      }
    }
    await Promise.all(sending);
    return await abortable(result, stop.signal);
  } catch (error) {
    throwIfAborted(signal);
    // The server's failure, if it answered; otherwise what stopped the loop (a source error).
    throw stop.signal.aborted ? (stop.signal.reason as FaultError) : error;
  } finally {
    signal.removeEventListener('abort', onAbort);
    transfer.end();
    if (!answered) link.control({ type: 'cancel', transfer: transfer.id });
  }
};

/** The bytes of `mediaId` from `offset` to its end, as the server sends them within the granted credit. */
export async function* wsDownload(
  link: Link,
  mediaId: string,
  offset: number,
  signal: AbortSignal,
): AsyncIterable<Uint8Array> {
  if (link.state !== 'open') throw fault(Failure.network('reconnecting'));
  const chunks: Uint8Array[] = [];
  const arrived = signalled();
  let expected = offset;
  const window = downloadWindowOf(link.chunkSize);
  let granted = offset + window;
  let failure: FaultError | undefined;
  let finished = false;
  const transfer = link.transfer({
    data({ offset: at, chunk }) {
      if (at !== expected) {
        failure ??= fault(Failure.network(`data at ${at}, expected ${expected}`));
        link.recycle(chunk);
      } else {
        chunks.push(chunk);
        expected += chunk.length;
      }
      arrived.wake();
    },
  });
  link.call({ op: 'read', transfer: transfer.id, mediaId, offset, limit: granted }, undefined, transfer.id).then(
    () => {
      finished = true;
      arrived.wake();
    },
    (error: FaultError) => {
      failure ??= error;
      arrived.wake();
    },
  );
  let consumed = offset;
  try {
    for (;;) {
      const chunk = chunks.shift();
      if (chunk) {
        consumed += chunk.length;
        // Credit in steps of a quarter window, not per chunk: fewer frames, the same bound.
        if (consumed + window - granted >= window / 4) {
          granted = consumed + window;
          link.control({ type: 'credit', transfer: transfer.id, limit: granted });
        }
        yield chunk;
        // The consumer asked for the next: it is done with this one (chunks are lent, `Session.readMedia`).
        link.recycle(chunk);
      } else if (failure) throw failure;
      else if (finished) return;
      else await abortable(arrived.next(), signal);
    }
  } finally {
    transfer.end();
    if (!finished && failure === undefined) link.control({ type: 'cancel', transfer: transfer.id });
    // Chunks that arrived and were never handed out.
    for (const chunk of chunks.splice(0)) link.recycle(chunk);
  }
}
