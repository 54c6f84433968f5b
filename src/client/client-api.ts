/**
 * The client's public shape: the `Client` interface of `docs/contract.md` §2 with the codes each method fails with,
 * and the event types of its streams. `client.ts` implements it.
 * @module
 */
import type { Observable } from 'rxjs';
import type { MediaState } from '../../transports/transport.js';
import type { ConnectionChange, ConnectionState, PeerMessageState, PeerOnlineState } from '../core/states.js';
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
  /** The sender's ID of the message (`''` from a server too old to carry one). */
  readonly messageId: string;
  /** Whether the server kept it while this user was offline (`enableOfflineMessaging`), delivered at login. */
  readonly isOfflineMessage: boolean;
}

/** Options of {@link Client.sendMessageToPeer}. */
export interface SendMessageOptions {
  /**
   * If the peer is offline, the server keeps the message (the newest 200 per receiver, for 7 days or the
   * media retention, whichever is shorter) and delivers it at the peer's next login, marked
   * `isOfflineMessage`; the call resolves `CACHED_BY_SERVER`. Default: `false` (an offline peer is code 3).
   * @example client.sendMessageToPeer('bob', photo, { enableOfflineMessaging: true })
   */
  readonly enableOfflineMessaging?: boolean;
  /**
   * The message's ID, 1 to 64 printable ASCII characters, unique among this user's messages: a send
   * retried with the same ID (after a timeout, or a restart of the app) within 24 hours is delivered once,
   * and answers as the first did. Default: a new random ID per call (retries inside the SDK reuse it).
   * @example const messageId = crypto.randomUUID(); await client.sendMessageToPeer('bob', m, { messageId })
   */
  readonly messageId?: string;
}

/** What {@link Client.sendMessageToPeer} did. */
export interface PeerMessageSendResult {
  /** `RECEIVED` (Agora's 0): the peer's session has it; `CACHED_BY_SERVER` (Agora's 4): kept for its next login. */
  readonly state: PeerMessageState;
  /** The message's ID: the one given, or the one chosen. */
  readonly messageId: string;
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
  /**
   * What the server knows of complete media, without reading it: its size, SHA-256 and the file name it
   * offers (the uploader's name reduced to a plain name, the media ID when there was none; untrusted:
   * reduce it again before writing a file under it). Rejects `DownloadError`: 2 malformed media ID,
   * 3 no answer in time, 4 unknown, expired or not complete yet, 102 not logged in.
   * @example const { fileName, size } = await client.getMediaInfo(message.mediaId);
   */
  getMediaInfo(mediaId: string): Promise<MediaState>;
  /** Cancels an upload by request ID. Rejects `CancelError` 2 if it is finished or unknown, 102 when logged out. */
  cancelMediaUpload(requestId: number): Promise<void>;
  /** Cancels a download by request ID. Rejects `CancelError` 2 if it is finished or unknown, 102 when logged out. */
  cancelMediaDownload(requestId: number): Promise<void>;
  /** Progress of every upload of this client, tagged with its request ID. */
  readonly uploadProgress$: Observable<TaskProgress>;
  /** Progress of every download of this client, tagged with its request ID. */
  readonly downloadProgress$: Observable<TaskProgress>;
  /**
   * Sends a message to a peer; with `enableOfflineMessaging`, to an offline one too. Resolves with where
   * it went and its ID. Rejects `PeerMessageError`: 2 no answer in time (retry with the same `messageId`:
   * it is delivered once), 3 peer offline (without `enableOfflineMessaging`), 5 more than 180 peer and
   * channel messages in 3 s (`limits.messageRate`) or 1,000 offline messages of yours kept
   * (`limits.offlineMessages`), 6 invalid user ID, 7 invalid message or message ID, or over 32 KiB, 102 not
   * logged in. @example const { state } = await client.sendMessageToPeer('bob', textMessage('hi'), { enableOfflineMessaging: true })
   */
  sendMessageToPeer(peerId: string, message: Message, options?: SendMessageOptions): Promise<PeerMessageSendResult>;
  /**
   * Messages from peers, in arrival order, across logins; after a login, those kept while this user was
   * offline (`isOfflineMessage`). While nobody subscribes, the latest 256 are kept and handed to the next
   * subscriber first, so an app that subscribes after `await login()` misses none of them.
   */
  readonly peerMessages$: Observable<PeerMessageEvent>;
  /** A handle on a channel; no I/O until `join()`. */
  createChannel(channelId: string): Channel;
  /**
   * The online status of 1 to 256 peers: `ONLINE`, `UNREACHABLE` (logged in, link down within its
   * grace time) or `OFFLINE`. Rejects `QueryPeersOnlineStatusError`: 2 not 1 to 256 valid user IDs, 4 no
   * answer in time, 5 more than 10 queries in 5 s (`limits.presenceQueryRate`), 102 not logged in.
   * @example const status = await client.queryPeersOnlineStatus(['bob', 'carol']); status.bob === 'ONLINE'
   */
  queryPeersOnlineStatus(peerIds: readonly string[]): Promise<Record<string, PeerOnlineState>>;
  /**
   * Subscribes to peers' online status: {@link Client.peersOnlineStatus$} then tells each one's status, and
   * every change. Subscriptions last across reconnects and fresh logins of the transport, until
   * `unsubscribePeersOnlineStatus` or `logout`. Rejects `PeerSubscriptionStatusError`: 2 not valid user IDs,
   * 4 no answer in time, 5 more than 10 subscribes and unsubscribes in 5 s (`limits.presenceSubscribeRate`),
   * 6 more than 512 peers subscribed, 102 not logged in. @example await client.subscribePeersOnlineStatus(['bob'])
   */
  subscribePeersOnlineStatus(peerIds: readonly string[]): Promise<void>;
  /** Unsubscribes from peers' online status; codes as {@link Client.subscribePeersOnlineStatus}. */
  unsubscribePeersOnlineStatus(peerIds: readonly string[]): Promise<void>;
  /**
   * The online status of subscribed peers: each event maps the peers whose status it tells (one, as a
   * rule) to it. Nothing is replayed to a late subscriber. @example client.peersOnlineStatus$.subscribe((s) => render(s))
   */
  readonly peersOnlineStatus$: Observable<Record<string, PeerOnlineState>>;
  /**
   * How many members each of 1 to 32 channels has, without joining. Rejects `GetChannelMemberCountError`:
   * 2 invalid channel ID, 3 more than once a second (`limits.memberCountRate`), 4 no answer in time,
   * 5 more than 32 channels, 102 not logged in. @example (await client.getChannelMemberCount(['lobby'])).lobby
   */
  getChannelMemberCount(channelIds: readonly string[]): Promise<Record<string, number>>;
}
