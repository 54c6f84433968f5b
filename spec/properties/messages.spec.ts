/**
 * Message-size boundaries (DESIGN §3 "message size"): UTF-8 bytes of text, description and fileName plus
 * the bytes of thumbnail and rawMessage may total 32,768; one more byte is refused by the client (peer
 * send code 7, channel send code 4) and by the hub (`InvalidMessage`). fast-check splits the 32 KiB
 * between the fields of each message type and fills the strings with 1- to 4-byte characters.
 */
import * as E from 'fp-ts/lib/Either.js';
import fc from 'fast-check';
import { beforeAll, describe, expect, it } from 'vitest';
import {
  type Channel,
  ChannelMessageError,
  type Client,
  encodeMessage,
  type FileMessage,
  fileMessage,
  type HubSession,
  type ImageMessage,
  imageMessage,
  MAX_MESSAGE_SIZE,
  type Message,
  type MessageType,
  messageSize,
  PeerMessageError,
  rawMessage,
  type Task,
  textMessage,
  UploadError,
} from '../../src/index.js';
import { fcOptions, mediaIdArb, messageArb, paletteArb, sameMessage, settle, stringOfUtf8Bytes, world, type World } from './support.js';

/** The counted fields of a message, by name: strings count their UTF-8 bytes, byte arrays their length. */
interface Fields {
  text?: string;
  description?: string;
  fileName?: string;
  rawMessage?: Uint8Array;
  thumbnail?: Uint8Array;
}
type FieldName = keyof Fields;

const FIELDS: { readonly [K in MessageType]: readonly FieldName[] } = {
  TEXT: ['text'],
  RAW: ['rawMessage', 'description'],
  FILE: ['fileName', 'description', 'thumbnail'],
  IMAGE: ['fileName', 'description', 'thumbnail'],
};
const BYTE_FIELDS: ReadonlySet<FieldName> = new Set(['rawMessage', 'thumbnail']);

interface Draft {
  readonly messageType: MessageType;
  readonly mediaId: string;
  readonly fields: Fields;
}

const withField = (fields: Fields, name: FieldName, value: string | Uint8Array): Fields => ({ ...fields, [name]: value });

/** Builds a message with the public constructors (which do not check size: sending does). */
const build = ({ messageType, mediaId, fields }: Draft): Message => {
  const { text, description, fileName, rawMessage: raw, thumbnail } = fields;
  const optional = {
    ...(description === undefined ? {} : { description }),
    ...(fileName === undefined ? {} : { fileName }),
    ...(thumbnail === undefined ? {} : { thumbnail }),
  };
  switch (messageType) {
    case 'TEXT':
      return textMessage(text ?? '');
    case 'RAW':
      return rawMessage(raw ?? new Uint8Array(0), description === undefined ? {} : { description });
    case 'FILE':
      return fileMessage(mediaId, { ...optional, size: 1 });
    case 'IMAGE':
      return imageMessage(mediaId, { ...optional, size: 1, width: 640, height: 480, thumbnailWidth: 64, thumbnailHeight: 48 });
  }
};

/** The same draft with one more byte in field `which` (added if it was absent). */
const grow = (draft: Draft, which: number): Draft => {
  const names = FIELDS[draft.messageType];
  const name = names[which % names.length] as FieldName;
  const current = draft.fields[name];
  const next = BYTE_FIELDS.has(name)
    ? Uint8Array.from([...((current as Uint8Array | undefined) ?? []), 0x2a])
    : `${(current as string | undefined) ?? ''}!`;
  return { ...draft, fields: withField(draft.fields, name, next) };
};

/**
 * A draft whose counted fields total exactly `target` bytes, split between its fields at random cut
 * points; a field given 0 bytes is either absent or empty.
 */
const draftOfSize = (target: number, kinds: readonly MessageType[] = ['TEXT', 'RAW', 'FILE', 'IMAGE']): fc.Arbitrary<Draft> =>
  fc.constantFrom(...kinds).chain((messageType) => {
    const names = FIELDS[messageType];
    return fc
      .record({
        mediaId: mediaIdArb,
        cuts: fc.array(fc.integer({ min: 0, max: target }), { minLength: names.length - 1, maxLength: names.length - 1 }),
        palettes: fc.array(paletteArb, { minLength: names.length, maxLength: names.length }),
        absentWhenEmpty: fc.array(fc.boolean(), { minLength: names.length, maxLength: names.length }),
        byteSalt: fc.nat(255),
      })
      .map(({ mediaId, cuts, palettes, absentWhenEmpty, byteSalt }): Draft => {
        const bounds = [0, ...[...cuts].sort((a, b) => a - b), target];
        let fields: Fields = {};
        names.forEach((name, i) => {
          const size = (bounds[i + 1] ?? 0) - (bounds[i] ?? 0);
          // Required fields (text, rawMessage) are always present; optional ones may be left out at 0.
          const required = name === 'text' || name === 'rawMessage';
          if (size === 0 && absentWhenEmpty[i] && !required) return;
          const value = BYTE_FIELDS.has(name)
            ? Uint8Array.from({ length: size }, (_, j) => (j * 13 + byteSalt) & 0xff)
            : stringOfUtf8Bytes(size, palettes[i] ?? []);
          fields = withField(fields, name, value);
        });
        return { messageType, mediaId, fields };
      });
  });

/** A draft at exactly 32 KiB and the index of the field that gets the one byte too many. */
const atLimit = fc.record({ draft: draftOfSize(MAX_MESSAGE_SIZE), grownField: fc.nat(2) });

const utf8 = new TextEncoder();

/** The 32 KiB rule computed independently of `messageSize`: TextEncoder bytes plus byte-array lengths. */
const countedBytes = (message: Message): number => {
  const record = message as unknown as Record<string, unknown>;
  let total = 0;
  for (const key of ['text', 'description', 'fileName']) {
    const value = record[key];
    if (typeof value === 'string') total += utf8.encode(value).length;
  }
  for (const key of ['rawMessage', 'thumbnail']) {
    const value = record[key];
    if (value instanceof Uint8Array) total += value.length;
  }
  return total;
};

/**
 * Runs of the properties that send each draft through a client and the hub: the byte counting they rely on
 * is checked 1,000 times per property above, in a fraction of the time, so 300 end-to-end runs suffice.
 */
const ROUND_TRIPS = 300;

describe('the 32 KiB message rule', () => {
  it('messageSize counts exactly the UTF-8 bytes of the strings and the length of the byte arrays', () => {
    fc.assert(
      fc.property(messageArb, (message) => {
        expect(messageSize(message)).toBe(countedBytes(message));
      }),
      fcOptions(1000),
    );
  });

  it('every generated draft at the limit counts exactly 32,768 bytes, and one byte more counts 32,769', () => {
    fc.assert(
      fc.property(atLimit, ({ draft, grownField }) => {
        expect(countedBytes(build(draft))).toBe(MAX_MESSAGE_SIZE);
        expect(messageSize(build(draft))).toBe(MAX_MESSAGE_SIZE);
        expect(messageSize(build(grow(draft, grownField)))).toBe(MAX_MESSAGE_SIZE + 1);
      }),
      fcOptions(1000),
    );
  });

  describe('through clients and the hub', () => {
    // One hub and one set of sessions for all runs: sending does not change what the next send may do.
    let w: World;
    let alice: Client;
    let aliceRoom: Channel;
    const bobPeer: Message[] = [];
    const bobRoom: Message[] = [];
    let carol: HubSession;
    let dave: HubSession;
    const daveHears: unknown[] = [];

    beforeAll(async () => {
      // Hundreds of generated messages in one virtual instant: the message rate is not what this tests.
      w = world({ limits: { messageRate: { limit: Infinity, windowMs: 3_000 } } });
      alice = await w.client('alice');
      const bob = await w.client('bob');
      bob.peerMessages$.subscribe(({ message }) => bobPeer.push(message));
      aliceRoom = alice.createChannel('room');
      const bobChannel = bob.createChannel('room');
      bobChannel.messages$.subscribe(({ message }) => bobRoom.push(message));
      await aliceRoom.join();
      await bobChannel.join();
      const login = async (userId: string): Promise<HubSession> => {
        const session = await w.hub.login(userId, w.hub.issueToken(userId));
        if (E.isLeft(session)) throw new Error(`login ${userId}: ${session.left._tag}`);
        return session.right;
      };
      carol = await login('carol');
      dave = await login('dave');
      dave.events$.subscribe((event) => daveHears.push(event));
      for (const session of [carol, dave]) {
        const joined = await w.hub.joinChannel(session, 'hall');
        if (E.isLeft(joined)) throw new Error(`join: ${joined.left._tag}`);
      }
    });

    it('a peer message of exactly 32,768 bytes is delivered and one of 32,769 fails with code 7', async () => {
      await fc.assert(
        fc.asyncProperty(atLimit, async ({ draft, grownField }) => {
          const exact = build(draft);
          const over = build(grow(draft, grownField));
          const before = bobPeer.length;
          await alice.sendMessageToPeer('bob', exact);
          expect(bobPeer.length).toBe(before + 1);
          expect(sameMessage(bobPeer.at(-1) as Message, exact)).toBe(true);
          const refused = await settle(alice.sendMessageToPeer('bob', over));
          expect(refused.ok).toBe(false);
          expect((refused as { error: unknown }).error).toBeInstanceOf(PeerMessageError);
          expect((refused as { error: PeerMessageError }).error.code).toBe(7);
          expect(bobPeer.length).toBe(before + 1);
        }),
        fcOptions(ROUND_TRIPS),
      );
    });

    it('a channel message of exactly 32,768 bytes is delivered and one of 32,769 fails with code 4', async () => {
      await fc.assert(
        fc.asyncProperty(atLimit, async ({ draft, grownField }) => {
          const exact = build(draft);
          const over = build(grow(draft, grownField));
          const before = bobRoom.length;
          await aliceRoom.sendMessage(exact);
          expect(bobRoom.length).toBe(before + 1);
          expect(sameMessage(bobRoom.at(-1) as Message, exact)).toBe(true);
          const refused = await settle(aliceRoom.sendMessage(over));
          expect(refused.ok).toBe(false);
          expect((refused as { error: unknown }).error).toBeInstanceOf(ChannelMessageError);
          expect((refused as { error: ChannelMessageError }).error.code).toBe(4);
          expect(bobRoom.length).toBe(before + 1);
        }),
        fcOptions(ROUND_TRIPS),
      );
    });

    it('the hub itself accepts a wire message of 32,768 bytes and refuses 32,769 with InvalidMessage', async () => {
      await fc.assert(
        fc.asyncProperty(atLimit, async ({ draft, grownField }) => {
          // As a server would see them: JSON text parsed back, not objects shared with the sender.
          const wire = (message: Message): unknown => JSON.parse(JSON.stringify(encodeMessage(message)));
          const exact = wire(build(draft));
          const over = wire(build(grow(draft, grownField)));
          const heard = daveHears.length;
          expect(E.isRight(await w.hub.sendToPeer(carol, 'dave', exact))).toBe(true);
          expect(E.isRight(await w.hub.sendToChannel(carol, 'hall', exact))).toBe(true);
          expect(daveHears.length).toBe(heard + 2);
          expect(await w.hub.sendToPeer(carol, 'dave', over)).toMatchObject({ _tag: 'Left', left: { _tag: 'InvalidMessage' } });
          expect(await w.hub.sendToChannel(carol, 'hall', over)).toMatchObject({ _tag: 'Left', left: { _tag: 'InvalidMessage' } });
          expect(daveHears.length).toBe(heard + 2);
        }),
        fcOptions(ROUND_TRIPS),
      );
    });

    it('an upload whose message fields total 32,768 bytes succeeds and one of 32,769 fails with code 2 before any transfer', async () => {
      const fileDraft = fc.record({
        draft: draftOfSize(MAX_MESSAGE_SIZE, ['FILE', 'IMAGE']),
        grownField: fc.nat(2),
      });
      await fc.assert(
        fc.asyncProperty(fileDraft, async ({ draft, grownField }) => {
          const options = (fields: Fields) => ({
            ...(fields.fileName === undefined ? {} : { fileName: fields.fileName }),
            ...(fields.description === undefined ? {} : { description: fields.description }),
            ...(fields.thumbnail === undefined ? {} : { thumbnail: fields.thumbnail }),
          });
          const upload = (fields: Fields): Task<FileMessage | ImageMessage> =>
            draft.messageType === 'IMAGE'
              ? alice.createImageMessageByUploading(Uint8Array.of(1), options(fields))
              : alice.createFileMessageByUploading(Uint8Array.of(1), options(fields));
          const message = await upload(draft.fields).result;
          expect(messageSize(message)).toBe(MAX_MESSAGE_SIZE);
          const tooBig = upload(grow(draft, grownField).fields);
          const states: string[] = [];
          tooBig.state$.subscribe((state) => states.push(state));
          const refused = await settle(tooBig.result);
          // Refused up front: the task never reached `transferring`.
          expect(states).toEqual(['failed']);
          expect(refused.ok).toBe(false);
          expect((refused as { error: unknown }).error).toBeInstanceOf(UploadError);
          expect((refused as { error: UploadError }).error.code).toBe(2);
        }),
        fcOptions(ROUND_TRIPS),
      );
    });
  });
});
