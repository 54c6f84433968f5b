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
 * leave in the order they were sent. For one that also reads runs (`hello.eventRuns`), the events of the
 * turn numbered one after the other go as one `events` frame, joined once for every member of a channel
 * (decision 127).
 * @module
 */
import type { WebSocket } from 'ws';
import { abortFault } from '../core/abort.js';
import { type Clock, systemClock, unrefTimer } from '../core/clock.js';
import { Failure, fault } from '../core/failure.js';
import { CloseCode, EVENTS_FRAME_CHARS, MAX_BATCH_CHARS, type ServerFrame, wsEventText } from '../protocol/ws-frames.js';

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
  /**
   * Joins the events of a run for every socket of an endpoint (one per endpoint, shared like these
   * options). Default: none, each socket joins its runs itself.
   */
  readonly runs?: RunJoiner;
}

/**
 * Joins the JSON of a run of events, remembering the last run it joined: a channel message goes to every
 * member in the same turn, so the members' runs hold the same events (the same strings: an event is
 * serialized once for all, decision 116) and are joined once for all of them rather than once per member
 * (decision 127). It holds one run's text at most, under {@link MAX_BATCH_CHARS}.
 */
export class RunJoiner {
  private items: readonly string[] = [];
  private joined = '';

  /** `items` joined with commas; `items` must not change after (a socket hands over a run it is done with). */
  join(items: readonly string[]): string {
    const last = this.items;
    let same = last.length === items.length;
    for (let i = 0; same && i < items.length; i++) same = last[i] === items[i];
    if (!same) {
      this.items = items;
      this.joined = items.join(',');
    }
    return this.joined;
  }
}

/** What transfers and the session layer use to send on one socket. */
export interface WsOutput {
  /** Sends a control frame: now, or at the end of this turn with the others once batching. */
  sendText(frame: ServerFrame): void;
  /**
   * Sends event `seq` from its JSON (serialized once for every session it goes to): an `event` frame, or,
   * batching for a client that reads `events` frames, part of a run of consecutive events in one.
   */
  sendEvent(seq: number, eventJson: string): void;
  /**
   * From now on control frames of one turn go out as one batch (the client said it reads them), and with
   * `eventRuns` consecutive events among them as one `events` frame (it said it reads those too).
   */
  batch(eventRuns?: boolean): void;
  /** Writes the control frames queued, then closes the socket with `code`. */
  end(code: number, reason?: string): void;
  /**
   * Resolves once `frame` was handed to the socket, in FIFO order with other data frames; rejects on abort.
   * `written`, if given, is called once the socket is done with the frame (written to the kernel, or the
   * socket failed), so that its buffer may be used again; never if the promise rejects (the frame was not
   * handed over, and is free at once).
   */
  sendData(frame: Uint8Array, signal: AbortSignal, written?: () => void): Promise<void>;
  /** Bytes handed to `ws` and not yet to the kernel. */
  readonly pending: number;
  /** Rejects every waiting data frame (the socket closed). */
  close(): void;
}

const DEFAULT_HIGH_WATER_MARK = 256 * 1024;
const DEFAULT_MAX_BUFFERED = 8 * 1024 * 1024;

interface Waiting {
  readonly frame: Uint8Array;
  readonly written: (() => void) | undefined;
  readonly resolve: () => void;
  readonly reject: (error: unknown) => void;
  readonly signal: AbortSignal;
  readonly dispose: () => void;
}

/**
 * The output of one `ws` socket: one object with its methods on its prototype, holding no closures and
 * allocating its data-frame queue and its batch only when used, so a socket that only chats (most of
 * them) costs a few fields (decision 119). Batching is done here rather than by `textBatcher`, whose
 * closures a socket would hold for its life; the frames written are the same (`src/protocol/ws-batch.ts`).
 */
export class SocketOutput implements WsOutput {
  /** Data frames waiting for the socket to drain; `undefined` until the first. */
  private queue: Waiting[] | undefined;
  private unsent = 0;
  private closed = false;
  /**
   * What the client reads, so how control frames go: each at once (`frames`), those of a turn as one batch
   * (`batches`), and with consecutive events among them as one `events` frame (`runs`).
   */
  private reads: 'frames' | 'batches' | 'runs' = 'frames';
  /** The control frames of this turn not yet written (batching); `undefined` when none. */
  private parts: string[] | undefined;
  /** Characters in `parts`, with a separator each. */
  private chars = 0;
  /** Whether the end of this turn writes the batch. */
  private scheduled = false;
  /**
   * The run of consecutive events at the end of this turn's batch (after `parts`): the JSON of events
   * `runSeq`, `runSeq` + 1, …; `undefined` when none is open. Counted in `chars` with its frame.
   */
  private run: string[] | undefined;
  private runSeq = 0;

  constructor(
    private readonly ws: WebSocket,
    /** Shared by every socket of an endpoint: read at use, never copied per socket. */
    private readonly options: WsOutputOptions = {},
  ) {}

  get pending(): number {
    return this.unsent;
  }

  sendText(frame: ServerFrame): void {
    if (this.closed || this.ws.readyState !== this.ws.OPEN) return;
    if (this.reads !== 'frames') this.queueText(JSON.stringify(frame));
    else this.writeText(JSON.stringify(frame));
  }

  /** Sends a control frame already serialized (an event's: decision 116), as `sendText` does. */
  private sendEncoded(text: string): void {
    if (this.closed || this.ws.readyState !== this.ws.OPEN) return;
    if (this.reads !== 'frames') this.queueText(text);
    else this.writeText(text);
  }

  sendEvent(seq: number, eventJson: string): void {
    if (this.reads !== 'runs') return this.sendEncoded(wsEventText(seq, eventJson));
    if (this.closed || this.ws.readyState !== this.ws.OPEN) return;
    const run = this.run;
    if (run !== undefined && seq === this.runSeq + run.length && this.chars + eventJson.length + 1 <= MAX_BATCH_CHARS) {
      run.push(eventJson);
      this.chars += eventJson.length + 1;
      return;
    }
    this.closeRun();
    if (this.parts !== undefined && this.chars + eventJson.length + EVENTS_FRAME_CHARS + 2 > MAX_BATCH_CHARS) this.flush();
    this.run = [eventJson];
    this.runSeq = seq;
    this.chars += eventJson.length + EVENTS_FRAME_CHARS + 1;
    this.schedule();
  }

  batch(eventRuns = false): void {
    this.reads = eventRuns ? 'runs' : 'batches';
  }

  end(code: number, reason?: string): void {
    this.flush();
    this.ws.close(code, reason === undefined ? undefined : closeReason(reason));
  }

  sendData(frame: Uint8Array, signal: AbortSignal, written?: () => void): Promise<void> {
    if (signal.aborted) return Promise.reject(abortFault(signal));
    if (this.closed || this.ws.readyState !== this.ws.OPEN) return Promise.reject(socketClosed());
    const queue = (this.queue ??= []);
    return new Promise<void>((resolve, reject) => {
      const onAbort = (): void => {
        const at = queue.indexOf(waiting);
        if (at >= 0) queue.splice(at, 1);
        reject(abortFault(signal));
      };
      signal.addEventListener('abort', onAbort, { once: true });
      const waiting: Waiting = { frame, written, resolve, reject, signal, dispose: () => signal.removeEventListener('abort', onAbort) };
      queue.push(waiting);
      this.pump();
    });
  }

  close(): void {
    this.closed = true;
    this.parts = undefined;
    this.run = undefined;
    this.chars = 0;
    for (const waiting of this.queue?.splice(0) ?? []) {
      waiting.dispose();
      waiting.reject(socketClosed());
    }
  }

  private write(data: Uint8Array | string, bytes: number, written?: () => void): void {
    this.unsent += bytes;
    this.ws.send(data, () => {
      written?.();
      this.sent(bytes);
    });
  }

  private sent(bytes: number): void {
    this.unsent -= bytes;
    this.pump();
  }

  private writeText(text: string): void {
    if (this.closed || this.ws.readyState !== this.ws.OPEN) return;
    // Bytes as sent (UTF-8), not UTF-16 code units: counted by `.length`, text of three-byte characters
    // let a reader that takes nothing hold three times the bound before its cut.
    this.write(text, Buffer.byteLength(text));
    if (this.unsent > (this.options.maxBufferedBytes ?? DEFAULT_MAX_BUFFERED)) {
      this.closed = true;
      this.options.onTooSlow?.();
      this.ws.close(CloseCode.tooSlow, 'reading too slowly');
      // A peer that does not read will not complete a closing handshake either.
      const ws = this.ws;
      unrefTimer((this.options.clock ?? systemClock).setTimeout(() => ws.terminate(), 1_000));
    }
  }

  /** Queues a control frame for the end of this turn, writing the batch first if it would grow too big. */
  private queueText(text: string): void {
    this.closeRun();
    if (this.parts !== undefined && this.chars + text.length + 2 > MAX_BATCH_CHARS) this.flush();
    (this.parts ??= []).push(text);
    this.chars += text.length + 1;
    this.schedule();
  }

  /** Writes the batch at the end of this turn. */
  private schedule(): void {
    if (!this.scheduled) {
      this.scheduled = true;
      queueMicrotask(() => this.turnEnded());
    }
  }

  /** Ends the open run, if any: it joins the batch as one frame (one event alone as an `event` frame). */
  private closeRun(): void {
    const run = this.run;
    if (run === undefined) return;
    this.run = undefined;
    const seq = this.runSeq;
    const text =
      run.length === 1
        ? wsEventText(seq, run[0] as string)
        : `{"type":"events","seq":${seq},"events":[${this.options.runs?.join(run) ?? run.join(',')}]}`;
    (this.parts ??= []).push(text);
  }

  private turnEnded(): void {
    this.scheduled = false;
    this.flush();
  }

  /** Writes the control frames of this turn (before a data frame or a close, which must not overtake them). */
  private flush(): void {
    this.closeRun();
    const parts = this.parts;
    if (parts === undefined) return;
    this.parts = undefined;
    this.chars = 0;
    this.writeText(parts.length === 1 ? (parts[0] as string) : `[${parts.join(',')}]`);
  }

  private pump(): void {
    const queue = this.queue;
    if (queue === undefined || queue.length === 0) return;
    this.flush();
    const highWaterMark = this.options.highWaterMark ?? DEFAULT_HIGH_WATER_MARK;
    while (!this.closed && this.unsent < highWaterMark && queue.length > 0) {
      const next = queue.shift() as Waiting;
      next.dispose();
      this.write(next.frame, next.frame.length, next.written);
      next.resolve();
    }
  }
}

/**
 * The output of one `ws` socket.
 * @example
 * const output = wsOutput(ws, { maxBufferedBytes: limits.slowReaderBytes });
 */
export const wsOutput = (ws: WebSocket, options: WsOutputOptions = {}): WsOutput => new SocketOutput(ws, options);
