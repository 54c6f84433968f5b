/**
 * The client's public shape: the `Client` interface of `docs/contract.md` §2 with the codes each method fails with,
 * and the event types of its streams. `client.ts` implements it.
 * @module
 */
import type { Observable } from 'rxjs';
import type { ConnectionChange, ConnectionState } from '../core/states.js';
import type { Channel } from './channel.js';
import type { FileFields, FileMessage, ImageFields, ImageMessage, Message } from '../core/messages.js';
import type { Progress } from './progress.js';
import type { UploadSource } from './sources.js';
import type { Task } from './task.js';
import type { FileUploadOptions, ImageUploadOptions } from './uploads.js';

/** Progress of one task, on the client-wide streams. */
export interface TaskProgress extends Progress {
  readonly requestId: number;
}

/** A message received from a peer. */
export interface PeerMessageEvent {
  readonly peerId: string;
  readonly message: Message;
  readonly serverReceivedTs: number;
}

/** Options of downloads. */
export interface DownloadOptions {
  /** Aborting it cancels the download, as `task.cancel()` does. */
  readonly signal?: AbortSignal;
}

/** A ferry client. The contract is `docs/contract.md` §2; every method's failures carry the codes of its §4. */
export interface Client {
  /**
   * Logs in. Rejects `LoginError`: 3 bad user ID or token shape, 5 invalid token, 6 expired token,
   * 8 already logged in (or logging in), 9 no answer in time, 10 more than 2 logins per second for this
   * user (`limits.loginRate`). Logging in as a user who is logged in elsewhere aborts that session.
   * @example await client.login({ userId: 'alice', token })
   */
  login(credentials: { readonly userId: string; readonly token: string }): Promise<void>;
  /**
   * Logs out: every running or queued transfer ends `failed` with 6, partial uploads are terminated,
   * then the session closes. Rejects `LogoutError` 102 when not logged in.
   */
  logout(): Promise<void>;
  /**
   * Gives the session a new token before the current one expires: the server checks it and keeps the
   * session past the old expiry; every later request, and any fresh login after a lost session (a server
   * restart), uses it. Re-arms {@link Client.tokenWillExpire$} and {@link Client.tokenExpired$}. Rejects
   * `RenewTokenError`: 1 failure (no answer in time, or a transport that cannot renew), 2 not a non-empty
   * string, 3 rejected (a valid token of another user), 4 more than 2 renewals per second, 5 the new token
   * has expired, 6 invalid token, 102 not logged in (including after the old token expired).
   * @example client.tokenWillExpire$.subscribe(async () => client.renewToken(await fetchToken()))
   */
  renewToken(token: string): Promise<void>;
  /**
   * Fires once per token, 30 s before it expires, or at half its remaining life when that is shorter
   * (a 3 s token: after 1.5 s); re-armed by each login and renewal, silent after a logout. The expiry
   * is the server's (told at login and renewal); nothing fires with a server that does not tell it.
   * Default: always on. @example client.tokenWillExpire$.subscribe(() => renew())
   */
  readonly tokenWillExpire$: Observable<void>;
  /**
   * Fires when the current token expired without renewal. The server then ends the session:
   * `connectionChange$` reports `ABORTED`/`TOKEN_EXPIRED`; log in again with a new token.
   * Default: always on. @example client.tokenExpired$.subscribe(() => showLoginScreen())
   */
  readonly tokenExpired$: Observable<void>;
  /** `DISCONNECTED`, `CONNECTING`, `CONNECTED`, `RECONNECTING` or `ABORTED`; replays the current state. */
  readonly connectionState$: Observable<ConnectionState>;
  /**
   * Every change of the connection with its reason (Agora RTM's): `CONNECTING`/`LOGIN`,
   * `CONNECTED`/`LOGIN_SUCCESS` (also when a dropped link is back, or the transport logged in afresh
   * after a server restart), `DISCONNECTED`/`LOGIN_FAILURE` | `LOGIN_TIMEOUT` | `LOGOUT`,
   * `RECONNECTING`/`INTERRUPTED` (the link dropped; the transport keeps trying), `ABORTED`/`REMOTE_LOGIN`
   * (the same user logged in elsewhere) | `TOKEN_EXPIRED` (not renewed in time) | `BANNED_BY_SERVER`
   * (the server ended the session for another reason). A subscriber first gets the latest change, if
   * there was a login; nothing before the first login. Default: always on, nothing to configure.
   * @example client.connectionChange$.subscribe(({ state, reason }) => console.log(state, reason))
   */
  readonly connectionChange$: Observable<ConnectionChange>;
  /**
   * Uploads a file and resolves with the message to send. Never throws: every failure rejects the task's
   * `result` with an `UploadError` (1 the server is out of space, 2 bad argument or empty, 3 idle timeout,
   * 4 over 30 MiB or over the user's storage quota, 5 all slots busy with `overflow: 'reject'` or the
   * user has 20 unfinished uploads, 6 cancelled or logged out, 102 not logged in; `failure._tag` tells
   * which: `InsufficientStorage`, `SizeOverflow`/`QuotaExceeded`, `ConcurrencyLimit`/`LimitExceeded`).
   * @example const { result } = client.createFileMessageByUploading('/home/me/report.pdf');
   */
  createFileMessageByUploading(source: UploadSource, options?: FileUploadOptions): Task<FileMessage>;
  /** As {@link Client.createFileMessageByUploading}, resolving with an image message whose width and height come from the content. */
  createImageMessageByUploading(source: UploadSource, options?: ImageUploadOptions): Task<ImageMessage>;
  /** A file message for media already uploaded. Throws `MessageError` 2 on a malformed media ID or bad fields. */
  createFileMessageByMediaId(mediaId: string, fields?: FileFields): FileMessage;
  /** An image message for media already uploaded. Throws `MessageError` 2 on a malformed media ID or bad fields. */
  createImageMessageByMediaId(mediaId: string, fields?: ImageFields): ImageMessage;
  /**
   * Downloads media to an absolute path: bytes go to a temporary file beside it, verified by SHA-256,
   * then renamed into place. On failure or cancel nothing is left at the path. Failures reject `result`
   * with a `DownloadError` (2 malformed ID or path, 3 idle timeout, 4 unknown or expired, 6 cancelled).
   */
  downloadMediaToFile(mediaId: string, absolutePath: string, options?: DownloadOptions): Task<void>;
  /** Downloads media into memory, verified by SHA-256; failures as {@link Client.downloadMediaToFile}. */
  downloadMediaToMemory(mediaId: string, options?: DownloadOptions): Task<Uint8Array>;
  /** Cancels an upload by request ID. Rejects `CancelError` 2 if it is finished or unknown, 102 when logged out. */
  cancelMediaUpload(requestId: number): Promise<void>;
  /** Cancels a download by request ID. Rejects `CancelError` 2 if it is finished or unknown, 102 when logged out. */
  cancelMediaDownload(requestId: number): Promise<void>;
  /** Progress of every upload of this client, tagged with its request ID. */
  readonly uploadProgress$: Observable<TaskProgress>;
  /** Progress of every download of this client, tagged with its request ID. */
  readonly downloadProgress$: Observable<TaskProgress>;
  /**
   * Sends a message to an online peer. Rejects `PeerMessageError`: 2 no answer in time, 3 peer offline,
   * 5 more than 180 peer and channel messages in 3 s (`limits.messageRate`), 6 invalid user ID,
   * 7 invalid or over 32 KiB, 102 not logged in.
   */
  sendMessageToPeer(peerId: string, message: Message): Promise<void>;
  /** Messages from peers, in arrival order, across logins. */
  readonly peerMessages$: Observable<PeerMessageEvent>;
  /** A handle on a channel; no I/O until `join()`. */
  createChannel(channelId: string): Channel;
}
