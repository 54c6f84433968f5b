/**
 * The transport interface: everything the client needs from a way of reaching a hub. Memory, HTTP and
 * WebSocket implement it; the client never knows which one it has.
 *
 * Abort contract (every method taking a `signal`):
 * - if the signal is already aborted, the call rejects at once and starts no I/O;
 * - when it aborts during the call, the call rejects promptly with a `FaultError` whose failure is
 *   `Interrupted` (its `cause` is `signal.reason`), stops moving bytes, and calls no callback afterwards;
 * - bytes the hub acknowledged before the abort stay there until `terminateUpload`.
 *
 * Failure contract: every rejection is a `FaultError` carrying a `Failure`. `Network` and `Conflict`
 * mean "ask the offset and try again"; any other failure is final for that transfer.
 *
 * The duties these contracts share across transports (signal first, `NotLoggedIn` after the end, an
 * aborted creation leaves no record, terminating what is gone) are written once in
 * `transport-duties.ts`; every built-in transport goes through it (decision 78).
 * @module
 */
import type { Observable } from 'rxjs';
import type { Credentials } from '../src/core/login.js';
import type { Message } from '../src/core/messages.js';
import type { PeerMessageState, PeerOnlineState } from '../src/core/states.js';
import type { SessionEvent } from '../src/protocol/events-codec.js';

export type { AbortCause, Credentials } from '../src/core/login.js';
export { abortCauseOf } from '../src/core/login.js';
export type { SessionEvent } from '../src/protocol/events-codec.js';

/** The hub's answer about an upload. The media ID is the upload ID; it is downloadable once `complete`. */
export interface UploadState {
  readonly uploadId: string;
  readonly size: number;
  readonly offset: number;
  readonly complete: boolean;
}

/** What a downloader learns before reading: the size, the SHA-256 to verify against, and the file name. */
export interface MediaState {
  readonly mediaId: string;
  readonly size: number;
  /** Lowercase hex SHA-256 of the whole media. */
  readonly sha256: string;
  /**
   * The name the server offers for the media: the uploader's file name reduced to a plain name
   * (`offeredFileName` of `src/core/files.ts`: last path component, no control or invisible characters, at
   * most 128 code points), the media ID when nothing usable is left (also when the uploader gave none).
   * Untrusted: a receiver that writes a file under it reduces it again for its own file system.
   */
  readonly fileName: string;
}

/**
 * The bytes of an upload, readable from any offset, so a transport picks its own chunk size (and, for
 * HTTP, how many bytes go in one request) and can resend from wherever the hub's offset says. A chunk is
 * valid only until the next one is asked for (sources may reuse one buffer): a transport that keeps
 * bytes past that copies them.
 */
export interface ByteSource {
  readonly size: number;
  chunks(offset: number, chunkSize: number, signal: AbortSignal): AsyncIterable<Uint8Array>;
}

/** Options of every call: the signal that aborts it. */
export interface CallOptions {
  readonly signal: AbortSignal;
}

/** Options of `sendToPeer`. */
export interface PeerSendCallOptions extends CallOptions {
  /** The send's ID: 1 to 64 printable ASCII characters, unique per sender. */
  readonly messageId: string;
  /** Keep the message for the peer if it is offline (`CACHED_BY_SERVER`) rather than refuse it. */
  readonly enableOfflineMessaging?: boolean;
}

/** What a peer send did: `RECEIVED` by the peer's session, or `CACHED_BY_SERVER` for its next login. */
export interface PeerSendAnswer {
  readonly state: PeerMessageState;
}

/** Options of `readMedia`. */
export interface ReadOptions extends CallOptions {
  /**
   * The bytes the caller expects from the offset to the end (the media's size minus the offset), when it
   * knows them: a transport may read large media another way than small (`directReadsFrom` over HTTP).
   */
  readonly expected?: number;
}

/**
 * A logged-in session over one transport.
 *
 * Events contract: `events$` delivers every event from the moment `connect` resolved, buffered until
 * the first subscriber, in order. It completes when the session ends; when the hub ended it (the same
 * user logged in elsewhere), an `aborted` event comes first. After the session ended, every call
 * rejects with `NotLoggedIn`.
 */
export interface Session {
  readonly userId: string;
  readonly events$: Observable<SessionEvent>;
  /** When the login token expires (ms since the epoch, the server's clock), if the server said. */
  readonly expiresAt?: number;
  /**
   * Gives the session a new token: the server checks it and keeps the session past the old token's
   * expiry; every later request (and any fresh login after a lost session) uses it. Resolves with the
   * new expiry if the server said. Rejects `InvalidToken`, `TokenExpired`, `Rejected` (another user's
   * token), `TooOften`, `NotLoggedIn`. Optional: a transport without it cannot renew (code 1).
   */
  renewToken?(token: string, options: CallOptions): Promise<{ readonly expiresAt?: number }>;

  /** Creates an upload of `size` bytes. Rejects `InvalidArgument` (empty) or `SizeOverflow`. */
  createUpload(request: { readonly size: number; readonly fileName: string }, options: CallOptions): Promise<UploadState>;
  /** The hub's state of an upload: where to resume after a drop, or that it already completed. */
  getUpload(uploadId: string, options: CallOptions): Promise<UploadState>;
  /**
   * Sends the bytes of `source` from `offset` to its end. `onProgress` gets each offset the hub
   * acknowledged (never bytes merely handed to a socket). Resolves with the hub's state after the last
   * byte; `complete` when all arrived. `Conflict` means the hub's offset differs: ask `getUpload`.
   */
  appendUpload(
    uploadId: string,
    offset: number,
    source: ByteSource,
    options: CallOptions & { readonly onProgress: (offset: number) => void },
  ): Promise<UploadState>;
  /** Removes an upload, partial or complete, with its bytes. Missing uploads are not an error. */
  terminateUpload(uploadId: string, options: CallOptions): Promise<void>;
  /** Size, SHA-256 and offered file name of complete media. Rejects `InvalidArgument` (malformed ID) or `NotExist`. */
  getMedia(mediaId: string, options: CallOptions): Promise<MediaState>;
  /**
   * The bytes of complete media from `offset` to the end; stops (rejects) when the signal aborts. Each
   * chunk is lent: it stays intact until the caller asks for the next one, and a caller that keeps bytes
   * longer copies them (the Node HTTP stack reads every chunk into one reused buffer).
   */
  readMedia(mediaId: string, offset: number, options: ReadOptions): AsyncIterable<Uint8Array>;

  /**
   * Sends a message to a peer, named by `messageId`: the server delivers a send it already took with this
   * ID (from this user, within 24 hours) once, and answers it as the first time, so a transport may send it
   * again after a dropped link. Resolves with where it went. Rejects `PeerUnreachable` (offline, and not
   * `enableOfflineMessaging`), `TooOften`, `LimitExceeded` (too many of this sender's offline messages
   * kept), `InvalidUserId`, `InvalidMessage`, `InvalidArgument`, `NotLoggedIn`.
   */
  sendToPeer(peerId: string, message: Message, options: PeerSendCallOptions): Promise<PeerSendAnswer>;
  joinChannel(channelId: string, options: CallOptions): Promise<void>;
  leaveChannel(channelId: string, options: CallOptions): Promise<void>;
  /** Sends a message to the other members of a channel, named by `messageId` as for `sendToPeer`. */
  sendToChannel(channelId: string, message: Message, options: CallOptions & { readonly messageId: string }): Promise<void>;
  channelMembers(channelId: string, options: CallOptions): Promise<string[]>;
  /** How many are in each channel (1 to 32), without joining. Rejects `InvalidArgument`, `LimitExceeded`, `TooOften`. */
  channelMemberCounts(channelIds: readonly string[], options: CallOptions): Promise<Record<string, number>>;
  /** Each peer's online status (1 to 256 user IDs). Rejects `InvalidArgument`, `TooOften`. */
  queryPresence(peerIds: readonly string[], options: CallOptions): Promise<Record<string, PeerOnlineState>>;
  /**
   * Watches peers' online status: their status now, then each change, come as `presence` events. At most
   * 512 watched per session (`LimitExceeded`); watches end with the session. Rejects `InvalidArgument`, `TooOften`.
   */
  subscribePresence(peerIds: readonly string[], options: CallOptions): Promise<void>;
  /** Stops watching peers' online status. Rejects `InvalidArgument`, `TooOften`. */
  unsubscribePresence(peerIds: readonly string[], options: CallOptions): Promise<void>;

  /** Ends the session (the hub forgets it, channels are left) and releases the link. Idempotent. */
  close(options: CallOptions): Promise<void>;
}

/** A way to reach a hub. */
export interface Transport {
  /** Logs in. Rejects `InvalidUserId`, `InvalidToken`, `TokenExpired` or `Network`. */
  connect(credentials: Credentials, options: CallOptions): Promise<Session>;
}
