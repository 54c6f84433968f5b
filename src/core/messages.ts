/**
 * Messages: plain immutable data discriminated by `messageType`, their constructors and the 32 KiB rule.
 * @module
 */
import { isWellFormed, utf8Length } from './bytes.js';
import { toPublicError } from './errors.js';
import { Failure } from './failure.js';
import { isMediaId } from './ids.js';
import { MAX_FILE_SIZE, MAX_MESSAGE_SIZE } from './limits.js';

/** A text message. */
export interface TextMessage {
  readonly messageType: 'TEXT';
  readonly text: string;
}

/** A message of raw bytes with an optional description. */
export interface RawMessage {
  readonly messageType: 'RAW';
  readonly rawMessage: Uint8Array;
  readonly description?: string;
}

/** A file: a media ID to download the bytes with, and what a receiver shows before downloading. */
export interface FileMessage {
  readonly messageType: 'FILE';
  /** Opaque ID of the uploaded bytes, valid for the hub's retention (7 days by default). */
  readonly mediaId: string;
  /** Size of the file in bytes (0 when built by media ID without a size). */
  readonly size: number;
  readonly fileName: string;
  readonly thumbnail?: Uint8Array;
  readonly description?: string;
}

/** An image: a file plus its dimensions and its thumbnail's dimensions (0 when unknown). */
export interface ImageMessage extends Omit<FileMessage, 'messageType'> {
  readonly messageType: 'IMAGE';
  readonly width: number;
  readonly height: number;
  readonly thumbnailWidth: number;
  readonly thumbnailHeight: number;
}

/** Any message. */
export type Message = TextMessage | RawMessage | FileMessage | ImageMessage;

/** A message type. */
export type MessageType = Message['messageType'];

/** Optional fields of a file message built by media ID. */
export interface FileFields {
  readonly size?: number;
  readonly fileName?: string;
  readonly thumbnail?: Uint8Array;
  readonly description?: string;
}

/** Optional fields of an image message built by media ID. */
export interface ImageFields extends FileFields {
  readonly width?: number;
  readonly height?: number;
  readonly thumbnailWidth?: number;
  readonly thumbnailHeight?: number;
}

/**
 * The size of a message under the 32 KiB rule: UTF-8 bytes of `text`, `description` and `fileName` plus
 * the bytes of `thumbnail` and `rawMessage`. IDs and numbers do not count.
 */
export const messageSize = (message: Message): number => {
  switch (message.messageType) {
    case 'TEXT':
      return utf8Length(message.text);
    case 'RAW':
      return message.rawMessage.length + utf8Length(message.description ?? '');
    case 'FILE':
    case 'IMAGE':
      return (
        utf8Length(message.fileName) + utf8Length(message.description ?? '') + (message.thumbnail?.length ?? 0)
      );
  }
};

/** `undefined` when the message fits in 32 KiB, else the failure that says by how much it does not. */
export const checkMessageSize = (message: Message): Failure | undefined => {
  const size = messageSize(message);
  return size <= MAX_MESSAGE_SIZE
    ? undefined
    : Failure.invalidMessage(`message is ${size} bytes, more than the ${MAX_MESSAGE_SIZE}-byte limit`);
};

/** Validation of constructor fields: the first failure found, or `undefined`. */
type Check = () => Failure | undefined;

const firstFailure = (checks: readonly Check[]): Failure | undefined => {
  for (const check of checks) {
    const failure = check();
    if (failure) return failure;
  }
  return undefined;
};

const isString = (name: string, value: unknown): Check => () =>
  typeof value !== 'string'
    ? Failure.invalidArgument(name, `expected a string, got ${typeof value}`)
    : isWellFormed(value)
      ? undefined
      : Failure.invalidArgument(name, 'not well-formed UTF-16 (lone surrogate)');

const optional = (value: unknown, check: Check): Check => () => (value === undefined ? undefined : check());

const isBytes = (name: string, value: unknown): Check => () =>
  value instanceof Uint8Array ? undefined : Failure.invalidArgument(name, 'expected a Uint8Array');

const isCount = (name: string, value: unknown, max = Number.MAX_SAFE_INTEGER): Check => () =>
  typeof value === 'number' && Number.isSafeInteger(value) && value >= 0 && value <= max
    ? undefined
    : Failure.invalidArgument(name, `expected an integer from 0 to ${max}, got ${String(value)}`);

const mediaIdCheck = (mediaId: unknown): Check => () =>
  isMediaId(mediaId) ? undefined : Failure.invalidArgument('mediaId', `malformed media ID ${JSON.stringify(mediaId)}`);

const isFields = (fields: unknown): Check => () =>
  fields !== null && typeof fields === 'object' ? undefined : Failure.invalidArgument('fields', 'expected an object');

const orThrow = <M extends Message>(failure: Failure | undefined, build: () => M): M => {
  if (failure) throw toPublicError('message', failure);
  return Object.freeze(build());
};

/** Copies bytes so a message never shares a buffer with its caller (messages are immutable). */
const copy = (bytes: Uint8Array): Uint8Array => bytes.slice();

/**
 * A text message.
 * @throws {MessageError} code 2 when `text` is not a well-formed string.
 * @example textMessage('hello')
 */
export const textMessage = (text: string): TextMessage =>
  orThrow(firstFailure([isString('text', text)]), () => ({ messageType: 'TEXT', text }));

/**
 * A raw-bytes message; the bytes are copied.
 * @throws {MessageError} code 2 on bad fields.
 * @example rawMessage(new Uint8Array([1, 2, 3]), { description: 'ping' })
 */
export const rawMessage = (bytes: Uint8Array, fields: { readonly description?: string } = {}): RawMessage =>
  orThrow(
    firstFailure([isBytes('rawMessage', bytes), isFields(fields), () => optional(fields.description, isString('description', fields.description))()]),
    () => ({
      messageType: 'RAW',
      rawMessage: copy(bytes),
      ...(fields.description === undefined ? {} : { description: fields.description }),
    }),
  );

const fileFieldChecks = (fields: FileFields): Check[] => [
  optional(fields.size, isCount('size', fields.size, MAX_FILE_SIZE)),
  optional(fields.fileName, isString('fileName', fields.fileName)),
  optional(fields.thumbnail, isBytes('thumbnail', fields.thumbnail)),
  optional(fields.description, isString('description', fields.description)),
];

const imageFieldChecks = (fields: ImageFields): Check[] => [
  ...fileFieldChecks(fields),
  ...(['width', 'height', 'thumbnailWidth', 'thumbnailHeight'] as const).map((name) =>
    optional(fields[name], isCount(name, fields[name])),
  ),
];

/** The first problem with the optional fields of a file message, or `undefined`. */
export const checkFileFields = (fields: FileFields): Failure | undefined => firstFailure(fileFieldChecks(fields));

/** The first problem with the optional fields of an image message, or `undefined`. */
export const checkImageFields = (fields: ImageFields): Failure | undefined => firstFailure(imageFieldChecks(fields));

const fileBody = (mediaId: string, fields: FileFields) => ({
  mediaId,
  size: fields.size ?? 0,
  fileName: fields.fileName ?? '',
  ...(fields.thumbnail === undefined ? {} : { thumbnail: copy(fields.thumbnail) }),
  ...(fields.description === undefined ? {} : { description: fields.description }),
});

/**
 * A file message for media already uploaded (no transfer happens). Fields not given are empty: size 0,
 * file name ''.
 * @throws {MessageError} code 2 on a malformed media ID or bad fields.
 * @example fileMessage('3q2-7wAAAAAAAAAAAAAAAA', { fileName: 'notes.txt', size: 1200 })
 */
export const fileMessage = (mediaId: string, fields: FileFields = {}): FileMessage =>
  orThrow(firstFailure([mediaIdCheck(mediaId), isFields(fields), () => checkFileFields(fields)]), () => ({ messageType: 'FILE', ...fileBody(mediaId, fields) }));

/**
 * An image message for media already uploaded (no transfer happens). Dimensions not given are 0.
 * @throws {MessageError} code 2 on a malformed media ID or bad fields.
 * @example imageMessage('3q2-7wAAAAAAAAAAAAAAAA', { fileName: 'cat.png', width: 640, height: 480 })
 */
export const imageMessage = (mediaId: string, fields: ImageFields = {}): ImageMessage =>
  orThrow(
    firstFailure([mediaIdCheck(mediaId), isFields(fields), () => checkImageFields(fields)]),
    () => ({
      messageType: 'IMAGE',
      ...fileBody(mediaId, fields),
      width: fields.width ?? 0,
      height: fields.height ?? 0,
      thumbnailWidth: fields.thumbnailWidth ?? 0,
      thumbnailHeight: fields.thumbnailHeight ?? 0,
    }),
  );
