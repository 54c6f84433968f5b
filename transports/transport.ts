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
 * @module
 */
import type { Observable } from 'rxjs';
import type { Message } from '../src/messages.js';

/** Who logs in. */
export interface Credentials {
  readonly userId: string;
  readonly token: string;
}

/** What a session hears from the hub, in order. */
export type SessionEvent =
  | { readonly type: 'peerMessage'; readonly peerId: string; readonly message: Message; readonly serverReceivedTs: number }
  | {
      readonly type: 'channelMessage';
      readonly channelId: string;
      readonly memberId: string;
      readonly message: Message;
      readonly serverReceivedTs: number;
    }
  | { readonly type: 'memberJoined'; readonly channelId: string; readonly userId: string }
  | { readonly type: 'memberLeft'; readonly channelId: string; readonly userId: string }
  /** The link dropped and the transport is trying again (`RECONNECTING`), or it is back (`CONNECTED`). */
  | { readonly type: 'connection'; readonly state: 'RECONNECTING' | 'CONNECTED' }
  /** The hub ended this session, e.g. because the same user logged in elsewhere. Final. */
  | { readonly type: 'aborted'; readonly reason: string };

/** The hub's answer about an upload. The media ID is the upload ID; it is downloadable once `complete`. */
export interface UploadState {
  readonly uploadId: string;
  readonly size: number;
  readonly offset: number;
  readonly complete: boolean;
}

/** What a download starts with. */
export interface DownloadStart {
  readonly size: number;
  /** Lowercase hex SHA-256 of the whole media, to verify against. */
  readonly sha256: string;
  /** The bytes from the requested offset to the end. Stops (rejects) when the signal aborts. */
  readonly chunks: AsyncIterable<Uint8Array>;
}

/** Options of a call that moves bytes. */
export interface MoveOptions {
  readonly signal: AbortSignal;
}

/** A logged-in session over one transport. */
export interface Session {
  readonly userId: string;
  /** Events from the hub; completes when the session ends (logout, abort or close). */
  readonly events$: Observable<SessionEvent>;

  /** Creates an upload of `size` bytes. Rejects `InvalidArgument` (empty) or `SizeOverflow`. */
  createUpload(request: { readonly size: number; readonly fileName: string }, options: MoveOptions): Promise<UploadState>;
  /** The hub's offset of an upload: where to resume after a drop. */
  getUpload(uploadId: string, options: MoveOptions): Promise<UploadState>;
  /**
   * Sends `chunks` from `offset`. `onProgress` gets each offset the hub acknowledged (never bytes merely
   * handed to a socket). Resolves with the hub's state after the last chunk; `complete` when all arrived.
   */
  appendUpload(
    uploadId: string,
    offset: number,
    chunks: AsyncIterable<Uint8Array>,
    options: MoveOptions & { readonly onProgress: (offset: number) => void },
  ): Promise<UploadState>;
  /** Removes an upload, partial or complete, with its bytes. Missing uploads are not an error. */
  terminateUpload(uploadId: string): Promise<void>;
  /** Starts a download from `offset`. Rejects `InvalidArgument` (malformed ID) or `NotExist`. */
  download(mediaId: string, offset: number, options: MoveOptions): Promise<DownloadStart>;

  sendToPeer(peerId: string, message: Message): Promise<void>;
  joinChannel(channelId: string): Promise<void>;
  leaveChannel(channelId: string): Promise<void>;
  sendToChannel(channelId: string, message: Message): Promise<void>;
  channelMembers(channelId: string): Promise<string[]>;

  /** Ends the session (the hub forgets it, channels are left) and releases the link. Idempotent. */
  close(): Promise<void>;
}

/** A way to reach a hub. */
export interface Transport {
  /** Logs in. Rejects `InvalidUserId`, `InvalidToken`, `TokenExpired` or `Network`. */
  connect(credentials: Credentials, options?: { readonly signal?: AbortSignal }): Promise<Session>;
}
