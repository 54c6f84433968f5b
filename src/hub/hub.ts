/**
 * The hub: the one place that decides what is allowed. It owns tokens, the media store (limits,
 * retention, ownership, integrity) and the message bus. The memory transport calls it directly; the
 * server exposes the same hub over HTTP and WebSocket, so every transport behaves the same.
 *
 * Longer than most files because the `Hub` interface documents every operation the servers call; the
 * media store, the message bus, the upload states, the sweep lease, the usage ledger, the rates and the
 * tokens live in their own files.
 * @module
 */
import * as E from 'fp-ts/lib/Either.js';
import { isWellFormed, utf8, utf8Length } from '../core/bytes.js';
import { type Clock, type TimerHandle, systemClock, unrefTimer } from '../core/clock.js';
import { type Deadline, Deadlines } from '../core/deadlines.js';
import { decodeMessage, encodeMessage, type WireMessage } from '../protocol/codec.js';
import { Failure, failureOf, fault } from '../core/failure.js';
import { cryptoRandomBytes, isMediaId, isValidId, newMediaId, newMessageId, type RandomBytes } from '../core/ids.js';
import {
  DEFAULT_PARTIAL_TTL_MS,
  DEFAULT_RETENTION_MS,
  DEFAULT_TOKEN_TTL_MS,
  MAX_FILE_SIZE,
  MAX_MESSAGE_SIZE,
  MAX_MEMBER_COUNT_CHANNELS,
  MAX_PRESENCE_QUERY,
  MAX_PRESENCE_SUBSCRIPTIONS,
  MAX_TIMER_MS,
  MESSAGE_ID_TTL_MS,
  MIN_FILE_SIZE,
  OFFLINE_MESSAGE_TTL_MS,
} from '../core/limits.js';
import { checkMessageSize } from '../core/messages.js';
import { describeUntrusted, untrustedText } from '../core/untrusted.js';
import { type MediaStore, memoryStore, type ReadInto, type StoredEntry } from './media-store.js';
import { type HubLimits, memoryRates, type Rates, resolveHubLimits, SlidingWindow } from './hub-limits.js';
import { type HubMonitor, silentMonitor, type TransferOutcome } from './monitor.js';
import { type Ending, type HubSession, hubSessions } from './hub-sessions.js';
import { type BusSession, memoryBus, type MessageBus } from './message-bus.js';
import type { PeerMessageState, PeerOnlineState } from '../core/states.js';
import { CLAIM_TTL_MS, type ClaimRelease, claimUpload, type HeldClaim } from './upload-claim.js';
import { memoryUploadStates, type UploadStates } from './upload-states.js';
import { soleLease, type SweepLease } from './sweep-lease.js';
import { memoryUsage, type Usage } from './usage.js';
import { signToken, type TokenClaims, verifyToken } from './tokens.js';

/** Options of {@link createHub}. */
export interface HubOptions {
  /** How long media is kept after its upload completes. Default: 7 days. @example { retentionMs: 3_600_000 } */
  readonly retentionMs?: number;
  /** Largest accepted upload in bytes, at most 30 MiB. Default: 31,457,280. @example { maxFileSize: 1_048_576 } */
  readonly maxFileSize?: number;
  /** Time source for expiry, tokens and sweeps. Default: the system clock. @example { clock: virtualClock() } */
  readonly clock?: Clock;
  /** HMAC key of login tokens. Default: 32 random bytes (tokens then die with the hub). */
  readonly secret?: Uint8Array | string;
  /** Where bytes are kept. Default: `memoryStore()`. */
  readonly store?: MediaStore;
  /** How long an unfinished upload is kept for resumption since its last byte. Default: 24 h. */
  readonly partialTtlMs?: number;
  /** How often expired media and stale uploads are swept. Default: 1 hour. */
  readonly sweepIntervalMs?: number;
  /** Randomness for media IDs and the default secret. Default: Web Crypto. */
  readonly random?: RandomBytes;
  /**
   * Told when a background sweep fails (it is retried at the next interval). Default: `console.error`.
   * @example { onSweepError: (error) => logger.warn({ error }, 'sweep failed') }
   */
  readonly onSweepError?: (error: unknown) => void;
  /**
   * Told when the message bus fails in the background (a session's deliveries, an abort at token
   * expiry); the session then ends. Failures of a call (a send, a join) reject that call instead.
   * Default: `console.error`. @example { onBusError: (error) => logger.error({ error }, 'bus failed') }
   */
  readonly onBusError?: (error: unknown) => void;
  /**
   * What one user may consume: uploads, bytes, message, login and join rates, channels (`limits.ts`).
   * Given fields override the defaults. @example { limits: { storedBytes: 512 * 1024 ** 2 } }
   */
  readonly limits?: Partial<HubLimits>;
  /** Told of sessions, transfers, messages and refusals (the server's metrics). Default: nothing. */
  readonly monitor?: HubMonitor;
  /**
   * Who is online, channels, and the deliveries of messages and presence. Hubs sharing one bus (in one
   * process, or over Redis) see each other's users. Default: a `memoryBus()` of this hub's own.
   * @example const bus = memoryBus(); createHub({ bus }); createHub({ bus });
   */
  readonly bus?: MessageBus;
  /**
   * The state of unfinished uploads (offset, owner, expiry, who is appending): share it between hubs that
   * share a store. Default: `memoryUploadStates()` on this hub's clock, rebuilt from the store after a restart.
   * @example createHub({ store, uploads: memoryUploadStates({ clock }) })
   */
  readonly uploads?: UploadStates;
  /**
   * Whose background sweep runs when hubs share a store: only the lease holder's. `hub.sweep()` called
   * directly always runs. Default: `soleLease`, always held. @example createHub({ lease: memoryLease({ clock }) })
   */
  readonly lease?: SweepLease;
  /**
   * What each user holds (bytes, unfinished uploads), for the quotas: checked and reserved in one atomic
   * step at each upload's creation. Share it between hubs that share a store, so a user's quotas count
   * across them. Default: `memoryUsage(store)`, built from the store's listing once, then kept by this hub.
   * @example createHub({ store, usage: memoryUsage(store) })
   */
  readonly usage?: Usage;
  /**
   * Where the message, login and join rates are counted per user. Share it between hubs, so a user's
   * rates count across them. Default: `memoryRates()`, this hub's own. @example createHub({ rates: memoryRates() })
   */
  readonly rates?: Rates;
  /**
   * Told when shared state fails after the change it follows was made: an append's claim not released (it
   * runs out after `CLAIM_TTL_MS`, 15 s, instead), the usage ledger not told of a completion or deletion (it counts the
   * entry as it was until rebuilt, decision 92). The call's own outcome stands. Default: `console.error`.
   * @example { onStateError: (error) => logger.warn({ error }, 'shared state failed') }
   */
  readonly onStateError?: (error: unknown) => void;
}

export type { Ending, HubSession } from './hub-sessions.js';

/**
 * What {@link Hub.resume} did: the session is `resumed` here, or it `ended` (its `ending` says why, as its
 * client would have read it).
 */
export type Resumption =
  | { readonly state: 'resumed'; readonly session: HubSession }
  | { readonly state: 'ended'; readonly ending: Ending };

/** Options of {@link Hub.close}. */
export interface HubCloseOptions {
  /**
   * Leave this hub's sessions open on the bus instead of ending them, for their clients to resume at
   * another hub sharing the bus (`Hub.resume`). A bus that tracks its owners' liveness (a Redis bus's
   * owner lease) ends those nobody resumes; a `memoryBus` keeps them until resumed, replaced or closed.
   * Default: `false` (a closing hub leaves nobody online in its name). @example hub.close({ handOver: true })
   */
  readonly handOver?: boolean;
}

/** Options of {@link Hub.sendToPeer}, as a client sent them (checked by the hub). */
export interface PeerSendOptions {
  readonly messageId?: unknown;
  readonly enableOfflineMessaging?: unknown;
}

/** What {@link Hub.sendToPeer} did. */
export interface PeerSendResult {
  readonly serverReceivedTs: number;
  readonly state: PeerMessageState;
  /** The send's message ID: the one given, or the one the hub chose. */
  readonly messageId: string;
}

/** What {@link Hub.sendToChannel} did. */
export interface ChannelSendResult {
  readonly serverReceivedTs: number;
  readonly messageId: string;
}

/** What the hub says about an upload. `complete` is true once the media is downloadable. */
export interface UploadStatus {
  readonly uploadId: string;
  readonly size: number;
  readonly offset: number;
  readonly complete: boolean;
  /** When the upload (if partial) or the media (if complete) will be swept. */
  readonly expiresAt: number;
}

/** What a downloader learns about media before reading it. */
export interface MediaInfo {
  readonly mediaId: string;
  readonly size: number;
  /** Lowercase hex SHA-256 of the bytes, recorded as they were uploaded. */
  readonly sha256: string;
  readonly fileName: string;
  readonly expiresAt: number;
}

/** An in-process ferry server: tokens, media and messages. */
export interface Hub {
  readonly clock: Clock;
  readonly maxFileSize: number;
  readonly retentionMs: number;
  /** The limits in force. */
  readonly limits: HubLimits;
  /** Mints a login token for `userId`, valid for `ttlMs` (default 24 h). Throws on an invalid user ID. */
  issueToken(userId: string, ttlMs?: number): string;
  /** Verifies a token (signature, shape, expiry). */
  authenticate(token: unknown): E.Either<Failure, TokenClaims>;
  /** Opens a session; a previous session of the same user is aborted. */
  login(userId: unknown, token: unknown): Promise<E.Either<Failure, HubSession>>;
  /**
   * Takes over a session whose client comes back through this hub after another hub sharing the bus and
   * the secret served it (that hub died, closed, or the client moved): `key` is the session's
   * {@link HubSession.key}, `token` a valid token of its user (`InvalidToken`, `TokenExpired`), `after` the
   * number of the last delivery its client saw. The bus moves the session here; its deliveries after
   * `after` follow, and it ends at `token`'s expiry unless renewed, as after a login. A session that
   * ended is `ended` with the `aborted` it ended with; `NotLoggedIn` when there is nothing to resume: a
   * key this hub's secret did not sign or of another user than the token's, a session the bus no longer
   * has and cannot say why (closed, or gone too long ago), or one whose deliveries after `after` the bus
   * no longer keeps (then it is closed rather than continued with a hole): its client logs in afresh.
   * Takes no login rate: it opens nothing.
   * @example
   * const resumed = await hub.resume(sessionIdFromClient, token, lastSeq);
   * if (E.isRight(resumed) && resumed.right.state === 'resumed') serve(resumed.right.session);
   */
  resume(key: unknown, token: unknown, after: unknown): Promise<E.Either<Failure, Resumption>>;
  /** The bus session a session key names, if this hub's secret signed it (any hub sharing the secret did). */
  sessionOfKey(key: unknown): BusSession | undefined;
  /**
   * Ends a session: it leaves its channels. Idempotent. A session that moved to another hub meanwhile (its
   * client resumed it there) stays open there: this hub only stops serving it.
   */
  logout(session: HubSession): Promise<void>;
  isOnline(session: HubSession): boolean;
  /**
   * Gives a session a new token: it must verify (`InvalidToken`, `TokenExpired`) and be the session
   * user's (`Rejected` otherwise); at most 2 per second per session (`TooOften`). The session then ends at
   * the new token's expiry instead of the old one's: a session whose token expires without renewal is
   * aborted (`aborted` event, cause `TOKEN_EXPIRED`).
   */
  renewToken(session: HubSession, token: unknown): Promise<E.Either<Failure, { readonly expiresAt: number }>>;
  /** When the session's current token expires (ms since the epoch); `undefined` once it ended. */
  tokenExpiresAt(session: HubSession): number | undefined;

  createUpload(uploader: string, request: { readonly size: unknown; readonly fileName: unknown }): Promise<UploadStatus>;
  uploadStatus(uploader: string, uploadId: unknown): Promise<UploadStatus>;
  /**
   * Appends the bytes of `chunks` at `offset`; counts them and refuses any byte beyond the declared size
   * (`SizeOverflow`), whatever the client claimed. When the last byte arrives the media becomes visible.
   */
  appendUpload(
    uploader: string,
    uploadId: unknown,
    offset: unknown,
    chunks: AsyncIterable<Uint8Array>,
    options?: {
      readonly signal?: AbortSignal;
      readonly onProgress?: (offset: number) => void;
      /** The chunks are fresh buffers their producer never touches again (see `AppendOptions.owned`). */
      readonly owned?: boolean;
    },
  ): Promise<UploadStatus>;
  /** Removes an upload, partial or complete, and its bytes. */
  terminateUpload(uploader: string, uploadId: unknown): Promise<void>;
  mediaInfo(mediaId: unknown): Promise<MediaInfo>;
  /** The bytes of complete media from `offset`, read into what `into` lends where the store can ({@link MediaStore.read}). */
  readMedia(mediaId: string, offset: number, signal?: AbortSignal, into?: ReadInto): AsyncIterable<Uint8Array>;

  /**
   * Sends a message to a peer's session. `messageId` (1 to 64 printable ASCII characters; a random one if
   * absent) names the send: the same sender's send with an ID seen within 24 hours delivers nothing and
   * answers as the first did. With `enableOfflineMessaging` and the peer offline, the message is kept for
   * its next login (`CACHED_BY_SERVER`) for 7 days or the media retention, whichever is shorter, the newest
   * 200 per receiver, at most `limits.offlineMessages` of the sender's at once (`LimitExceeded`); without
   * it an offline peer is `PeerUnreachable`. Counts against the message rate (`TooOften`).
   */
  sendToPeer(from: HubSession, peerId: unknown, message: unknown, options?: PeerSendOptions): Promise<E.Either<Failure, PeerSendResult>>;
  joinChannel(session: HubSession, channelId: unknown): Promise<E.Either<Failure, void>>;
  leaveChannel(session: HubSession, channelId: unknown): Promise<E.Either<Failure, void>>;
  /** Sends a message to the other members of a channel; `messageId` as for {@link Hub.sendToPeer}. */
  sendToChannel(from: HubSession, channelId: unknown, message: unknown, options?: { readonly messageId?: unknown }): Promise<E.Either<Failure, ChannelSendResult>>;
  channelMembers(session: HubSession, channelId: unknown): Promise<E.Either<Failure, string[]>>;
  /**
   * How many are in each channel (1 to 32 channel IDs; `InvalidArgument`, over 32 `LimitExceeded`),
   * without joining; `limits.memberCountRate` (`TooOften`).
   */
  channelMemberCounts(session: HubSession, channelIds: unknown): Promise<E.Either<Failure, Record<string, number>>>;
  /**
   * The online status of each peer (1 to 256 user IDs; `InvalidArgument` or `InvalidUserId`);
   * `limits.presenceQueryRate` (`TooOften`).
   */
  queryPresence(session: HubSession, peerIds: unknown): Promise<E.Either<Failure, Record<string, PeerOnlineState>>>;
  /**
   * Watches peers' online status (1 to 512 user IDs, at most 512 watched per session: `LimitExceeded`):
   * the session is told each one's status now as `presence` events, then each change.
   * `limits.presenceSubscribeRate` (`TooOften`), shared with {@link Hub.unsubscribePresence}.
   */
  subscribePresence(session: HubSession, peerIds: unknown): Promise<E.Either<Failure, void>>;
  /** Stops watching peers' online status; peers not watched are ignored. */
  unsubscribePresence(session: HubSession, peerIds: unknown): Promise<E.Either<Failure, void>>;
  /**
   * Delivers the next batch of the messages kept for the session's user while it was offline (at most 50,
   * and 256 KiB of messages after the first), in the order sent, as `peerMessage` events with
   * `isOfflineMessage`; resolves whether more are kept. Whoever serves the session calls it after the
   * login and again each time its client has read the last batch, so a burst of 200 messages never has
   * to sit in one buffer: the memory transport until none are left at connect, a server when its client's
   * connection has taken every event so far. A session that is not open takes nothing (`false`).
   * @example while (await hub.deliverOffline(session)); // memory transport
   */
  deliverOffline(session: HubSession): Promise<boolean>;
  /**
   * Tells the hub whether the session's link is up: a server calls it when its client's connection drops
   * (the session waits out its grace: `UNREACHABLE`) and when one attaches again (`ONLINE`). Background:
   * a bus failure goes to `onBusError`.
   */
  setReachable(session: HubSession, reachable: boolean): void;

  /** Deletes expired media and stale partial uploads now; resolves with how many entries went. */
  sweep(): Promise<number>;
  /**
   * Stops the sweep timer, gives the sweep lease up and ends this hub's sessions, on the bus too unless
   * `handOver` (then their clients may resume them at another hub sharing the bus). Media stay.
   */
  close(options?: HubCloseOptions): void;
}

const MAX_FILE_NAME_BYTES = MAX_MESSAGE_SIZE;

/** The most offline messages one `deliverOffline` delivers: a batch a client reads in one go. */
const OFFLINE_BATCH = { messages: 50, bytes: 256 * 1024 } as const;

/** When to try again after the unfinished-upload limit: nobody knows when an upload finishes; a minute. */
const UNFINISHED_RETRY_MS = 60_000;

/** The sweep lease lasts this many sweep intervals from each tick's renewal: one missed tick keeps it. */
const LEASE_INTERVALS = 1.5;

/** A session's token expiry, queued in the hub's {@link Deadlines}. */
class TokenWatch implements Deadline {
  at = 0;
  slot = -1;
  /** Its renewals' window; `undefined` until its first renewal. */
  renewals: SlidingWindow | undefined = undefined;

  constructor(readonly session: HubSession) {}
}

/** Token renewals allowed per session: Agora's two per second. */
const RENEWAL_RATE = { limit: 2, windowMs: 1_000 } as const;

/**
 * Creates a hub.
 * @example
 * const hub = createHub({ retentionMs: 24 * 3600_000 });
 * const token = hub.issueToken('alice');
 */
export const createHub = (options: HubOptions = {}): Hub => {
  const clock = options.clock ?? systemClock;
  const random = options.random ?? cryptoRandomBytes;
  const retentionMs = options.retentionMs ?? DEFAULT_RETENTION_MS;
  const maxFileSize = options.maxFileSize ?? MAX_FILE_SIZE;
  const partialTtlMs = options.partialTtlMs ?? DEFAULT_PARTIAL_TTL_MS;
  const sweepIntervalMs = options.sweepIntervalMs ?? 3_600_000;
  if (!(Number.isSafeInteger(maxFileSize) && maxFileSize >= MIN_FILE_SIZE && maxFileSize <= MAX_FILE_SIZE)) {
    throw new RangeError(`maxFileSize must be an integer from 1 to ${MAX_FILE_SIZE}, got ${String(maxFileSize)}`);
  }
  for (const [name, value] of Object.entries({ retentionMs, partialTtlMs, sweepIntervalMs })) {
    if (!(typeof value === 'number' && value > 0 && Number.isFinite(value))) throw new RangeError(`${name} must be a positive number, got ${String(value)}`);
  }
  if (sweepIntervalMs > MAX_TIMER_MS) throw new RangeError(`sweepIntervalMs must be at most ${MAX_TIMER_MS}, got ${sweepIntervalMs}`);
  const secret =
    options.secret === undefined ? random(32) : typeof options.secret === 'string' ? utf8(options.secret) : options.secret;
  const store = options.store ?? memoryStore();
  const onSweepError = options.onSweepError ?? ((error: unknown) => console.error('ferry hub: sweep failed', error));
  const limits = resolveHubLimits(options.limits);
  const monitor = options.monitor ?? silentMonitor;
  const bus = options.bus ?? memoryBus();
  const uploads = options.uploads ?? memoryUploadStates({ clock });
  const lease = options.lease ?? soleLease;
  const onBusError = options.onBusError ?? ((error: unknown) => console.error('ferry hub: message bus failed', error));
  // Names this hub as the lease's holder and the bus's owner of its sessions; random, as the hubs sharing
  // a lease or a bus do not know each other.
  const holder = newMediaId(random);
  const sessions = hubSessions({ bus, monitor, onError: onBusError, owner: holder, secret, random, onEnded: forgetToken });
  const usage = options.usage ?? memoryUsage(store);
  const rates = options.rates ?? memoryRates();
  const onStateError = options.onStateError ?? ((error: unknown) => console.error('ferry hub: shared state failed', error));
  /** A refusal by a limit, counted. */
  const refuse = (limit: Parameters<HubMonitor['refused']>[0], failure: Failure): Failure => {
    monitor.refused(limit);
    return failure;
  };
  /**
   * Deletes an entry and releases what its uploader held, as the store says it was when it went: of two
   * deletes at once only one releases, and an upload completed meanwhile is released as complete.
   */
  const remove = async (entry: StoredEntry): Promise<void> => {
    await usage.ready();
    const removed = await store.delete(entry.meta.mediaId);
    // The entry is gone whatever the ledger answers: a ledger that missed it is reported, and rebuilt.
    if (removed) await usage.released(entry.meta.uploader, entry.meta.size, removed).catch(onStateError);
    if (entry.state === 'partial' || removed === 'partial') await uploads.delete(entry.meta.mediaId);
  };
  /**
   * Releases an append's claim at `at`, or, after a failure (`at` unknown), at the offset the store kept
   * (the bytes that arrived stay). Never rejects: the append's own outcome stands; a release that fails
   * is reported, and the claim runs out on its own.
   */
  const releaseClaim = async (mediaId: string, claim: HeldClaim, at: ClaimRelease | undefined): Promise<void> => {
    try {
      let where = at;
      if (where === undefined) {
        const entry = await store.stat(mediaId);
        where = entry?.state === 'partial' ? { offset: entry.offset, updatedAt: entry.updatedAt } : 'gone';
      }
      await claim.release(where);
    } catch (error) {
      onStateError(fault(Failure.unknown(`releasing the claim on upload ${mediaId} failed; it runs out within ${CLAIM_TTL_MS} ms`), error));
    }
  };
  /** Whether an append (of any hub sharing the upload states) holds a live claim on an upload. */
  const claimed = async (mediaId: string): Promise<boolean> => {
    const claim = (await uploads.get(mediaId))?.claim;
    return claim !== null && claim !== undefined && claim.until > clock.now();
  };

  const expiresAt = (entry: StoredEntry): number =>
    entry.state === 'complete' ? entry.completedAt + retentionMs : entry.updatedAt + partialTtlMs;
  const isExpired = (entry: StoredEntry): boolean => clock.now() >= expiresAt(entry);
  const status = (entry: StoredEntry): UploadStatus => ({
    uploadId: entry.meta.mediaId,
    size: entry.meta.size,
    offset: entry.state === 'complete' ? entry.meta.size : entry.offset,
    complete: entry.state === 'complete',
    expiresAt: expiresAt(entry),
  });

  /** The entry of an ID, or `NotExist` — malformed, unknown, expired (then deleted) or not yours. */
  const live = async (mediaId: unknown, owner?: string): Promise<StoredEntry> => {
    if (!isMediaId(mediaId)) throw fault(Failure.invalidArgument('mediaId', `malformed media ID ${describeUntrusted(mediaId)}`));
    const entry = await store.stat(mediaId);
    if (entry && isExpired(entry)) {
      await remove(entry);
      throw fault(Failure.notExist(`media ${mediaId} (expired)`));
    }
    // Someone else's upload is reported as missing, so upload IDs cannot be probed.
    if (!entry || (owner !== undefined && entry.meta.uploader !== owner)) throw fault(Failure.notExist(`media ${mediaId}`));
    return entry;
  };

  async function* limited(chunks: AsyncIterable<Uint8Array>, from: number, size: number, claim: HeldClaim): AsyncIterable<Uint8Array> {
    let at = from;
    for await (const chunk of chunks) {
      if (!(chunk instanceof Uint8Array)) throw fault(Failure.invalidArgument('chunk', 'expected bytes'));
      if (at + chunk.length > size) throw fault(Failure.sizeOverflow(at + chunk.length, size));
      claim.assertHeld();
      at += chunk.length;
      yield chunk;
    }
  }

  let sweeping: Promise<number> | undefined;
  const sweepNow = async (): Promise<number> => {
    let removed = 0;
    for await (const entry of store.list()) {
      if (isExpired(entry) && !(entry.state === 'partial' && (await claimed(entry.meta.mediaId)))) {
        await remove(entry);
        removed++;
      }
    }
    return removed;
  };
  const sweep = (): Promise<number> => {
    sweeping ??= sweepNow().finally(() => {
      sweeping = undefined;
    });
    return sweeping;
  };
  let timer: TimerHandle | undefined;
  let closed = false;
  // Asked and renewed at every tick: a holder that misses one tick keeps the lease, one that stops loses it.
  const leaseTtlMs = sweepIntervalMs * LEASE_INTERVALS;
  const scheduleSweep = (): void => {
    // The sweep is background work: it never keeps a process alive on its own.
    timer = clock.setTimeout(() => {
      if (closed) return;
      scheduleSweep();
      // A failed sweep is retried at the next tick; nobody awaits this one, so its failure is reported.
      lease
        .acquire(holder, leaseTtlMs)
        .then((held) => (held && !closed ? sweep() : 0))
        .catch(onSweepError);
    }, sweepIntervalMs);
    unrefTimer(timer);
  };
  scheduleSweep();

  // Each session's token expiry: a session whose token expires without renewal is aborted, so a session
  // lives as long as its tokens over every transport (HTTP checks the token of every request anyway).
  // One timer for all of them (decision 134); a session's renewals' window is made at its first renewal:
  // most sessions never renew (decision 119).
  const tokens = new Map<number, TokenWatch>();
  const expiries = new Deadlines<TokenWatch>(clock, (watch) => {
    sessions.abort(watch.session, 'TOKEN_EXPIRED', 'the token expired without renewal');
  });
  const watchToken = (session: HubSession, expiresAt: number): void => {
    // Ended while it was being opened: nothing to watch (its end forgot nothing yet to be made).
    if (!sessions.isOpen(session)) return;
    const watch = new TokenWatch(session);
    tokens.set(session.sessionId, watch);
    expiries.schedule(watch, expiresAt);
  };
  /** However a session ends (logout, a login elsewhere, expiry), its expiry goes with it. */
  function forgetToken(sessionId: number): void {
    const watch = tokens.get(sessionId);
    if (watch === undefined) return;
    tokens.delete(sessionId);
    expiries.cancel(watch);
  }

  const online = (session: HubSession): E.Either<Failure, HubSession> =>
    sessions.isOpen(session) ? E.right(session) : E.left(Failure.notLoggedIn());
  const channelIdOf = (channelId: unknown): E.Either<Failure, string> =>
    isValidId(channelId)
      ? E.right(channelId)
      : E.left(Failure.invalidArgument('channelId', `expected 1 to 64 printable ASCII characters, got ${describeUntrusted(channelId)}`));
  const wireOf = (message: unknown): E.Either<Failure, WireMessage> => {
    const decoded = decodeMessage(message);
    if (E.isLeft(decoded)) return decoded;
    const tooBig = checkMessageSize(decoded.right);
    return tooBig ? E.left(tooBig) : E.right(encodeMessage(decoded.right));
  };

  /** The message-rate refusal of a send, if it is one: peer and channel messages share the user's window. */
  const rateOfMessages = async (from: HubSession, now: number): Promise<Failure | undefined> => {
    const wait = await rates.take('messageRate', from.userId, limits.messageRate, now);
    return wait > 0 ? refuse('messageRate', Failure.tooOften('peer and channel messages per user', limits.messageRate.limit, limits.messageRate.windowMs, wait)) : undefined;
  };

  /** How long an offline message is kept: 7 days, or the media retention if shorter (its media would be gone). */
  const offlineTtlMs = Math.min(OFFLINE_MESSAGE_TTL_MS, retentionMs);
  /** A send's message ID: the client's, checked, or a random one (a client that names none gets no retry safety). */
  const messageIdOf = (messageId: unknown): E.Either<Failure, string> => {
    if (messageId === undefined) return E.right(newMessageId(random));
    return isValidId(messageId)
      ? E.right(messageId)
      : E.left(Failure.invalidArgument('messageId', `expected 1 to 64 printable ASCII characters, got ${describeUntrusted(messageId)}`));
  };
  /**
   * A list of 1 to `max` user or channel IDs, each checked, duplicates dropped (the first kept). More than
   * `max` is `tooMany()` if given, else `InvalidArgument`.
   */
  const idList = (name: string, value: unknown, max: number, tooMany?: () => Failure): E.Either<Failure, string[]> => {
    if (!Array.isArray(value) || value.length === 0) return E.left(Failure.invalidArgument(name, `expected a non-empty array of IDs, got ${describeUntrusted(value)}`));
    if (value.length > max) return E.left(tooMany ? tooMany() : Failure.invalidArgument(name, `expected at most ${max} IDs, got ${value.length}`));
    const at = value.findIndex((id) => !isValidId(id));
    if (at >= 0) return E.left(Failure.invalidArgument(name, `expected IDs of 1 to 64 printable ASCII characters, got ${describeUntrusted(value[at])} at ${at}`));
    return E.right([...new Set(value as string[])]);
  };
  /** The subscription-rate refusal of a (un)subscribe, if it is one. */
  const rateOfSubscriptions = async (session: HubSession): Promise<Failure | undefined> => {
    const rate = limits.presenceSubscribeRate;
    const wait = await rates.take('presenceSubscribeRate', session.userId, rate, clock.now());
    return wait > 0 ? refuse('presenceSubscribeRate', Failure.tooOften('online-status subscribes and unsubscribes per user', rate.limit, rate.windowMs, wait)) : undefined;
  };

  /**
   * The bytes of a read from `offset`, counted for the monitor as they pass: `done` once the last byte of
   * the media went out (a reader that stops there, as an HTTP download does, need not ask for more).
   */
  async function* metered(mediaId: string, offset: number, signal: AbortSignal | undefined, into: ReadInto | undefined): AsyncIterable<Uint8Array> {
    monitor.transferStarted('download');
    let outcome: TransferOutcome = 'partial';
    let moved = 0;
    try {
      const entry = await store.stat(mediaId);
      const end = entry?.meta.size ?? Infinity;
      for await (const chunk of store.read(mediaId, offset, signal, into)) {
        moved += chunk.length;
        if (offset + moved >= end) outcome = 'done';
        yield chunk;
      }
      outcome = 'done';
    } catch (error) {
      outcome = signal?.aborted ? 'cancelled' : 'failed';
      throw error;
    } finally {
      monitor.transferEnded('download', outcome, moved);
    }
  }

  return {
    clock,
    maxFileSize,
    retentionMs,
    limits,
    issueToken(userId, ttlMs = DEFAULT_TOKEN_TTL_MS) {
      if (!isValidId(userId)) throw new RangeError(`invalid user ID ${describeUntrusted(userId)}`);
      if (!(typeof ttlMs === 'number' && ttlMs > 0 && Number.isSafeInteger(clock.now() + ttlMs))) {
        throw new RangeError(`ttlMs must be a positive, finite number of ms, got ${String(ttlMs)}`);
      }
      return signToken(secret, { userId, expiresAt: clock.now() + ttlMs });
    },
    authenticate: (token) => verifyToken(secret, token, clock.now()),
    async login(userId, token) {
      if (!isValidId(userId)) return E.left(Failure.invalidUserId(untrustedText(userId)));
      const claims = verifyToken(secret, token, clock.now());
      if (E.isLeft(claims)) return claims;
      if (claims.right.userId !== userId) return E.left(Failure.invalidToken('token was issued to another user'));
      const wait = await rates.take('loginRate', userId, limits.loginRate, clock.now());
      if (wait > 0) return E.left(refuse('loginRate', Failure.tooOften('logins per user', limits.loginRate.limit, limits.loginRate.windowMs, wait)));
      const session = await sessions.open(userId);
      watchToken(session, claims.right.expiresAt);
      return E.right(session);
    },
    async resume(key, token, after) {
      const claims = verifyToken(secret, token, clock.now());
      if (E.isLeft(claims)) return claims;
      const named = sessions.verifyKey(key);
      // Another user's session is as unknown as a forged one: which sessions exist is not told.
      if (typeof key !== 'string' || named?.userId !== claims.right.userId) return E.left(Failure.notLoggedIn());
      if (!(typeof after === 'number' && Number.isSafeInteger(after) && after >= 0)) {
        return E.left(Failure.invalidArgument('lastSeq', `expected a delivery number, got ${describeUntrusted(after)}`));
      }
      const session = await sessions.resume(named, key, after);
      // Ended as soon as it was taken over: the bus no longer keeps what its client missed, so the session
      // is closed rather than continued with a hole; its client logs in afresh.
      if (session && !sessions.isOpen(session)) return E.left(Failure.notLoggedIn());
      if (session) {
        watchToken(session, claims.right.expiresAt);
        return E.right({ state: 'resumed', session });
      }
      const ending = await sessions.endingOf(named.sessionId, after);
      return ending ? E.right({ state: 'ended', ending }) : E.left(Failure.notLoggedIn());
    },
    sessionOfKey: (key) => sessions.verifyKey(key),
    async renewToken(session, token) {
      const watched = tokens.get(session.sessionId);
      if (!watched || !sessions.isOpen(session)) return E.left(Failure.notLoggedIn());
      const claims = verifyToken(secret, token, clock.now());
      if (E.isLeft(claims)) return claims;
      if (claims.right.userId !== session.userId) return E.left(Failure.rejected('the token was issued to another user than the session\'s'));
      const wait = (watched.renewals ??= new SlidingWindow(RENEWAL_RATE)).take(clock.now());
      if (wait > 0) return E.left(Failure.tooOften('token renewals', RENEWAL_RATE.limit, RENEWAL_RATE.windowMs, wait));
      expiries.schedule(watched, claims.right.expiresAt);
      return E.right({ expiresAt: watched.at });
    },
    tokenExpiresAt: (session) => (sessions.isOpen(session) ? tokens.get(session.sessionId)?.at : undefined),
    logout: (session) => sessions.close(session),
    isOnline: (session) => sessions.isOpen(session),

    async createUpload(uploader, { size, fileName }) {
      if (typeof size !== 'number' || !Number.isSafeInteger(size) || size < 0) {
        throw fault(Failure.invalidArgument('size', `expected a byte count, got ${describeUntrusted(size)}`));
      }
      if (size < MIN_FILE_SIZE) throw fault(Failure.invalidArgument('size', 'the file is empty'));
      if (size > maxFileSize) throw fault(Failure.sizeOverflow(size, maxFileSize));
      if (typeof fileName !== 'string' || !isWellFormed(fileName) || utf8Length(fileName) > MAX_FILE_NAME_BYTES) {
        throw fault(Failure.invalidArgument('fileName', 'expected a well-formed string of at most 32 KiB'));
      }
      await usage.ready();
      // Checked and counted in one step of the ledger: creates at once (a batch of calls in one frame, or
      // calls on several hubs sharing the ledger) are checked one after the other, each seeing those before it.
      const reservation = await usage.reserve(uploader, size, limits);
      if (!reservation.reserved) {
        const { over, held } = reservation;
        if (over === 'unfinishedUploads') {
          throw fault(refuse('unfinishedUploads', Failure.limitExceeded('unfinished uploads per user', limits.unfinishedUploads, UNFINISHED_RETRY_MS)));
        }
        throw fault(refuse('storedBytes', Failure.quotaExceeded(held.bytes, size, limits.storedBytes)));
      }
      const meta = { mediaId: newMediaId(random), size, fileName, uploader, createdAt: clock.now() };
      try {
        const free = store.freeBytes ? await store.freeBytes() : Infinity;
        // What the disk must still take: every unfinished upload's declared size (this one's included), an upper bound.
        if (free - reservation.unfinishedBytes < limits.diskReserve) {
          throw fault(refuse('diskReserve', Failure.insufficientStorage(`the data folder keeps a reserve of ${limits.diskReserve} free bytes`)));
        }
        await store.create(meta, clock.now());
      } catch (error) {
        await usage.released(uploader, size, 'partial').catch(onStateError);
        throw error;
      }
      const state = { uploadId: meta.mediaId, owner: uploader, size, offset: 0, claim: null, expiresAt: meta.createdAt + partialTtlMs };
      await uploads.create(state).catch(async (error: unknown) => {
        // Without its state nobody could append: the upload goes, and the uploader is told.
        await remove({ state: 'partial', meta, offset: 0, updatedAt: meta.createdAt }).catch((teardown: unknown) => {
          throw fault(failureOf(error), new AggregateError([error, teardown], 'recording the upload failed, then removing it failed'));
        });
        throw error;
      });
      return status({ state: 'partial', meta, offset: 0, updatedAt: meta.createdAt });
    },
    async uploadStatus(uploader, uploadId) {
      return status(await live(uploadId, uploader));
    },
    async appendUpload(uploader, uploadId, offset, chunks, { signal, onProgress, owned } = {}) {
      // The ledger must know the upload before it completes (a resume right after a restart).
      await usage.ready();
      const entry = await live(uploadId, uploader);
      if (entry.state === 'complete') throw fault(Failure.conflict(`upload ${entry.meta.mediaId} is already complete`));
      if (offset !== entry.offset) {
        throw fault(Failure.conflict(`offset ${describeUntrusted(offset)} is not the upload's offset ${entry.offset}`));
      }
      const id = entry.meta.mediaId;
      // One append at a time per upload, across every hub sharing the upload states: the loser of the
      // claim gets `Conflict` (tus answers 409) before it touches the store.
      const claim = await claimUpload(entry, { uploads, clock, partialTtlMs, by: newMediaId(random), signal });
      monitor.transferStarted('upload');
      let outcome: TransferOutcome = 'failed';
      let moved = 0;
      /** Where the upload stands for the claim's release; `undefined` after a failure (the store is asked). */
      let at: ClaimRelease | undefined;
      try {
        const reached = await store.append(id, entry.offset, limited(chunks, entry.offset, entry.meta.size, claim), {
          signal: claim.signal,
          now: () => clock.now(),
          onAppended: (at: number) => {
            moved = at - entry.offset;
            claim.progress();
            onProgress?.(at);
          },
          ...(owned ? { owned } : {}),
        });
        moved = reached - entry.offset;
        if (reached !== entry.meta.size) {
          at = { offset: reached, updatedAt: clock.now() };
          outcome = 'partial';
          return status({ ...entry, offset: reached });
        }
        const completed = await store.complete(id, clock.now());
        at = 'gone';
        outcome = 'done';
        // The media is complete whatever the ledger answers: a ledger that missed it is reported, and rebuilt.
        await usage.completed(uploader, entry.meta.size).catch(onStateError);
        return status(completed);
      } catch (thrown: unknown) {
        if (signal?.aborted) outcome = 'cancelled';
        // A claim lost mid-way stopped the store through its signal: say why, not `Interrupted`.
        const error = !signal?.aborted && claim.lost !== undefined ? claim.lost : thrown;
        // A client that sends more than it declared is not trusted with the rest of the upload.
        if (failureOf(error)._tag === 'SizeOverflow') await remove(entry);
        throw error;
      } finally {
        // Released before the answer, so the client's next request finds the upload free; a release that
        // fails never turns the append's outcome into another (it is reported; the claim runs out).
        await releaseClaim(id, claim, at);
        monitor.transferEnded('upload', outcome, moved);
      }
    },
    async terminateUpload(uploader, uploadId) {
      await remove(await live(uploadId, uploader));
    },
    async mediaInfo(mediaId) {
      const entry = await live(mediaId);
      // The same answer as for an unknown ID: holding an ID must not reveal that an upload is under way.
      if (entry.state !== 'complete') throw fault(Failure.notExist(`media ${entry.meta.mediaId}`));
      return {
        mediaId: entry.meta.mediaId,
        size: entry.meta.size,
        sha256: entry.sha256,
        fileName: entry.meta.fileName,
        expiresAt: expiresAt(entry),
      };
    },
    readMedia: (mediaId, offset, signal, into) => metered(mediaId, offset, signal, into),

    async sendToPeer(from, peerId, message, { messageId, enableOfflineMessaging } = {}) {
      if (E.isLeft(online(from))) return E.left(Failure.notLoggedIn());
      if (!isValidId(peerId)) return E.left(Failure.invalidUserId(untrustedText(peerId)));
      const wire = wireOf(message);
      if (E.isLeft(wire)) return wire;
      const id = messageIdOf(messageId);
      if (E.isLeft(id)) return id;
      if (enableOfflineMessaging !== undefined && typeof enableOfflineMessaging !== 'boolean') {
        return E.left(Failure.invalidArgument('enableOfflineMessaging', `expected a boolean, got ${describeUntrusted(enableOfflineMessaging)}`));
      }
      const now = clock.now();
      const tooOften = await rateOfMessages(from, now);
      if (tooOften) return E.left(tooOften);
      const sent = await bus.toUser(from.userId, peerId, wire.right, now, {
        messageId: id.right,
        rememberMs: MESSAGE_ID_TTL_MS,
        ...(enableOfflineMessaging === true ? { offline: { expiresAt: now + offlineTtlMs, perSender: limits.offlineMessages } } : {}),
      });
      switch (sent.outcome) {
        case 'unreachable':
          return E.left(Failure.peerUnreachable(peerId));
        case 'full':
          return E.left(refuse('offlineMessages', Failure.limitExceeded('offline messages of one sender kept at once', limits.offlineMessages)));
        default:
          monitor.messageDelivered('peer', sent.outcome === 'delivered' ? 1 : 0);
          return E.right({ serverReceivedTs: sent.serverReceivedTs, state: sent.outcome === 'delivered' ? 'RECEIVED' : 'CACHED_BY_SERVER', messageId: id.right });
      }
    },
    async joinChannel(session, channelId) {
      if (E.isLeft(online(session))) return E.left(Failure.notLoggedIn());
      const id = channelIdOf(channelId);
      if (E.isLeft(id)) return id;
      // Refusals that cost nothing come first: a join that changes nothing does not spend the join rate.
      const joined = await bus.channelsOf(session.sessionId);
      if (!joined) return E.left(Failure.notLoggedIn());
      if (joined.includes(id.right)) return E.left(Failure.alreadyInChannel(id.right));
      const full = (): E.Either<Failure, void> => E.left(refuse('channelsJoined', Failure.limitExceeded('channels joined at once per session', limits.channels)));
      if (joined.length >= limits.channels) return full();
      const wait = await rates.take('joinRate', session.userId, limits.joinRate, clock.now());
      if (wait > 0) return E.left(refuse('joinRate', Failure.tooOften('channel joins per user', limits.joinRate.limit, limits.joinRate.windowMs, wait)));
      // Checked again where the membership lives: of two joins racing for the last channel, one is refused.
      switch (await bus.join(session.sessionId, id.right, limits.channels)) {
        case 'joined':
          return E.right(undefined);
        case 'member':
          return E.left(Failure.alreadyInChannel(id.right));
        case 'full':
          return full();
        case 'closed':
          return E.left(Failure.notLoggedIn());
      }
    },
    async leaveChannel(session, channelId) {
      if (E.isLeft(online(session))) return E.left(Failure.notLoggedIn());
      const id = channelIdOf(channelId);
      if (E.isLeft(id)) return E.left(Failure.notInChannel(untrustedText(channelId)));
      return (await bus.leave(session.sessionId, id.right)) ? E.right(undefined) : E.left(Failure.notInChannel(id.right));
    },
    async sendToChannel(from, channelId, message, { messageId } = {}) {
      if (E.isLeft(online(from))) return E.left(Failure.notLoggedIn());
      const id = channelIdOf(channelId);
      if (E.isLeft(id)) return E.left(Failure.notInChannel(untrustedText(channelId)));
      const wire = wireOf(message);
      if (E.isLeft(wire)) return wire;
      const named = messageIdOf(messageId);
      if (E.isLeft(named)) return named;
      // A send to a channel one is not in is refused before it spends the message rate.
      if (!(await bus.inChannel(from.sessionId, id.right))) return E.left(Failure.notInChannel(id.right));
      const now = clock.now();
      const tooOften = await rateOfMessages(from, now);
      if (tooOften) return E.left(tooOften);
      const sent = await bus.toChannel(from.sessionId, id.right, wire.right, now, { messageId: named.right, rememberMs: MESSAGE_ID_TTL_MS });
      if (sent === false) return E.left(Failure.notInChannel(id.right));
      monitor.messageDelivered('channel', sent.receivers);
      return E.right({ serverReceivedTs: sent.serverReceivedTs, messageId: named.right });
    },
    async channelMembers(session, channelId) {
      if (E.isLeft(online(session))) return E.left(Failure.notLoggedIn());
      const id = channelIdOf(channelId);
      if (E.isLeft(id)) return E.left(Failure.notInChannel(untrustedText(channelId)));
      const members = await bus.members(session.sessionId, id.right);
      return members ? E.right([...members]) : E.left(Failure.notInChannel(id.right));
    },

    async channelMemberCounts(session, channelIds) {
      if (E.isLeft(online(session))) return E.left(Failure.notLoggedIn());
      // No retry time: waiting does not make 33 channels fewer.
      const ids = idList('channelIds', channelIds, MAX_MEMBER_COUNT_CHANNELS, () => Failure.limitExceeded('channels per member-count query', MAX_MEMBER_COUNT_CHANNELS));
      if (E.isLeft(ids)) return ids;
      const wait = await rates.take('memberCountRate', session.userId, limits.memberCountRate, clock.now());
      if (wait > 0) return E.left(refuse('memberCountRate', Failure.tooOften('member-count queries per user', limits.memberCountRate.limit, limits.memberCountRate.windowMs, wait)));
      const counts = await bus.memberCounts(ids.right);
      return E.right(Object.fromEntries(ids.right.map((channelId, at) => [channelId, counts[at] ?? 0])));
    },
    async queryPresence(session, peerIds) {
      if (E.isLeft(online(session))) return E.left(Failure.notLoggedIn());
      const ids = idList('peerIds', peerIds, MAX_PRESENCE_QUERY);
      if (E.isLeft(ids)) return ids;
      const wait = await rates.take('presenceQueryRate', session.userId, limits.presenceQueryRate, clock.now());
      if (wait > 0) return E.left(refuse('presenceQueryRate', Failure.tooOften('online-status queries per user', limits.presenceQueryRate.limit, limits.presenceQueryRate.windowMs, wait)));
      const states = await bus.presence(ids.right);
      return E.right(Object.fromEntries(ids.right.map((peerId, at) => [peerId, states[at] ?? 'OFFLINE'])));
    },
    async subscribePresence(session, peerIds) {
      if (E.isLeft(online(session))) return E.left(Failure.notLoggedIn());
      const overflow = (): Failure => refuse('presenceSubscriptions', Failure.limitExceeded('peers whose online status one session watches', MAX_PRESENCE_SUBSCRIPTIONS));
      const ids = idList('peerIds', peerIds, MAX_PRESENCE_SUBSCRIPTIONS, overflow);
      if (E.isLeft(ids)) return ids;
      const tooOften = await rateOfSubscriptions(session);
      if (tooOften) return E.left(tooOften);
      switch (await bus.watch(session.sessionId, ids.right, MAX_PRESENCE_SUBSCRIPTIONS)) {
        case 'watching':
          return E.right(undefined);
        case 'full':
          return E.left(overflow());
        case 'closed':
          return E.left(Failure.notLoggedIn());
      }
    },
    async unsubscribePresence(session, peerIds) {
      if (E.isLeft(online(session))) return E.left(Failure.notLoggedIn());
      const ids = idList('peerIds', peerIds, MAX_PRESENCE_SUBSCRIPTIONS);
      if (E.isLeft(ids)) return ids;
      const tooOften = await rateOfSubscriptions(session);
      if (tooOften) return E.left(tooOften);
      await bus.unwatch(session.sessionId, ids.right);
      return E.right(undefined);
    },
    async deliverOffline(session) {
      if (!sessions.isOpen(session)) return false;
      return (await bus.takeOffline(session.sessionId, clock.now(), OFFLINE_BATCH)) > 0;
    },
    setReachable(session, reachable) {
      if (!sessions.isOpen(session)) return;
      bus.setReachable(session.sessionId, reachable).catch(onBusError);
    },

    sweep,
    close({ handOver = false } = {}) {
      closed = true;
      clock.clearTimeout(timer);
      // Given up rather than left to run out, so a hub sharing the store sweeps from its next tick.
      lease.release(holder).catch(onSweepError);
      for (const watch of tokens.values()) expiries.cancel(watch);
      tokens.clear();
      // Its sessions end, on the bus too: a hub sharing the bus must not see them online, unexpiring. Handed
      // over, they stay open there for their clients to resume elsewhere; their token timers go with this hub,
      // and the hub that resumes one arms its own.
      if (handOver) sessions.handOver();
      else void sessions.closeAll();
    },
  };
};
