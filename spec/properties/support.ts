/**
 * Shared pieces of the property specs: the one fixed seed (printed once per spec file, so a failure can
 * be replayed), arbitraries for the domain (media IDs, well-formed text, messages, strings of an exact
 * UTF-8 size) and a logged-in client on an in-process hub driven by virtual time.
 * @module
 */
import fc from 'fast-check';
import {
  type Client,
  type ClientOptions,
  createClient,
  createHub,
  fileMessage,
  type Hub,
  type HubOptions,
  imageMessage,
  MAX_FILE_SIZE,
  type Message,
  type MessageType,
  memoryTransport,
  type MemoryTransportOptions,
  rawMessage,
  textMessage,
  virtualClock,
  type VirtualClock,
} from '../../src/index.js';

/** The seed of every property in this folder. Change it only on purpose; failures print it with their path. */
export const SEED = 20261126;

let announced = false;

/**
 * fast-check options with the fixed seed. The seed is printed the first time a spec file asks, so a CI
 * log always says which seed ran.
 * @example fc.assert(fc.property(fc.nat(), (n) => n >= 0), fcOptions(1000))
 */
export const fcOptions = (numRuns: number): { readonly seed: number; readonly numRuns: number } => {
  if (!announced) {
    announced = true;
    console.log(`fast-check seed ${SEED} (numRuns per property as declared in each spec)`);
  }
  return { seed: SEED, numRuns };
};

// ---- identifiers and text ----------------------------------------------------------------------

const MEDIA_ID_ALPHABET = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_-';

/** Media IDs as the hub mints them: 22 URL-safe base64 characters (128 bits). */
export const mediaIdArb: fc.Arbitrary<string> = fc.string({
  unit: fc.constantFrom(...MEDIA_ID_ALPHABET),
  minLength: 22,
  maxLength: 22,
});

/** Well-formed text: ASCII, any code point (astral ones included), and multi-code-point graphemes. */
export const textArb = (maxLength = 64): fc.Arbitrary<string> =>
  fc.oneof(
    fc.string({ maxLength }),
    fc.string({ unit: 'binary', maxLength }),
    fc.string({ unit: 'grapheme', maxLength }),
  );

/** How many bytes a code point takes in UTF-8. */
export const utf8Width = (codePoint: number): 1 | 2 | 3 | 4 =>
  codePoint < 0x80 ? 1 : codePoint < 0x800 ? 2 : codePoint < 0x10000 ? 3 : 4;

/** Code points of every UTF-8 width: ASCII, 2-byte (é), 3-byte BMP (€, CJK), 4-byte astral (emoji). */
export const codePointArb: fc.Arbitrary<number> = fc.oneof(
  fc.integer({ min: 0x20, max: 0x7e }),
  fc.integer({ min: 0x80, max: 0x7ff }),
  fc.oneof(fc.integer({ min: 0x800, max: 0xd7ff }), fc.integer({ min: 0xe000, max: 0xfffd })),
  fc.integer({ min: 0x10000, max: 0x10ffff }),
);

/** One character of each width, used to land exactly on a byte count. */
const FILLER = ['', 'a', 'é', '€'] as const;

/**
 * A well-formed string of exactly `bytes` UTF-8 bytes, drawn from `palette` in order (cycling), with a
 * narrower filler character whenever the next one would overshoot. Deterministic in its inputs, so
 * fast-check can shrink the palette.
 */
export const stringOfUtf8Bytes = (bytes: number, palette: readonly number[]): string => {
  const parts: string[] = [];
  let left = bytes;
  for (let i = 0; left > 0; i++) {
    const codePoint = palette.length === 0 ? 0x61 : (palette[i % palette.length] ?? 0x61);
    const width = utf8Width(codePoint);
    if (width <= left) {
      parts.push(String.fromCodePoint(codePoint));
      left -= width;
    } else {
      parts.push(FILLER[left as 1 | 2 | 3]);
      left = 0;
    }
  }
  return parts.join('');
};

/** A palette for {@link stringOfUtf8Bytes}. */
export const paletteArb: fc.Arbitrary<number[]> = fc.array(codePointArb, { minLength: 1, maxLength: 16 });

// ---- messages ----------------------------------------------------------------------------------

/** Optional fields as fast-check generates them: absent rather than `undefined`. */
const optionalField = <K extends string, V>(key: K, arb: fc.Arbitrary<V>): fc.Arbitrary<{ [P in K]?: V }> =>
  fc.option(arb, { nil: undefined }).map((value) => (value === undefined ? {} : ({ [key]: value } as { [P in K]: V })));

const bytesArb = (maxLength: number): fc.Arbitrary<Uint8Array> => fc.uint8Array({ maxLength });

const dimensionArb: fc.Arbitrary<number> = fc.oneof(fc.integer({ min: 0, max: 10_000 }), fc.maxSafeNat());

/** Valid messages of each type, built with the public constructors (so their shape is the library's). */
export const messageArbs: { readonly [K in MessageType]: fc.Arbitrary<Extract<Message, { messageType: K }>> } = {
  TEXT: textArb(200).map((text) => textMessage(text)),
  RAW: fc.tuple(bytesArb(300), optionalField('description', textArb())).map(([bytes, fields]) => rawMessage(bytes, fields)),
  FILE: fc
    .tuple(
      mediaIdArb,
      optionalField('size', fc.integer({ min: 0, max: MAX_FILE_SIZE })),
      optionalField('fileName', textArb()),
      optionalField('thumbnail', bytesArb(300)),
      optionalField('description', textArb()),
    )
    .map(([mediaId, size, fileName, thumbnail, description]) =>
      fileMessage(mediaId, { ...size, ...fileName, ...thumbnail, ...description }),
    ),
  IMAGE: fc
    .tuple(
      mediaIdArb,
      optionalField('size', fc.integer({ min: 0, max: MAX_FILE_SIZE })),
      optionalField('fileName', textArb()),
      optionalField('thumbnail', bytesArb(300)),
      optionalField('description', textArb()),
      optionalField('width', dimensionArb),
      optionalField('height', dimensionArb),
      optionalField('thumbnailWidth', dimensionArb),
      optionalField('thumbnailHeight', dimensionArb),
    )
    .map(([mediaId, size, fileName, thumbnail, description, width, height, thumbnailWidth, thumbnailHeight]) =>
      imageMessage(mediaId, {
        ...size,
        ...fileName,
        ...thumbnail,
        ...description,
        ...width,
        ...height,
        ...thumbnailWidth,
        ...thumbnailHeight,
      }),
    ),
};

/** Any valid message. */
export const messageArb: fc.Arbitrary<Message> = fc.oneof(messageArbs.TEXT, messageArbs.RAW, messageArbs.FILE, messageArbs.IMAGE);

export { nodeSha256 } from '../../src/platform/node-hash.js';

// ---- a hub and logged-in clients on virtual time -----------------------------------------------

/** A hub on a virtual clock with logged-in clients. Nothing here sleeps: time moves by `clock.advance`. */
export interface World {
  readonly clock: VirtualClock;
  readonly hub: Hub;
  /** Logs a new client in as `userId` over the memory transport. */
  client(userId: string, options?: { readonly transport?: MemoryTransportOptions; readonly client?: Partial<ClientOptions> }): Promise<Client>;
}

/** A fresh hub on a fresh virtual clock. */
export const world = (hubOptions: Omit<HubOptions, 'clock'> = {}): World => {
  const clock = virtualClock();
  const hub = createHub({ ...hubOptions, clock });
  return {
    clock,
    hub,
    async client(userId, options = {}) {
      const client = createClient({ ...options.client, transport: memoryTransport(hub, options.transport ?? {}), clock });
      await client.login({ userId, token: hub.issueToken(userId) });
      return client;
    },
  };
};

/** An async iterable over the given chunks, as a transport would deliver them. */
export async function* chunksOf(chunks: readonly Uint8Array[]): AsyncIterable<Uint8Array> {
  for (const chunk of chunks) yield chunk;
}

/** Settles a promise into data, so a property can assert on a rejection without try/catch. */
export const settle = <T>(promise: Promise<T>): Promise<{ ok: true; value: T } | { ok: false; error: unknown }> =>
  promise.then(
    (value) => ({ ok: true as const, value }),
    (error: unknown) => ({ ok: false as const, error }),
  );

/**
 * Whether two messages are equal field by field, comparing byte arrays byte by byte. Used instead of
 * `toEqual` on 32 KiB messages, where the generic deep equality costs tens of milliseconds per call.
 */
export const sameMessage = (a: Message, b: Message): boolean => {
  const left = a as unknown as Record<string, unknown>;
  const right = b as unknown as Record<string, unknown>;
  const keys = Object.keys(left).sort();
  if (keys.join() !== Object.keys(right).sort().join()) return false;
  return keys.every((key) => {
    const x = left[key];
    const y = right[key];
    if (x instanceof Uint8Array && y instanceof Uint8Array) {
      return x.length === y.length && x.every((byte, i) => byte === y[i]);
    }
    return Object.is(x, y);
  });
};
