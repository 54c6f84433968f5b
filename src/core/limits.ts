/**
 * The limits of ferry, shared by the client, the hub and every transport. They follow Agora RTM 1.x
 * file messaging so apps migrating from it keep the same expectations.
 * @module
 */

/** The largest file that can be uploaded, in bytes: 30 MiB (31,457,280), inclusive. */
export const MAX_FILE_SIZE = 30 * 1024 * 1024;

/** The smallest file that can be uploaded, in bytes. An empty file is an invalid argument. */
export const MIN_FILE_SIZE = 1;

/**
 * The largest message, in bytes: UTF-8 bytes of `text`, `description` and `fileName` plus the bytes of
 * `thumbnail` and `rawMessage`. Inclusive.
 */
export const MAX_MESSAGE_SIZE = 32 * 1024;

/** How long the hub keeps media after its upload completes, by default: 7 days. */
export const DEFAULT_RETENTION_MS = 7 * 24 * 60 * 60 * 1000;

/** How long an unfinished upload is kept for resumption, by default: 24 hours. */
export const DEFAULT_PARTIAL_TTL_MS = 24 * 60 * 60 * 1000;

/** A transfer that moves no byte for this long fails with TIMEOUT (code 3), by default: 120 s. */
export const DEFAULT_IDLE_TIMEOUT_MS = 120_000;

/** The most transfers (uploads and downloads together) in `transferring` per client. */
export const MAX_CONCURRENT_TRANSFERS = 9;

/** Bytes moved per chunk by the client pipeline and the memory transport. */
export const CHUNK_SIZE = 64 * 1024;

/** The longest user or channel ID, in characters (printable ASCII). */
export const MAX_ID_LENGTH = 64;

/** How long a login token is valid, by default: 24 hours. */
export const DEFAULT_TOKEN_TTL_MS = 24 * 60 * 60 * 1000;

/** A request (a message, a channel operation, a cleanup) without an answer for this long fails with TIMEOUT. */
export const DEFAULT_REQUEST_TIMEOUT_MS = 10_000;

/** The longest delay a timer can take (2^31 − 1 ms, about 24.8 days); longer ones would fire at once. */
export const MAX_TIMER_MS = 2_147_483_647;

/** Offline messages the server keeps per receiver (Agora's 200): the newest replaces the oldest. */
export const OFFLINE_MESSAGES_PER_RECEIVER = 200;

/** The longest an offline message is kept: 7 days, or the hub's media retention if that is shorter. */
export const OFFLINE_MESSAGE_TTL_MS = 7 * 24 * 60 * 60 * 1000;

/** Peers one `queryPeersOnlineStatus` may ask about (Agora's 256). */
export const MAX_PRESENCE_QUERY = 256;

/** Peers whose online status one session may be subscribed to at once (Agora's 512). */
export const MAX_PRESENCE_SUBSCRIPTIONS = 512;

/** Channels one `getChannelMemberCount` may ask about (Agora's 32). */
export const MAX_MEMBER_COUNT_CHANNELS = 32;

/**
 * How long the hub remembers a sender's message IDs, so that a send retried with the same ID (after a
 * dropped link, a failover, a timeout that in fact arrived, a restart of the app) is delivered once:
 * 24 hours, and at most {@link MESSAGE_IDS_PER_SENDER} IDs per sender (the oldest forgotten first).
 */
export const MESSAGE_ID_TTL_MS = 24 * 60 * 60 * 1000;

/** Message IDs remembered per sender; see {@link MESSAGE_ID_TTL_MS}. */
export const MESSAGE_IDS_PER_SENDER = 4_096;
