/**
 * Words about values that came from the wire, for error messages. A hostile value may be an array nested
 * thousands deep (`String` and `JSON.stringify` recurse on it and overflow the stack) or a string of
 * 60 KiB (echoed in every error answer, kept for resends): so nothing here recurses, and every result is
 * short. Decode before use; describe untrusted values only through these.
 * @module
 */

/** The longest part of an untrusted string quoted back, in UTF-16 code units. */
const QUOTED = 64;

/** A kind name for a value that is not a string or a number: never looks inside it. */
const kindOf = (value: unknown): string =>
  value === null ? 'null' : Array.isArray(value) ? 'an array' : typeof value === 'object' ? 'an object' : value === undefined ? 'nothing' : `a ${typeof value}`;

/**
 * A short phrase for an untrusted value: a string quoted (cut after 64 characters, with its length), a
 * number or boolean as written, anything else by its kind (`an array`, `an object`, `null`).
 * @example describeUntrusted('alice') // '"alice"'; describeUntrusted([[[]]]) // 'an array'
 */
export const describeUntrusted = (value: unknown): string => {
  if (typeof value === 'string') {
    return value.length <= QUOTED ? JSON.stringify(value) : `${JSON.stringify(value.slice(0, QUOTED))}… (${value.length} characters)`;
  }
  if (typeof value === 'number' || typeof value === 'boolean') return String(value);
  return kindOf(value);
};

/**
 * An untrusted value as a short string to carry in a failure's field (a user or channel ID that was
 * refused): a string cut after 64 characters, anything else by its kind in angle brackets.
 * @example untrustedText(42) // '<a number>'
 */
export const untrustedText = (value: unknown): string =>
  typeof value === 'string' ? (value.length <= QUOTED ? value : `${value.slice(0, QUOTED)}…`) : `<${kindOf(value)}>`;
