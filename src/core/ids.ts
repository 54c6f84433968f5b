/**
 * Identifiers: media IDs (opaque, URL-safe, 128 random bits), user and channel IDs (Agora's rules).
 * @module
 */
import { toBase64Url } from './bytes.js';
import { MAX_ID_LENGTH } from './limits.js';

/** A source of random bytes; injected so specs can be deterministic. Defaults to Web Crypto. */
export type RandomBytes = (length: number) => Uint8Array;

/** Cryptographically strong random bytes from Web Crypto (Node 20 and browsers). */
export const cryptoRandomBytes: RandomBytes = (length) => globalThis.crypto.getRandomValues(new Uint8Array(length));

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
