/**
 * The WebSocket wire protocol, shared by the client (`ws.ts`) and the server (`src/server/ws-endpoint.ts`): the
 * JSON control frames as io-ts codecs, the binary data frame header, the limits and the close codes.
 * Isomorphic: no Node built-in. The prose version is `docs/protocol-ws.md`.
 * @module
 */
import * as E from 'fp-ts/lib/Either.js';
import { pipe } from 'fp-ts/lib/function.js';
import * as t from 'io-ts';
import { reportErrors } from './codec.js';
import { Failure } from '../core/failure.js';
import { CHUNK_SIZE } from '../core/limits.js';

/**
 * The protocol version a client announces in `hello`: 2 (decision 110). Version 2 differs from 1 in the
 * size of data frames only: up to {@link WS_LARGE_CHUNK_SIZE} bytes of media each (the `chunkSize` of the
 * welcome), where version 1 carries at most {@link WS_CHUNK_SIZE}. Issue 15's additions kept version 1
 * (decision 103): optional fields, new event types and new ops, which older peers ignore or refuse by call.
 */
export const WS_PROTOCOL_VERSION = 2;

/** The versions a server answers: a client of version 1 is served with the data frames of version 1. */
export const WS_PROTOCOL_VERSIONS: readonly number[] = [1, 2];

/** Bytes of the binary frame header: kind (1), reserved (3), transfer ID (uint32), offset (uint64), big-endian. */
export const DATA_HEADER_SIZE = 16;

/** The most bytes of media in one data frame of protocol version 1. */
export const WS_CHUNK_SIZE = CHUNK_SIZE;

/**
 * The most bytes of media in one data frame of protocol version 2: a 30 MiB transfer takes 30 frames,
 * not 480, so what each frame costs (an event, a header, a credit check, a socket write) stops counting.
 */
export const WS_LARGE_CHUNK_SIZE = 256 * 1024;

/** The most bytes of media in a data frame of `version` (the welcome's `chunkSize`). */
export const chunkSizeOf = (version: number): number => (version >= 2 ? WS_LARGE_CHUNK_SIZE : WS_CHUNK_SIZE);

/**
 * The largest text frame either side accepts, and the largest data frame of version 1: one chunk and its
 * header. A frame over its limit closes the socket with 1009 (message too big).
 */
export const WS_MAX_FRAME = WS_CHUNK_SIZE + DATA_HEADER_SIZE;

/** The largest frame of any version: a data frame of version 2 (`maxPayload` of the server). */
export const WS_MAX_DATA_FRAME = WS_LARGE_CHUNK_SIZE + DATA_HEADER_SIZE;

/**
 * The most UTF-16 code units of control frames joined in one batch (a text frame holding a JSON array):
 * even at 3 UTF-8 bytes each it stays under {@link WS_MAX_FRAME}.
 */
export const MAX_BATCH_CHARS = 16_384;

/**
 * Event `seq` as the text of the `event` frame a socket is sent, from the event's JSON (serialized once
 * for every session it goes to): byte for byte `JSON.stringify({ type: 'event', seq, event })`.
 */
export const wsEventText = (seq: number, eventJson: string): string => `{"type":"event","seq":${seq},"event":${eventJson}}`;

/** What an event's frame adds to its JSON, at most: `{"type":"event","seq":`, 16 digits, `,"event":` and `}`. */
export const EVENT_FRAME_CHARS = 48;

/**
 * What an `events` frame adds to its events' JSON and their separators, at most:
 * `{"type":"events","seq":`, 16 digits, `,"events":[` and `]}`. Counted toward {@link MAX_BATCH_CHARS}.
 */
export const EVENTS_FRAME_CHARS = 52;

/**
 * Credit the server grants the uploads of one socket beyond what its store kept (the `window` of
 * `welcome`), shared among them by age ({@link uploadCredit}): bytes in flight and queued in server
 * memory per socket are at most this, or {@link WS_MIN_UPLOAD_WINDOW} per upload when that is more. One
 * upload with 1 MiB of credit ran about 1.4× slower than with 4 MiB on loopback (it waited for
 * acknowledgements), 8 MiB no faster; nine uploads with 4 MiB each made a chat message on the same
 * socket wait behind their bytes (p99 144 ms).
 */
export const WS_UPLOAD_WINDOW = 4 * 1024 * 1024;

/** The least credit an upload gets however many share the socket. */
export const WS_MIN_UPLOAD_WINDOW = 256 * 1024;

/**
 * The credit the server grants an upload beyond its kept offset, by its age among the `count` uploads of
 * its socket (`rank` 0 the oldest): each has {@link WS_MIN_UPLOAD_WINDOW}, and what the window holds
 * beyond those minimums goes by halves, the oldest half, the next a quarter, …, the youngest as much as
 * the one before it. So the shares add up to {@link WS_UPLOAD_WINDOW} (or the minimums, when they are
 * more), as equal shares did, and one upload alone has the whole window. Equal shares moved a socket's
 * uploads in lockstep: they ended together, and the link stood idle while each wave's files were
 * flushed and the next wave opened; by age they end one after another, and the others' bytes fill
 * those pauses (decision 133).
 * @example
 * uploadCredit(0, 1); // 4 MiB
 * uploadCredit(0, 3); // 256 KiB + 1.625 MiB; uploadCredit(1, 3) and uploadCredit(2, 3) 256 KiB + 832 KiB each
 */
export const uploadCredit = (rank: number, count: number): number => {
  const uploads = Math.max(1, count);
  const beyond = Math.max(0, WS_UPLOAD_WINDOW - uploads * WS_MIN_UPLOAD_WINDOW);
  const age = Math.min(Math.max(0, rank), uploads - 1);
  return WS_MIN_UPLOAD_WINDOW + Math.floor(beyond / 2 ** Math.min(age + 1, uploads - 1));
};

/**
 * Credit the client grants a download beyond what its consumer took, and at least four data frames of the
 * session: its memory per download. With one frame in flight the server would wait for every credit; 4 MiB
 * (sixteen frames of version 2) kept a 30 MiB download on loopback 7–20% faster than 1 MiB did, as the
 * upload window found (decision 130).
 */
export const WS_DOWNLOAD_WINDOW = 4 * 1024 * 1024;

/** The download credit for data frames of `chunkSize` bytes: {@link WS_DOWNLOAD_WINDOW} or four frames. */
export const downloadWindowOf = (chunkSize: number): number => Math.max(WS_DOWNLOAD_WINDOW, 4 * chunkSize);

/** The kind byte of a data frame. */
export const DATA_KIND = 1;

/** Close codes of the protocol (4000–4999 are application codes). */
export const CloseCode = {
  /** Logout, or the server closing. The client does not reconnect. */
  normal: 1000,
  /** Protocol violation: no or bad `hello`, data before auth, too many bad frames. */
  policy: 1008,
  /** The session ended at the hub (the same user logged in elsewhere, or logout). Do not reconnect. */
  sessionEnded: 4000,
  /** The login was refused (bad token, bad user ID). Do not reconnect. */
  loginRefused: 4001,
  /** A frame over the limit of its kind and the socket's protocol version (`ws` closes so at `maxPayload`). */
  tooBig: 1009,
  /** The peer read too slowly: its outgoing buffer passed the limit. Reconnecting may resume. */
  tooSlow: 4002,
  /** A handler of the server failed on the handshake (a bug, logged there). Reconnecting may succeed. */
  serverError: 1011,
} as const;

const Id = t.refinement(t.number, (n) => Number.isSafeInteger(n) && n >= 0, 'Id');
const TransferId = t.refinement(t.number, (n) => Number.isInteger(n) && n >= 1 && n <= 0xffff_ffff, 'TransferId');
const Offset = t.refinement(t.number, (n) => Number.isSafeInteger(n) && n >= 0, 'Offset');

/** A request the client makes; answered by one `result` or `error` frame with the same `id`. */
const Call = t.union([
  t.type({ op: t.literal('createUpload'), size: t.unknown, fileName: t.unknown }),
  t.type({ op: t.literal('getUpload'), uploadId: t.unknown }),
  t.type({ op: t.literal('terminateUpload'), uploadId: t.unknown }),
  t.type({ op: t.literal('getMedia'), mediaId: t.unknown }),
  t.type({ op: t.literal('append'), transfer: TransferId, uploadId: t.unknown, offset: Offset }),
  t.type({ op: t.literal('read'), transfer: TransferId, mediaId: t.unknown, offset: Offset, limit: Offset }),
  // `messageId` and `enableOfflineMessaging` are optional (decision 103): a client that predates them
  // sends neither, and the hub picks the ID. The hub checks every field, so any value decodes here.
  t.intersection([
    t.type({ op: t.literal('sendToPeer'), peerId: t.unknown, message: t.unknown }),
    t.partial({ messageId: t.unknown, enableOfflineMessaging: t.unknown }),
  ]),
  t.type({ op: t.literal('join'), channelId: t.unknown }),
  t.type({ op: t.literal('leave'), channelId: t.unknown }),
  t.intersection([t.type({ op: t.literal('sendToChannel'), channelId: t.unknown, message: t.unknown }), t.partial({ messageId: t.unknown })]),
  t.type({ op: t.literal('members'), channelId: t.unknown }),
  t.type({ op: t.literal('channelMemberCounts'), channelIds: t.unknown }),
  t.type({ op: t.literal('queryPresence'), peerIds: t.unknown }),
  t.type({ op: t.literal('subscribePresence'), peerIds: t.unknown }),
  t.type({ op: t.literal('unsubscribePresence'), peerIds: t.unknown }),
  t.type({ op: t.literal('logout') }),
  // The new token is checked by the hub (`Hub.renewToken`), so any value decodes here.
  t.type({ op: t.literal('renewToken'), token: t.unknown }),
]);

/** A call as decoded by the server. */
export type CallFrame = t.TypeOf<typeof Call> & { readonly id: number };

/** The io-ts codec of client frames: the definition; {@link isClientFrame} is its fast equivalent. */
export const ClientFrameCodec = t.union([
  t.intersection([
    t.type({ type: t.literal('hello'), version: t.number, userId: t.unknown, token: t.unknown }),
    // `batch`: the client reads text frames holding an array of control frames (protocol doc, *Batches*).
    // `eventRuns`: it reads `events` frames, a run of consecutive events in one (*Events*; decision 127).
    t.partial({ resume: t.type({ sessionId: t.string, lastSeq: Offset }), batch: t.boolean, eventRuns: t.boolean }),
  ]),
  t.intersection([t.type({ type: t.literal('call'), id: Id }), Call]),
  t.type({ type: t.literal('cancel'), transfer: TransferId }),
  t.type({ type: t.literal('credit'), transfer: TransferId, limit: Offset }),
  t.type({ type: t.literal('ping') }),
]);

/** Every control frame a client sends. */
export type ClientFrame = t.TypeOf<typeof ClientFrameCodec>;

/** The io-ts codec of server frames: the definition; {@link isServerFrame} is its fast equivalent. */
export const ServerFrameCodec = t.union([
  // `expiresAt` (when the session's token expires, ms since the epoch) is optional, so older peers decode.
  t.intersection([
    t.type({ type: t.literal('welcome'), sessionId: t.string, resumed: t.boolean, chunkSize: t.number, window: t.number }),
    t.partial({ expiresAt: t.number }),
  ]),
  t.type({ type: t.literal('result'), id: Id, value: t.unknown }),
  t.intersection([t.type({ type: t.literal('error'), failure: t.unknown, message: t.string }), t.partial({ id: Id })]),
  t.type({ type: t.literal('event'), seq: Offset, event: t.unknown }),
  // Events `seq`, `seq` + 1, … in order: as many `event` frames; sent only to a client that said `eventRuns`.
  t.type({ type: t.literal('events'), seq: Offset, events: t.array(t.unknown) }),
  t.type({ type: t.literal('ack'), transfer: TransferId, offset: Offset, limit: Offset }),
  t.type({ type: t.literal('pong') }),
]);

/** Every control frame a server sends. */
export type ServerFrame = t.TypeOf<typeof ServerFrameCodec>;

type Record_ = Readonly<Record<string, unknown>>;
const isRecord = (u: unknown): u is Record_ => typeof u === 'object' && u !== null && !Array.isArray(u);
const isId = (u: unknown): boolean => typeof u === 'number' && Number.isSafeInteger(u) && u >= 0;
const isTransferId = (u: unknown): boolean => typeof u === 'number' && Number.isInteger(u) && u >= 1 && u <= 0xffff_ffff;

/**
 * What {@link ClientFrameCodec} accepts, without building io-ts contexts and `Either`s for every frame
 * (decoding was a tenth of the relay's CPU). The codec stays the definition and reports what is wrong
 * with a frame this refuses; `spec/server/ws-protocol.spec.ts` checks that both agree.
 */
export const isClientFrame = (u: unknown): u is ClientFrame => {
  if (!isRecord(u)) return false;
  switch (u['type']) {
    case 'call':
      if (!isId(u['id'])) return false;
      switch (u['op']) {
        case 'append':
          return isTransferId(u['transfer']) && isId(u['offset']);
        case 'read':
          return isTransferId(u['transfer']) && isId(u['offset']) && isId(u['limit']);
        case 'createUpload':
        case 'getUpload':
        case 'terminateUpload':
        case 'getMedia':
        case 'sendToPeer':
        case 'join':
        case 'leave':
        case 'sendToChannel':
        case 'members':
        case 'channelMemberCounts':
        case 'queryPresence':
        case 'subscribePresence':
        case 'unsubscribePresence':
        case 'logout':
        case 'renewToken':
          return true;
        default:
          return false;
      }
    case 'cancel':
      return isTransferId(u['transfer']);
    case 'credit':
      return isTransferId(u['transfer']) && isId(u['limit']);
    case 'ping':
      return true;
    case 'hello': {
      if (typeof u['version'] !== 'number') return false;
      const resume = u['resume'];
      if (resume !== undefined && !(isRecord(resume) && typeof resume['sessionId'] === 'string' && isId(resume['lastSeq']))) return false;
      return (u['batch'] === undefined || typeof u['batch'] === 'boolean') && (u['eventRuns'] === undefined || typeof u['eventRuns'] === 'boolean');
    }
    default:
      return false;
  }
};

/** What {@link ServerFrameCodec} accepts; the fast path of a client's decoding, as {@link isClientFrame}. */
export const isServerFrame = (u: unknown): u is ServerFrame => {
  if (!isRecord(u)) return false;
  switch (u['type']) {
    case 'result':
      return isId(u['id']);
    case 'event':
      return isId(u['seq']);
    case 'events':
      return isId(u['seq']) && Array.isArray(u['events']);
    case 'ack':
      return isTransferId(u['transfer']) && isId(u['offset']) && isId(u['limit']);
    case 'error':
      return typeof u['message'] === 'string' && (u['id'] === undefined || isId(u['id']));
    case 'pong':
      return true;
    case 'welcome':
      return (
        typeof u['sessionId'] === 'string' &&
        typeof u['resumed'] === 'boolean' &&
        typeof u['chunkSize'] === 'number' &&
        typeof u['window'] === 'number' &&
        (u['expiresAt'] === undefined || typeof u['expiresAt'] === 'number')
      );
    default:
      return false;
  }
};

/** One parsed frame: the fast guard, and only if it refuses, the codec (for its report). */
const check = <A, L>(codec: t.Decoder<unknown, A>, is: (u: unknown) => u is A, u: unknown, refuse: (failure: Failure, u: unknown) => L): E.Either<L, A> =>
  is(u)
    ? E.right(u)
    : pipe(
        codec.decode(u),
        E.mapLeft((errors) => refuse(Failure.invalidArgument('frame', reportErrors(errors)), u)),
      );

const asIs = (failure: Failure): Failure => failure;
const notJson = Failure.invalidArgument('frame', 'not JSON');

const parse = <A>(codec: t.Decoder<unknown, A>, is: (u: unknown) => u is A, text: string): E.Either<Failure, A> => {
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch {
    return E.left(notJson);
  }
  return check(codec, is, json, asIs);
};

/** A text frame: one control frame, or a non-empty array of them (a batch); each is decoded on its own. */
const parseBatch = <A, L>(codec: t.Decoder<unknown, A>, is: (u: unknown) => u is A, text: string, refuse: (failure: Failure, u: unknown) => L): E.Either<L, A>[] => {
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch {
    return [E.left(refuse(notJson, undefined))];
  }
  if (!Array.isArray(json)) return [check(codec, is, json, refuse)];
  if (json.length === 0) return [E.left(refuse(Failure.invalidArgument('frame', 'an empty batch'), undefined))];
  return json.map((u: unknown) => check(codec, is, u, refuse));
};

/**
 * A client frame the server could not decode, with the call ID it carried if it had a valid one: an
 * unknown `op` or a bad field is then answered to that call, so its caller does not wait forever.
 */
export interface BadClientFrame {
  readonly failure: Failure;
  readonly id?: number;
}

const badClientFrame = (failure: Failure, u: unknown): BadClientFrame =>
  isRecord(u) && isId(u['id']) ? { failure, id: u['id'] as number } : { failure };

/** Decodes a client's text frame holding one frame (`hello`); a failure names the offending path. */
export const decodeClientFrame = (text: string): E.Either<Failure, ClientFrame> => parse(ClientFrameCodec, isClientFrame, text);

/** Decodes a client's text frame, one frame or a batch: one result per frame, in order. */
export const decodeClientFrames = (text: string): E.Either<BadClientFrame, ClientFrame>[] => parseBatch(ClientFrameCodec, isClientFrame, text, badClientFrame);

/** Decodes a server's text frame holding one frame; a failure names the offending path. */
export const decodeServerFrame = (text: string): E.Either<Failure, ServerFrame> => parse(ServerFrameCodec, isServerFrame, text);

/** Decodes a server's text frame, one frame or a batch: one result per frame, in order. */
export const decodeServerFrames = (text: string): E.Either<Failure, ServerFrame>[] => parseBatch(ServerFrameCodec, isServerFrame, text, asIs);

/**
 * A data frame: header then the chunk. Written into `into` (at least header + chunk bytes) when given,
 * and then a view of it: a sender that reuses its frame buffers allocates nothing per frame (it may
 * reuse one once the link says the socket is done with it). Otherwise in one new buffer. The chunk is
 * copied either way, so the caller may reuse it.
 */
export const encodeData = (transfer: number, offset: number, chunk: Uint8Array, into?: Uint8Array<ArrayBuffer>): Uint8Array<ArrayBuffer> => {
  const frame = into ? into.subarray(0, DATA_HEADER_SIZE + chunk.length) : new Uint8Array(DATA_HEADER_SIZE + chunk.length);
  writeDataHeader(frame, transfer, offset);
  frame.set(chunk, DATA_HEADER_SIZE);
  return frame;
};

/**
 * Writes the header of a data frame into the first {@link DATA_HEADER_SIZE} bytes of `frame`, whose
 * chunk the caller writes (or wrote) after it: a sender that gathers a frame from several pieces copies
 * each once.
 */
export const writeDataHeader = (frame: Uint8Array, transfer: number, offset: number): void => {
  const view = new DataView(frame.buffer, frame.byteOffset, DATA_HEADER_SIZE);
  view.setUint32(0, DATA_KIND << 24);
  view.setUint32(4, transfer);
  view.setUint32(8, Math.floor(offset / 0x1_0000_0000));
  view.setUint32(12, offset >>> 0);
};

/** A decoded data frame; `chunk` is a view into the frame. */
export interface DataFrame {
  readonly transfer: number;
  readonly offset: number;
  readonly chunk: Uint8Array;
}

/**
 * Decodes a binary frame; `Left` if it is shorter than the header, of another kind, or carries more than
 * `chunkSize` bytes (the session's, by its protocol version; version 1's by default).
 */
export const decodeData = (frame: Uint8Array, chunkSize: number = WS_CHUNK_SIZE): E.Either<Failure, DataFrame> => {
  if (frame.length < DATA_HEADER_SIZE) return E.left(Failure.invalidArgument('frame', `binary frame of ${frame.length} bytes is shorter than its header`));
  if (frame.length > chunkSize + DATA_HEADER_SIZE) return E.left(Failure.invalidArgument('frame', `binary frame of ${frame.length} bytes exceeds ${chunkSize + DATA_HEADER_SIZE}`));
  const view = new DataView(frame.buffer, frame.byteOffset, frame.byteLength);
  if (view.getUint8(0) !== DATA_KIND) return E.left(Failure.invalidArgument('frame', `unknown binary frame kind ${view.getUint8(0)}`));
  const transfer = view.getUint32(4);
  const offset = view.getUint32(8) * 0x1_0000_0000 + view.getUint32(12);
  if (transfer === 0 || !Number.isSafeInteger(offset)) return E.left(Failure.invalidArgument('frame', 'bad transfer ID or offset'));
  return E.right({ transfer, offset, chunk: frame.subarray(DATA_HEADER_SIZE) });
};
