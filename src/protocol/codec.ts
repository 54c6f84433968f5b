/**
 * io-ts codecs for everything that crosses a boundary as JSON: messages (bytes as base64) and failures.
 * Decoding returns `Either` and never throws; `reportErrors` turns io-ts errors into one readable line
 * naming the offending path, only at the edge.
 * @module
 */
import * as E from 'fp-ts/lib/Either.js';
import { pipe } from 'fp-ts/lib/function.js';
import * as t from 'io-ts';
import { fromBase64, isWellFormed, toBase64 } from '../core/bytes.js';
import { Failure } from '../core/failure.js';
import { isMediaId } from '../core/ids.js';
import { MAX_FILE_SIZE } from '../core/limits.js';
import type { FileMessage, ImageMessage, Message, RawMessage, TextMessage } from '../core/messages.js';

/** Bytes on the wire as canonical base64. */
export const Base64Bytes = new t.Type<Uint8Array, string, unknown>(
  'Base64Bytes',
  (u): u is Uint8Array => u instanceof Uint8Array,
  (u, c) => {
    const bytes = typeof u === 'string' ? fromBase64(u) : undefined;
    return bytes ? t.success(bytes) : t.failure(u, c, 'expected canonical base64');
  },
  toBase64,
);

/** A string that is well-formed UTF-16, so that its UTF-8 length is what the 32 KiB rule counts. */
export const WellFormedString = new t.Type<string, string, unknown>(
  'WellFormedString',
  (u): u is string => typeof u === 'string' && isWellFormed(u),
  (u, c) => (typeof u === 'string' && isWellFormed(u) ? t.success(u) : t.failure(u, c)),
  t.identity,
);

const count = (name: string, max: number) =>
  new t.Type<number, number, unknown>(
    name,
    (u): u is number => typeof u === 'number' && Number.isSafeInteger(u) && u >= 0 && u <= max,
    (u, c) => (typeof u === 'number' && Number.isSafeInteger(u) && u >= 0 && u <= max ? t.success(u) : t.failure(u, c)),
    t.identity,
  );

/** A non-negative safe integer (image dimensions). */
export const Count = count('Count', Number.MAX_SAFE_INTEGER);

/** A file size as carried in a message: 0 (unknown) to 30 MiB. */
export const FileSize = count('FileSize', MAX_FILE_SIZE);

/** A well-formed media ID. */
export const MediaId = new t.Type<string, string, unknown>(
  'MediaId',
  isMediaId,
  (u, c) => (isMediaId(u) ? t.success(u) : t.failure(u, c, 'malformed media ID')),
  t.identity,
);

const TextWire = t.type({ messageType: t.literal('TEXT'), text: WellFormedString });
const RawWire = t.intersection([
  t.type({ messageType: t.literal('RAW'), rawMessage: Base64Bytes }),
  t.partial({ description: WellFormedString }),
]);
const fileFields = {
  mediaId: MediaId,
  size: FileSize,
  fileName: WellFormedString,
};
const fileOptional = t.partial({ thumbnail: Base64Bytes, description: WellFormedString });
const FileWire = t.intersection([t.type({ messageType: t.literal('FILE'), ...fileFields }), fileOptional]);
const ImageWire = t.intersection([
  t.type({
    messageType: t.literal('IMAGE'),
    ...fileFields,
    width: Count,
    height: Count,
    thumbnailWidth: Count,
    thumbnailHeight: Count,
  }),
  fileOptional,
]);
const AnyWire = t.union([TextWire, RawWire, FileWire, ImageWire]);
const Discriminant = t.type({ messageType: t.keyof({ TEXT: null, RAW: null, FILE: null, IMAGE: null }) });

/** A message as JSON on the wire: the same fields, bytes as base64. */
export type WireMessage = t.OutputOf<typeof AnyWire>;

/** Drops keys whose value is `undefined`, so decoded messages have the exact shape of constructed ones. */
const defined = <T extends object>(value: T): T =>
  Object.fromEntries(Object.entries(value).filter(([, v]) => v !== undefined)) as T;

const toMessage = (wire: t.TypeOf<typeof AnyWire>): Message => {
  switch (wire.messageType) {
    case 'TEXT':
      return Object.freeze<TextMessage>({ messageType: 'TEXT', text: wire.text });
    case 'RAW':
      return Object.freeze(defined<RawMessage>({ messageType: 'RAW', rawMessage: wire.rawMessage, description: wire.description } as RawMessage));
    case 'FILE':
      return Object.freeze(
        defined<FileMessage>({
          messageType: 'FILE',
          mediaId: wire.mediaId,
          size: wire.size,
          fileName: wire.fileName,
          thumbnail: wire.thumbnail,
          description: wire.description,
        } as FileMessage),
      );
    case 'IMAGE':
      return Object.freeze(
        defined<ImageMessage>({
          messageType: 'IMAGE',
          mediaId: wire.mediaId,
          size: wire.size,
          fileName: wire.fileName,
          thumbnail: wire.thumbnail,
          description: wire.description,
          width: wire.width,
          height: wire.height,
          thumbnailWidth: wire.thumbnailWidth,
          thumbnailHeight: wire.thumbnailHeight,
        } as ImageMessage),
      );
  }
};

/**
 * The io-ts definition of the message codec. {@link MessageCodec} decodes with the equivalent
 * {@link messageOf} first and asks this one only to report what is wrong with a value it refused.
 */
export const MessageWireCodec = new t.Type<Message, WireMessage, unknown>(
  'Message',
  (u): u is Message => AnyWire.is(u),
  // The discriminant first, so a missing or unknown `messageType` is reported as such, not as "(root)".
  (u, c) => pipe(Discriminant.validate(u, c), E.chain(() => AnyWire.validate(u, c)), E.map(toMessage)),
  (message) => AnyWire.encode(message as t.TypeOf<typeof AnyWire>),
);

type Fields = Readonly<Record<string, unknown>>;
/** A JSON object (not null, not an array): what every wire frame and message is. */
export const isFields = (u: unknown): u is Fields => u !== null && typeof u === 'object' && !Array.isArray(u);
const isText = (u: unknown): u is string => typeof u === 'string' && isWellFormed(u);
const isCount = (u: unknown, max: number): u is number => typeof u === 'number' && Number.isSafeInteger(u) && u >= 0 && u <= max;
/** Marks an optional field that is present but invalid. */
const BAD = Symbol('bad');
const optionalText = (u: unknown): string | undefined | typeof BAD => (u === undefined || isText(u) ? u : BAD);
const optionalBytes = (u: unknown): Uint8Array | undefined | typeof BAD =>
  u === undefined ? undefined : ((typeof u === 'string' ? fromBase64(u) : undefined) ?? BAD);

/**
 * The message {@link MessageWireCodec} decodes `u` into, or `undefined` where it reports an error: the
 * same checks written out, without io-ts contexts and `Either`s (decoding each relayed message at the
 * hub and again at its receiver was a tenth of a client's CPU). `spec/properties/codec.spec.ts` checks
 * that both agree.
 */
export const messageOf = (u: unknown): Message | undefined => {
  if (!isFields(u)) return undefined;
  switch (u['messageType']) {
    case 'TEXT': {
      const text = u['text'];
      return isText(text) ? toMessage({ messageType: 'TEXT', text }) : undefined;
    }
    case 'RAW': {
      const rawMessage = typeof u['rawMessage'] === 'string' ? fromBase64(u['rawMessage']) : undefined;
      const description = optionalText(u['description']);
      if (!rawMessage || description === BAD) return undefined;
      return toMessage({ messageType: 'RAW', rawMessage, ...(description === undefined ? {} : { description }) });
    }
    case 'FILE':
    case 'IMAGE': {
      const { mediaId, size, fileName } = u;
      if (!isMediaId(mediaId) || !isCount(size, MAX_FILE_SIZE) || !isText(fileName)) return undefined;
      const thumbnail = optionalBytes(u['thumbnail']);
      const description = optionalText(u['description']);
      if (thumbnail === BAD || description === BAD) return undefined;
      const optional = { ...(thumbnail === undefined ? {} : { thumbnail }), ...(description === undefined ? {} : { description }) };
      if (u['messageType'] === 'FILE') return toMessage({ messageType: 'FILE', mediaId, size, fileName, ...optional });
      const { width, height, thumbnailWidth, thumbnailHeight } = u;
      const max = Number.MAX_SAFE_INTEGER;
      if (!isCount(width, max) || !isCount(height, max) || !isCount(thumbnailWidth, max) || !isCount(thumbnailHeight, max)) return undefined;
      return toMessage({ messageType: 'IMAGE', mediaId, size, fileName, width, height, thumbnailWidth, thumbnailHeight, ...optional });
    }
    default:
      return undefined;
  }
};

/** The codec of messages: decodes wire JSON into frozen messages, encodes messages to wire JSON. */
export const MessageCodec = new t.Type<Message, WireMessage, unknown>(
  'Message',
  MessageWireCodec.is,
  (u, c) => {
    const message = messageOf(u);
    return message ? t.success(message) : MessageWireCodec.validate(u, c);
  },
  MessageWireCodec.encode,
);

/** One line naming each offending path and what was expected there. */
export const reportErrors = (errors: t.Errors): string =>
  errors
    .slice(0, 3)
    .map((error) => {
      const path = error.context
        .map((entry) => entry.key)
        .filter((key) => key !== '' && !/^\d+$/.test(key))
        .join('.');
      return `${path || '(root)'}: ${error.message ?? `expected ${error.context.at(-1)?.type.name ?? 'a value'}`}`;
    })
    .join('; ');

/** Decodes a wire message; a decode failure is `InvalidMessage` naming the path. */
export const decodeMessage = (u: unknown): E.Either<Failure, Message> => {
  const message = messageOf(u);
  if (message) return E.right(message);
  return pipe(
    MessageWireCodec.decode(u),
    E.mapLeft((errors) => Failure.invalidMessage(reportErrors(errors))),
  );
};

/** Encodes a message for the wire. */
export const encodeMessage = (message: Message): WireMessage => MessageCodec.encode(message);

const FailureWire = t.intersection([t.type({ _tag: t.string }), t.record(t.string, t.unknown)]);

/**
 * Decodes a failure received from a server; an unknown tag becomes `Unknown` rather than an error, so
 * a newer server never crashes an older client.
 */
export const decodeFailure = (u: unknown): Failure =>
  pipe(
    FailureWire.decode(u),
    E.fold(
      () => Failure.unknown('malformed error from server'),
      (wire) => (knownTags.has(wire._tag) ? (wire as unknown as Failure) : Failure.unknown(`server error ${wire._tag}`)),
    ),
  );

const knownTags = new Set<string>(Object.keys(Failure).map((k) => k.charAt(0).toUpperCase() + k.slice(1)));
