/**
 * The sending half of one server socket: control frames go out at once, data frames wait in one FIFO
 * until the socket has drained below a high-water mark, so media never piles up in memory and a control
 * frame (a chat message, an acknowledgement) waits behind at most that many bytes. Each transfer queues
 * its next frame only after the previous one left, so the FIFO takes transfers in turn (round robin).
 *
 * "Drained" is counted with `ws`'s send callbacks, which fire once a frame is handed to the kernel. A
 * peer that reads so slowly that control frames alone pass `maxBufferedBytes` is cut (`tooSlow`).
 *
 * For a client that reads batches (`hello.batch`), control frames of one turn go out together as one
 * text frame (`src/protocol/ws-batch.ts`); a data frame or a close first writes what is queued, so frames
 * leave in the order they were sent.
 * @module
 */
import type { WebSocket } from 'ws';
import { abortFault } from '../core/abort.js';
import { type Clock, systemClock, unrefTimer } from '../core/clock.js';
import { Failure, fault } from '../core/failure.js';
import { type TextBatcher, textBatcher } from '../protocol/ws-batch.js';
import { CloseCode, type ServerFrame } from '../protocol/ws-frames.js';

/** A data frame that can no longer go: the link dropped, as the transfer contract says (`Network`). */
const socketClosed = (): Error => fault(Failure.network('the socket closed'));

/**
 * A close reason within the protocol's 123 bytes of UTF-8 (`ws` throws beyond), cut at a character:
 * a reason may quote a hostile user ID of non-ASCII characters.
 */
export const closeReason = (reason: string): string => {
  const bytes = Buffer.from(reason, 'utf8');
  return bytes.length <= 123 ? reason : bytes.subarray(0, 123).toString('utf8').replace(/\uFFFD+$/u, '');
};

/** Options of {@link wsOutput}. */
export interface WsOutputOptions {
  /** Data frames wait while more than this many bytes are unsent. Default: 256 KiB. */
  readonly highWaterMark?: number;
  /** Unsent bytes beyond which the peer is cut as too slow. Default: 8 MiB. */
  readonly maxBufferedBytes?: number;
  /** Told when the peer is cut as too slow (metrics). */
  readonly onTooSlow?: () => void;
  /** The clock of the cut of a too-slow peer that does not complete the close. Default: the system clock. */
  readonly clock?: Clock;
}

/** What transfers and the session layer use to send on one socket. */
export interface WsOutput {
  /** Sends a control frame: now, or at the end of this turn with the others once batching. */
  sendText(frame: ServerFrame): void;
  /**
   * Sends a control frame already serialized (the JSON text of a `ServerFrame`), as `sendText` does: an
   * event serialized once for every session it goes to (decision 116).
   */
  sendEncoded(text: string): void;
  /** From now on control frames of one turn go out as one batch (the client said it reads them). */
  batch(): void;
  /** Writes the control frames queued, then closes the socket with `code`. */
  end(code: number, reason?: string): void;
  /** Resolves once `frame` was handed to the socket, in FIFO order with other data frames; rejects on abort. */
  sendData(frame: Uint8Array, signal: AbortSignal): Promise<void>;
  /** Bytes handed to `ws` and not yet to the kernel. */
  readonly pending: number;
  /** Rejects every waiting data frame (the socket closed). */
  close(): void;
}

interface Waiting {
  readonly frame: Uint8Array;
  readonly resolve: () => void;
  readonly reject: (error: unknown) => void;
  readonly signal: AbortSignal;
  readonly dispose: () => void;
}

/** The output of one `ws` socket. */
export const wsOutput = (ws: WebSocket, options: WsOutputOptions = {}): WsOutput => {
  const highWaterMark = options.highWaterMark ?? 256 * 1024;
  const maxBufferedBytes = options.maxBufferedBytes ?? 8 * 1024 * 1024;
  const clock = options.clock ?? systemClock;
  const queue: Waiting[] = [];
  let pending = 0;
  let closed = false;
  let batcher: TextBatcher | undefined;

  const sent = (bytes: number) => () => {
    pending -= bytes;
    pump();
  };
  const write = (data: Uint8Array | string, bytes: number): void => {
    pending += bytes;
    ws.send(data, sent(bytes));
  };
  const writeText = (text: string): void => {
    if (closed || ws.readyState !== ws.OPEN) return;
    write(text, text.length);
    if (pending > maxBufferedBytes) {
      closed = true;
      options.onTooSlow?.();
      ws.close(CloseCode.tooSlow, 'reading too slowly');
      // A peer that does not read will not complete a closing handshake either.
      unrefTimer(clock.setTimeout(() => ws.terminate(), 1_000));
    }
  };
  const pump = (): void => {
    if (queue.length > 0) batcher?.flush();
    while (!closed && pending < highWaterMark && queue.length > 0) {
      const next = queue.shift() as Waiting;
      next.dispose();
      write(next.frame, next.frame.length);
      next.resolve();
    }
  };

  return {
    sendText(frame) {
      if (closed || ws.readyState !== ws.OPEN) return;
      if (batcher) batcher.push(frame);
      else writeText(JSON.stringify(frame));
    },
    sendEncoded(text) {
      if (closed || ws.readyState !== ws.OPEN) return;
      if (batcher) batcher.pushText(text);
      else writeText(text);
    },
    batch() {
      batcher ??= textBatcher(writeText);
    },
    end(code, reason) {
      batcher?.flush();
      ws.close(code, reason === undefined ? undefined : closeReason(reason));
    },
    sendData(frame, signal) {
      if (signal.aborted) return Promise.reject(abortFault(signal));
      if (closed || ws.readyState !== ws.OPEN) return Promise.reject(socketClosed());
      return new Promise<void>((resolve, reject) => {
        const onAbort = (): void => {
          const at = queue.indexOf(waiting);
          if (at >= 0) queue.splice(at, 1);
          reject(abortFault(signal));
        };
        signal.addEventListener('abort', onAbort, { once: true });
        const waiting: Waiting = { frame, resolve, reject, signal, dispose: () => signal.removeEventListener('abort', onAbort) };
        queue.push(waiting);
        pump();
      });
    },
    get pending() {
      return pending;
    },
    close() {
      closed = true;
      batcher?.clear();
      for (const waiting of queue.splice(0)) {
        waiting.dispose();
        waiting.reject(socketClosed());
      }
    },
  };
};
