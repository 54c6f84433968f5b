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
