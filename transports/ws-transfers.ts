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
import { abortable, abortFault } from '../src/core/abort.js';
import { Failure, type FaultError, fault } from '../src/core/failure.js';
import type { ByteSource } from './transport.js';
import type { Link } from './ws-link.js';
import { encodeData, WS_CHUNK_SIZE, WS_MAX_FRAME, WS_DOWNLOAD_WINDOW } from '../src/protocol/ws-frames.js';

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
  try {
    let at = offset;
    // One frame buffer for the whole upload: `link.data` resolves once the socket took (copied) the frame.
    const frame = new Uint8Array(WS_MAX_FRAME);
    for await (const chunk of source.chunks(offset, WS_CHUNK_SIZE, stop.signal)) {
      while (at + chunk.length > limit) await abortable(credit.next(), stop.signal);
      // Not raced with `abortable`: that would leave this promise's rejection unhandled after an abort.
      await link.data(encodeData(transfer.id, at, chunk, frame), stop.signal);
      at += chunk.length;
    }
    return await abortable(result, stop.signal);
  } catch (error) {
    if (signal.aborted) throw abortFault(signal);
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
  let granted = offset + WS_DOWNLOAD_WINDOW;
  let failure: FaultError | undefined;
  let finished = false;
  const transfer = link.transfer({
    data({ offset: at, chunk }) {
      if (at !== expected) failure ??= fault(Failure.network(`data at ${at}, expected ${expected}`));
      else {
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
        if (consumed + WS_DOWNLOAD_WINDOW - granted >= WS_DOWNLOAD_WINDOW / 4) {
          granted = consumed + WS_DOWNLOAD_WINDOW;
          link.control({ type: 'credit', transfer: transfer.id, limit: granted });
        }
        yield chunk;
      } else if (failure) throw failure;
      else if (finished) return;
      else await abortable(arrived.next(), signal);
    }
  } finally {
    transfer.end();
    if (!finished && failure === undefined) link.control({ type: 'cancel', transfer: transfer.id });
  }
}
