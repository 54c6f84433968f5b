/**
 * A WebSocket client for Node that reads its socket into one reused buffer and receives large binary
 * messages into pooled blocks the caller hands back, for the WebSocket transport on Node (`ws:` and
 * `wss:` URLs; `node-websocket.ts` chooses, decision 140).
 *
 * Why not `ws`'s client for receiving: Node gives every socket read a fresh buffer, and `ws` gathers
 * each frame that spans reads into one more fresh buffer. A 30 MiB download is then ~60 MiB of buffers
 * outside V8's heap; V8 answers that "external memory pressure" with full collections: 33 mark-compacts
 * for 12 downloads against 8 over HTTP, GC 30 ms per download against 14 (profile in decision 140).
 * `ws` has no option to receive into memory the caller gives; Node's `onread` socket option does, as
 * for the HTTP transport's media `GET` (`node-direct-get.ts`). So the receiving half is spoken here:
 * - the opening handshake of RFC 6455 §4.1 (no extension, no subprotocol is offered or accepted);
 * - frames from the server: unmasked, no RSV bit, lengths of 7, 16 and 64 bits, up to
 *   {@link MAX_MESSAGE_BYTES} per message, fragmentation, control frames between fragments;
 * - pings answered with pongs, the closing handshake both ways (a close waits at most
 *   {@link CLOSE_TIMEOUT_MS} for the other side), text checked to be UTF-8;
 * - a violation fails the connection (RFC 6455 §7.1.7): a close frame with the RFC's code (1002, 1007,
 *   1009) and the socket ended; `onclose` reports that code (`ws` reports 1006 locally).
 *
 * Sending uses `ws`'s own `Sender.frame` (masking with `bufferutil` when it is installed), so frames
 * leave exactly as `ws` builds them, one `write` per frame (header and payload corked together).
 *
 * Memory: a read lands in a buffer that is reused for every read, and a frame's payload is copied out
 * of it at once (nothing is lent from it, so reading never pauses for one slow consumer of a socket many
 * transfers share). Over TCP every socket of the process reads into the same buffer of
 * {@link READ_BUFFER_BYTES}: Node reads a TCP socket only from its event loop and hands the bytes to the
 * callback synchronously, which copies them out before it returns, so an idle socket holds none. Over
 * TLS each socket has a buffer of {@link TLS_READ_BUFFER_BYTES} (a record is at most 16 KiB): Node
 * decrypts records from inside its TLS code, which the socket's own calls can enter. Copying out at once
 * is also what makes TLS safe: Node decrypts into the buffer even while a consumer holds bytes, and none
 * are held. A binary message of {@link POOL_FROM_BYTES} to {@link POOLED_MESSAGE_BYTES} bytes is
 * received into a block taken from a small process-wide pool; the caller gives the block back with
 * `recycle` once it is done with the bytes, and at most {@link SPARE_BLOCKS} wait for reuse. A caller
 * that never recycles only loses the reuse: its blocks are garbage like any buffer.
 * @module
 */
import { createHash, randomBytes } from 'node:crypto';
import { Buffer, isUtf8 } from 'node:buffer';
import type { Socket } from 'node:net';
import * as wsModule from 'ws';
import { connectReading, DIRECT_BUFFER, parseHead } from './node-direct-get.js';
import { concatBytes } from '../core/bytes.js';
import type { WebSocketLike } from './websocket.js';

/**
 * Bytes a TCP read lands in, in the one buffer every plain socket of the process reads into: 256 KiB
 * downloads 30 MiB about a tenth faster than Node's usual 64 KiB reads (decision 140).
 */
export const READ_BUFFER_BYTES = DIRECT_BUFFER;

/** Bytes of each TLS socket's own read buffer: records decrypt one at a time, at most 16 KiB each. */
export const TLS_READ_BUFFER_BYTES = 64 * 1024;

/** The buffer every plain TCP socket reads into (see the module's notes), made on first use. */
let sharedReadBuffer: Uint8Array | undefined;

/** The largest message accepted, as `ws`'s default `maxPayload`: a larger one closes the socket with 1009. */
export const MAX_MESSAGE_BYTES = 100 * 1024 * 1024;

/**
 * The largest binary message received into a pooled block, and the blocks' size: ferry's largest data
 * frame (256 KiB of media and a 16-byte header, `WS_MAX_DATA_FRAME`) with room to spare; a spec checks
 * that it fits.
 */
export const POOLED_MESSAGE_BYTES = 260 * 1024;

/** Binary messages smaller than this are plain copies: a pooled block would be mostly empty. */
export const POOL_FROM_BYTES = 16 * 1024;

/** Whether a binary message of `length` bytes is received into a pooled block. */
const pooled = (length: number): boolean => length >= POOL_FROM_BYTES && length <= POOLED_MESSAGE_BYTES;

/** Blocks waiting for reuse, process-wide (2 MiB): a download's window is four frames, nine run at once. */
export const SPARE_BLOCKS = 8;

const spare: Uint8Array[] = [];
/** The memory of blocks handed out and not recycled yet: what `recycle` accepts, once each. */
const lent = new WeakSet<ArrayBufferLike>();

/** A block for a message of `length` bytes (a view of its first `length` bytes). */
const takeBlock = (length: number): Uint8Array => {
  const block = spare.pop() ?? new Uint8Array(POOLED_MESSAGE_BYTES);
  lent.add(block.buffer);
  return block.subarray(0, length);
};

/**
 * Gives back the memory of a binary message (or of any view of it) received by a {@link DirectWebSocket}:
 * the caller and everyone it lent the bytes to are done with them. Once per message: an array that is not
 * such a message, and a repeat before the block was handed out again, are ignored, but a repeat after
 * that would free the block under its next message.
 */
export const recycleMessage = (bytes: Uint8Array): void => {
  if (!lent.delete(bytes.buffer)) return;
  if (spare.length < SPARE_BLOCKS) spare.push(new Uint8Array(bytes.buffer));
};

/** Opcodes of RFC 6455 §5.2. */
const enum Op {
  Continuation = 0x0,
  Text = 0x1,
  Binary = 0x2,
  Close = 0x8,
  Ping = 0x9,
  Pong = 0xa,
}

/** Close codes a peer may send (RFC 6455 §7.4; 1004–1006 and 1015 are never sent), as `ws` checks them. */
const sendableCloseCode = (code: number): boolean => (code >= 1000 && code <= 1014 && code !== 1004 && code !== 1005 && code !== 1006) || (code >= 3000 && code <= 4999);

/** What a {@link FrameReader} found, in the order the frames came. */
export interface FrameHandler {
  /** A whole text or binary message. A binary one is the handler's; a pooled one may be recycled. */
  message(data: string | Uint8Array): void;
  /** A ping, with its payload (a copy). */
  ping(payload: Uint8Array): void;
  /** The peer's close frame: its code (1005 when it gave none) and reason. Nothing is read after it. */
  close(code: number, reason: string): void;
  /** The frames broke RFC 6455 (or the size bound): the close code to fail the connection with. Nothing is read after it. */
  violation(code: number, reason: string): void;
}

const EMPTY = new Uint8Array(0);

/** A copy of `bytes` in memory of its own (`Buffer#slice` would make a view). */
const copyOf = (bytes: Uint8Array): Uint8Array => new Uint8Array(bytes);

/** A `Buffer` over the same memory as `bytes` (no copy), for `ws`'s `Sender.frame` and string decoding. */
export const asBuffer = (bytes: Uint8Array): Buffer => Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);

/**
 * Parses the frames a server sends (unmasked) from bytes in any pieces. Nothing of a piece is kept after
 * `push` returns: payloads are copied out (a text message is decoded into a string), so the caller may
 * read the next bytes into the same memory.
 */
export class FrameReader {
  readonly #handler: FrameHandler;
  readonly #maxMessage: number;
  #stopped = false;
  // The header being read: its bytes so far, and how many it has.
  readonly #header = new Uint8Array(14);
  #have = 0;
  #need = 2;
  #inPayload = false;
  // The frame whose payload is being read.
  #fin = false;
  #opcode = 0;
  #remaining = 0;
  /** Where a pooled binary message spanning pieces is gathered; `#filled` bytes of it so far. */
  #target: Uint8Array | undefined;
  #filled = 0;
  /** Any other payload spanning pieces: copies of its pieces. */
  #parts: Uint8Array[] | undefined;
  /** A fragmented message: its opcode, its fragments so far and their bytes. */
  #fragments: { readonly opcode: number; readonly parts: Uint8Array[]; bytes: number } | undefined;

  constructor(handler: FrameHandler, maxMessage: number = MAX_MESSAGE_BYTES) {
    this.#handler = handler;
    this.#maxMessage = maxMessage;
  }

  /** Reads the frames in `bytes` (a piece of the stream, in order). */
  push(bytes: Uint8Array): void {
    let at = 0;
    while (!this.#stopped && at < bytes.length) {
      at = this.#inPayload ? this.#readPayload(bytes, at) : this.#readHeader(bytes, at);
    }
  }

  #fail(code: number, reason: string): void {
    this.#stopped = true;
    this.#target = this.#parts = this.#fragments = undefined;
    this.#handler.violation(code, reason);
  }

  #readHeader(bytes: Uint8Array, from: number): number {
    let at = from;
    const header = this.#header;
    while (this.#have < this.#need && at < bytes.length) header[this.#have++] = bytes[at++] as number;
    if (this.#have < this.#need) return at;
    const first = header[0] as number;
    const second = header[1] as number;
    if (this.#need === 2) {
      if ((first & 0x70) !== 0) return this.#fail(1002, 'a frame with an RSV bit set (no extension was agreed)'), at;
      if ((second & 0x80) !== 0) return this.#fail(1002, 'a masked frame from the server'), at;
      const short = second & 0x7f;
      if (short >= 126) {
        this.#need = short === 126 ? 4 : 10;
        return at;
      }
    }
    let length = second & 0x7f;
    if (length === 126) length = ((header[2] as number) << 8) | (header[3] as number);
    else if (length === 127) {
      const view = new DataView(header.buffer, header.byteOffset, 10);
      const high = view.getUint32(2);
      // Beyond 2^53 a length is not a safe integer: beyond every bound below, whatever the frame.
      length = high > 0x1fffff ? Infinity : high * 2 ** 32 + view.getUint32(6);
    }
    this.#have = 0;
    this.#need = 2;
    const fin = (first & 0x80) !== 0;
    const opcode = first & 0x0f;
    if (opcode >= 0x8) {
      if (opcode > Op.Pong) return this.#fail(1002, `unknown opcode ${opcode}`), at;
      if (!fin) return this.#fail(1002, 'a fragmented control frame'), at;
      if (length > 125) return this.#fail(1002, `a control frame of more than 125 bytes`), at;
    } else if (opcode === Op.Continuation) {
      if (this.#fragments === undefined) return this.#fail(1002, 'a continuation frame with no message to continue'), at;
    } else if (opcode === Op.Text || opcode === Op.Binary) {
      if (this.#fragments !== undefined) return this.#fail(1002, 'a new message before the fragmented one ended'), at;
    } else return this.#fail(1002, `unknown opcode ${opcode}`), at;
    if (opcode < 0x8 && (this.#fragments?.bytes ?? 0) + length > this.#maxMessage) {
      return this.#fail(1009, `a message of more than ${this.#maxMessage} bytes`), at;
    }
    this.#fin = fin;
    this.#opcode = opcode;
    this.#remaining = length;
    if (length === 0) this.#frame(EMPTY, false);
    else this.#inPayload = true;
    return at;
  }

  #readPayload(bytes: Uint8Array, at: number): number {
    const available = bytes.length - at;
    if (this.#target === undefined && this.#parts === undefined && available >= this.#remaining) {
      // The whole payload is in this piece: read it where it is.
      const end = at + this.#remaining;
      this.#inPayload = false;
      this.#frame(bytes.subarray(at, end), true);
      return end;
    }
    if (this.#target === undefined && this.#parts === undefined) this.#gatherInto();
    const take = Math.min(available, this.#remaining);
    const piece = bytes.subarray(at, at + take);
    if (this.#target) {
      this.#target.set(piece, this.#filled);
      this.#filled += take;
    } else this.#parts?.push(copyOf(piece));
    this.#remaining -= take;
    if (this.#remaining === 0) {
      const payload = this.#target ? this.#target.subarray(0, this.#filled) : concat(this.#parts as Uint8Array[]);
      this.#target = this.#parts = undefined;
      this.#filled = 0;
      this.#inPayload = false;
      this.#frame(payload, false);
    }
    return at + take;
  }

  /** Chooses where a payload spanning pieces is gathered. */
  #gatherInto(): void {
    const length = this.#remaining;
    const whole = this.#fin && this.#opcode !== Op.Continuation;
    if (whole && this.#opcode === Op.Binary && pooled(length)) this.#target = takeBlock(length);
    else this.#parts = [];
  }

  /**
   * A frame's whole payload. `borrowed`: it is the caller's piece, so whatever is kept of it is copied.
   */
  #frame(payload: Uint8Array, borrowed: boolean): void {
    const opcode = this.#opcode;
    if (opcode === Op.Close) return this.#close(payload);
    if (opcode === Op.Ping) return this.#handler.ping(copyOf(payload));
    if (opcode === Op.Pong) return;
    if (!this.#fin || opcode === Op.Continuation) {
      const fragments = (this.#fragments ??= { opcode, parts: [], bytes: 0 });
      fragments.parts.push(borrowed ? copyOf(payload) : payload);
      fragments.bytes += payload.length;
      if (!this.#fin) return;
      this.#fragments = undefined;
      return this.#message(fragments.opcode, concat(fragments.parts), false);
    }
    this.#message(opcode, payload, borrowed);
  }

  #message(opcode: number, payload: Uint8Array, borrowed: boolean): void {
    if (opcode === Op.Text) {
      if (!isUtf8(payload)) return this.#fail(1007, 'a text message that is not UTF-8');
      return this.#handler.message(asBuffer(payload).toString('utf8'));
    }
    if (!borrowed) return this.#handler.message(payload);
    if (pooled(payload.length)) {
      const block = takeBlock(payload.length);
      block.set(payload);
      return this.#handler.message(block);
    }
    this.#handler.message(copyOf(payload));
  }

  #close(payload: Uint8Array): void {
    if (payload.length === 1) return this.#fail(1002, 'a close frame of one byte');
    const code = payload.length === 0 ? 1005 : ((payload[0] as number) << 8) | (payload[1] as number);
    if (payload.length > 0 && !sendableCloseCode(code)) return this.#fail(1002, `close code ${code}`);
    const reason = payload.subarray(2);
    if (!isUtf8(reason)) return this.#fail(1007, 'a close reason that is not UTF-8');
    this.#stopped = true;
    this.#handler.close(code, asBuffer(reason).toString('utf8'));
  }
}

/** The pieces as one array (the piece itself when there is one). */
const concat = (parts: readonly Uint8Array[]): Uint8Array => (parts.length === 1 ? (parts[0] as Uint8Array) : concatBytes(parts));

/** Options of `ws`'s `Sender.frame` for one final, masked, uncompressed frame. */
type FrameOptions = { readonly fin: true; readonly opcode: number; readonly mask: true; readonly readOnly: boolean; readonly rsv1: false };
/**
 * `ws`'s `Sender.frame` (exported by `ws`, not declared by its types): a frame as the buffers to write,
 * masked in place unless `readOnly` (then into a copy). Also `node-websocket.ts`'s `sendOwned`.
 */
export const { frame: senderFrame } = (wsModule as unknown as { Sender: { frame(data: Buffer, options: FrameOptions): Uint8Array[] } }).Sender;

/** Whether this `ws` has the `Sender.frame` sending relies on (`node-websocket.ts` uses `ws` otherwise). */
export const canFrame = typeof senderFrame === 'function';

/** A frame of a fresh buffer (a text's bytes): masked in place. */
const OWN = (opcode: number): FrameOptions => ({ fin: true, opcode, mask: true, readOnly: false, rsv1: false });
const TEXT = OWN(Op.Text);
/** A binary frame of the caller's buffer, which may be masked in place (`sendOwned`). */
export const OWNED_BINARY = OWN(Op.Binary);
const CLOSE = OWN(Op.Close);
const PONG = OWN(Op.Pong);
/** A binary frame of the caller's bytes: masked into a copy. */
const COPIED_BINARY: FrameOptions = { ...OWNED_BINARY, readOnly: true };

const CONNECTING = 0;
const OPEN = 1;
const CLOSING = 2;
const CLOSED = 3;

/** How long a close waits for the other side to close the connection before cutting it (as `ws`). */
export const CLOSE_TIMEOUT_MS = 30_000;

/** RFC 6455 §1.3: what the server answers a key with. */
const acceptOf = (key: string): string => createHash('sha1').update(`${key}258EAFA5-E914-47DA-95CA-C5AB0DC85B11`).digest('base64');

type Handler = ((event: never) => void) | null;
const call = (handler: Handler, event: unknown): void => (handler as ((event: unknown) => void) | null)?.(event);

/**
 * A client WebSocket (`ws:` over TCP, `wss:` over TLS with Node's default trust, `NODE_EXTRA_CA_CERTS`
 * included) with the part of the standard API ferry uses (`src/platform/websocket.ts`), plus `sendOwned`
 * and `recycle`. Binary messages arrive as `Uint8Array` whatever `binaryType` says (the link reads
 * either).
 * @example
 * const socket = new DirectWebSocket('ws://127.0.0.1:8080/v1/ws');
 * socket.onmessage = ({ data }) => { use(data); if (typeof data !== 'string') socket.recycle(data); };
 */
export class DirectWebSocket implements WebSocketLike {
  binaryType = 'arraybuffer';
  onopen: Handler = null;
  onmessage: Handler = null;
  onclose: Handler = null;
  onerror: Handler = null;
  #state = CONNECTING;
  readonly #socket: Socket;
  readonly #key = randomBytes(16).toString('base64');
  readonly #reader: FrameReader;
  /** Before the handshake's answer: its bytes so far, and how many were searched for its end. */
  #head: { bytes: Uint8Array; length: number; scanned: number } | undefined = { bytes: new Uint8Array(1024), length: 0, scanned: 0 };
  #closeCode = 1006;
  #closeReason = '';
  #closeSent = false;
  #closeReceived = false;
  #closeTimer: ReturnType<typeof setTimeout> | undefined;

  readonly #closeTimeoutMs: number;

  /** `options.closeTimeoutMs`: how long a close waits for the other side (default {@link CLOSE_TIMEOUT_MS}). */
  constructor(href: string, options: { readonly closeTimeoutMs?: number } = {}) {
    this.#closeTimeoutMs = options.closeTimeoutMs ?? CLOSE_TIMEOUT_MS;
    const url = new URL(href);
    const secure = url.protocol === 'wss:';
    if (!secure && url.protocol !== 'ws:') throw new SyntaxError(`DirectWebSocket speaks ws: and wss:, not ${url.protocol}`);
    this.#reader = new FrameReader({
      message: (data) => call(this.onmessage, { type: 'message', data }),
      // Answered while open only (as `ws`): once this side sent its close, nothing more goes out.
      ping: (payload) => {
        if (this.#state === OPEN) this.#write(senderFrame(asBuffer(payload), PONG));
      },
      close: (code, reason) => {
        this.#closeReceived = true;
        this.#closeCode = code;
        this.#closeReason = reason;
        // Echo the code (RFC 6455 §5.5.1) unless this side closed first, then end our half.
        if (!this.#closeSent) this.#sendClose(code === 1005 ? undefined : code, '');
        this.#closing();
        this.#socket.end();
      },
      violation: (code, reason) => {
        const error = new Error(`the server broke the WebSocket protocol: ${reason}`);
        this.#closeCode = code;
        if (!this.#closeSent) this.#sendClose(code, '');
        this.#closing();
        this.#socket.end();
        call(this.onerror, { type: 'error', error, message: error.message });
      },
    });
    const buffer = secure ? new Uint8Array(TLS_READ_BUFFER_BYTES) : (sharedReadBuffer ??= new Uint8Array(READ_BUFFER_BYTES));
    this.#socket = connectReading(url, secure, { buffer, callback: (read: number) => this.#onRead(buffer.subarray(0, read)) });
    this.#socket.on('error', (error) => call(this.onerror, { type: 'error', error, message: error.message }));
    this.#socket.on('close', () => this.#closed());
    // The server ended its half: nothing more comes, and Node ends ours (no half-open sockets).
    this.#socket.on('end', () => {
      if (this.#state === OPEN) this.#state = CLOSING;
    });
    this.#socket.write(
      `GET ${url.pathname}${url.search} HTTP/1.1\r\nHost: ${url.host}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: ${this.#key}\r\nSec-WebSocket-Version: 13\r\n\r\n`,
      'latin1',
    );
  }

  get readyState(): number {
    return this.#state;
  }

  /** Bytes handed to the socket and not written to the operating system yet. */
  get bufferedAmount(): number {
    return this.#socket.writableLength;
  }

  send(data: string | Uint8Array<ArrayBuffer>): void {
    if (this.#state === CONNECTING) throw new Error('WebSocket is not open: readyState 0 (CONNECTING)');
    if (this.#state !== OPEN) return;
    if (typeof data === 'string') this.#write(senderFrame(Buffer.from(data), TEXT));
    else this.#write(senderFrame(asBuffer(data), COPIED_BINARY));
  }

  /** Sends `data` as one binary frame, masked in place; `sent` once the socket wrote it (or failed). */
  sendOwned(data: Uint8Array<ArrayBuffer>, sent: () => void): void {
    if (this.#state !== OPEN) return void process.nextTick(sent);
    this.#write(senderFrame(asBuffer(data), OWNED_BINARY), () => sent());
  }

  /** See {@link recycleMessage}. */
  recycle(data: Uint8Array): void {
    recycleMessage(data);
  }

  /**
   * Starts the closing handshake (or gives up connecting).
   * @throws {TypeError} for a code other than 1000 or 3000–4999 (those an application may send).
   * @throws {RangeError} for a reason of more than 123 bytes in UTF-8.
   */
  close(code?: number, reason = ''): void {
    if (code !== undefined && code !== 1000 && !(Number.isInteger(code) && code >= 3000 && code <= 4999)) {
      throw new TypeError(`close code ${code}: only 1000 and 3000-4999 may be sent`);
    }
    if (Buffer.byteLength(reason) > 123) throw new RangeError('a close reason of more than 123 bytes');
    if (this.#state === CLOSED || this.#state === CLOSING) return;
    if (this.#state === CONNECTING) {
      this.#state = CLOSING;
      this.#socket.destroy();
      return;
    }
    this.#sendClose(code, reason);
    this.#closing();
  }

  /** CLOSING, and the connection cut if the other side has not closed it within the close timeout. */
  #closing(): void {
    this.#state = CLOSING;
    this.#closeTimer ??= setTimeout(() => this.#socket.destroy(), this.#closeTimeoutMs);
  }

  #sendClose(code: number | undefined, reason: string): void {
    this.#closeSent = true;
    let payload = Buffer.alloc(0);
    if (code !== undefined) {
      payload = Buffer.alloc(2 + Buffer.byteLength(reason));
      payload.writeUInt16BE(code, 0);
      payload.write(reason, 2);
    }
    this.#write(senderFrame(payload, CLOSE));
  }

  #write(frame: readonly Uint8Array[], done?: (error?: Error | null) => void): void {
    const socket = this.#socket;
    if (frame.length === 1) {
      socket.write(frame[0] as Uint8Array, done);
      return;
    }
    socket.cork();
    for (let i = 0; i < frame.length - 1; i++) socket.write(frame[i] as Uint8Array);
    socket.write(frame[frame.length - 1] as Uint8Array, done);
    socket.uncork();
  }

  /** Fails the opening handshake: the error is reported and the socket cut, the close carrying `code`. */
  #fail(code: number, error: Error): void {
    if (this.#state === CLOSED) return;
    this.#closeCode = code;
    this.#state = CLOSING;
    call(this.onerror, { type: 'error', error, message: error.message });
    this.#socket.destroy();
  }

  #onRead(bytes: Uint8Array): boolean {
    if (this.#state === CLOSED) return false;
    if (this.#head === undefined) this.#reader.push(bytes);
    else this.#onHead(bytes);
    return true;
  }

  /** Adds a read to the answer's bytes and, once it is whole, checks it and opens. */
  #onHead(read: Uint8Array): void {
    const head = this.#head;
    if (head === undefined) return;
    if (head.length + read.length > head.bytes.length) {
      const grown = new Uint8Array(Math.max(head.bytes.length * 2, head.length + read.length));
      grown.set(head.bytes.subarray(0, head.length));
      head.bytes = grown;
    }
    head.bytes.set(read, head.length);
    head.length += read.length;
    const parsed = parseHead(head.bytes.subarray(0, head.length), head.scanned);
    if (parsed === undefined) {
      head.scanned = head.length;
      return;
    }
    if (parsed instanceof Error) return this.#fail(1006, parsed);
    const { status, headers } = parsed.head;
    if (status !== 101) return this.#fail(1006, new Error(`Unexpected server response: ${status}`));
    if (headers.get('upgrade')?.toLowerCase() !== 'websocket') return this.#fail(1006, new Error('Invalid Upgrade header'));
    if (headers.get('sec-websocket-accept') !== acceptOf(this.#key)) return this.#fail(1006, new Error('Invalid Sec-WebSocket-Accept header'));
    if (headers.has('sec-websocket-extensions')) return this.#fail(1006, new Error('Server sent a Sec-WebSocket-Extensions header but no extension was requested'));
    if (headers.has('sec-websocket-protocol')) return this.#fail(1006, new Error('Server sent a subprotocol but none was requested'));
    this.#head = undefined;
    this.#state = OPEN;
    call(this.onopen, { type: 'open' });
    // Frames right behind the answer; the handler may have closed the socket meanwhile.
    if (this.#state !== CLOSED && parsed.size < head.length) this.#reader.push(head.bytes.subarray(parsed.size, head.length));
  }

  #closed(): void {
    if (this.#state === CLOSED) return;
    clearTimeout(this.#closeTimer);
    this.#state = CLOSED;
    call(this.onclose, { type: 'close', code: this.#closeCode, reason: this.#closeReason, wasClean: this.#closeReceived && this.#closeSent });
  }
}
