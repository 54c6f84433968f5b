/**
 * Identifiers: media IDs (opaque, URL-safe, 128 random bits), user and channel IDs (Agora's rules).
 * @module
 */
import { toBase64Url } from './bytes.js';
import { MAX_ID_LENGTH } from './limits.js';

/** A source of random bytes; injected so specs can be deterministic. Defaults to Web Crypto. */
export type RandomBytes = (length: number) => Uint8Array;

/** Bytes drawn from Web Crypto at once for small requests (its limit is 65,536 per call). */
const POOL_BYTES = 4_096;
let pool = new Uint8Array(0);
let taken = 0;

/**
 * Cryptographically strong random bytes from Web Crypto (Node 20 and browsers). Small requests are cut from a
 * pool of 4 KiB drawn at once, as Node's `randomUUID` and the `uuid` package do: each `getRandomValues` call
 * costs a few microseconds whatever its size, and a random message ID per send made it 12.6% of a relay
 * client's CPU. Every byte is still Web Crypto's and is handed out once, in a copy the caller owns.
 */
export const cryptoRandomBytes: RandomBytes = (length) => {
  if (length > POOL_BYTES / 4) return globalThis.crypto.getRandomValues(new Uint8Array(length));
  if (taken + length > pool.length) {
    pool = globalThis.crypto.getRandomValues(new Uint8Array(POOL_BYTES));
    taken = 0;
  }
  const bytes = pool.slice(taken, taken + length);
  taken += length;
  return bytes;
};

/** Bytes of randomness in a media ID: 16 bytes is 128 bits, which makes IDs unguessable. */
const MEDIA_ID_BYTES = 16;

/**
 * A new media ID: 22 URL-safe characters carrying 128 random bits. It never starts with `-`, so it can be
 * passed as a command-line argument (`ferry get <mediaId>`) without being read as an option: a leading
 * `-` becomes `A`, which costs under 0.03 bits of the 128.
 */
export const newMediaId = (random: RandomBytes = cryptoRandomBytes): string => {
  const id = toBase64Url(random(MEDIA_ID_BYTES));
  return id.startsWith('-') ? `A${id.slice(1)}` : id;
};

/** A new message ID: 22 URL-safe characters carrying 128 random bits, so two senders' IDs never meet. */
export const newMessageId = (random: RandomBytes = cryptoRandomBytes): string => toBase64Url(random(MEDIA_ID_BYTES));

const MEDIA_ID = /^[A-Za-z0-9_-]{22,64}$/;

/**
 * Whether a string is a well-formed media ID: 22 to 64 URL-safe base64 characters. Anything else is
 * malformed (code 2) before any lookup, which also keeps path separators and dots out of storage keys.
 */
export const isMediaId = (value: unknown): value is string => typeof value === 'string' && MEDIA_ID.test(value);

/**
 * Whether a string is a valid user or channel ID: 1 to 64 printable ASCII characters, not all spaces
 * (the rule of Agora RTM 1.x).
 */
export const isValidId = (value: unknown): value is string =>
  typeof value === 'string' &&
  value.length >= 1 &&
  value.length <= MAX_ID_LENGTH &&
  /^[\x20-\x7e]+$/.test(value) &&
  value.trim().length > 0;
