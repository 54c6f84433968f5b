/**
 * DESIGN §3 "message size": UTF-8 bytes of text, description and fileName plus the bytes of thumbnail and
 * rawMessage ≤ 32 KiB (32,768); else peer send 7 / channel send 4 INVALID_MESSAGE; the server checks it too.
 */
import { afterEach, describe, expect, it } from 'vitest';
import {
  type Client,
  MAX_MESSAGE_SIZE,
  type Message,
  memoryStore,
  memoryTransport,
  messageSize,
  rawMessage,
  textMessage,
} from '../../src/index.js';
import { bytes, flush, rejectsWith, throwsWith, world, type World } from './support.js';

const LIMIT = 32_768;
const MEDIA_ID = 'AAAAAAAAAAAAAAAAAAAAAA';

/** Alice and Bob logged in, with Bob's received peer messages. */
const pair = async (w: World): Promise<{ alice: Client; bob: Client; inbox: Message[] }> => {
  const alice = await w.loggedIn('alice');
  const bob = await w.loggedIn('bob');
  const inbox: Message[] = [];
  bob.peerMessages$.subscribe((event) => inbox.push(event.message));
  return { alice, bob, inbox };
};

/** Messages exactly at the limit, each paired with one a byte over it. */
const atAndOver = (): [string, Message, Message][] => [
  ['ASCII text', textMessage('a'.repeat(LIMIT)), textMessage('a'.repeat(LIMIT + 1))],
  ['2-byte text', textMessage('é'.repeat(LIMIT / 2)), textMessage(`${'é'.repeat(LIMIT / 2)}a`)],
  ['3-byte text', textMessage(`${'中'.repeat(10_922)}ab`), textMessage(`${'中'.repeat(10_922)}abc`)],
  ['4-byte text', textMessage('😀'.repeat(LIMIT / 4)), textMessage(`${'😀'.repeat(LIMIT / 4)}a`)],
  ['raw bytes', rawMessage(bytes(LIMIT)), rawMessage(bytes(LIMIT + 1))],
  ['raw bytes plus description', rawMessage(bytes(LIMIT - 4), { description: 'éé' }), rawMessage(bytes(LIMIT - 4), { description: 'ééa' })],
  [
    'file: thumbnail + fileName + description',
    { messageType: 'FILE', mediaId: MEDIA_ID, size: 10, fileName: 'a'.repeat(700), description: 'é'.repeat(34), thumbnail: bytes(32_000) },
    { messageType: 'FILE', mediaId: MEDIA_ID, size: 10, fileName: 'a'.repeat(701), description: 'é'.repeat(34), thumbnail: bytes(32_000) },
  ],
  [
    'image: thumbnail + fileName',
    {
      messageType: 'IMAGE',
      mediaId: MEDIA_ID,
      size: 10,
      fileName: 'ü'.repeat(384),
      thumbnail: bytes(LIMIT - 768),
      width: 1,
      height: 1,
      thumbnailWidth: 1,
      thumbnailHeight: 1,
    },
    {
      messageType: 'IMAGE',
      mediaId: MEDIA_ID,
      size: 10,
      fileName: 'ü'.repeat(384),
      thumbnail: bytes(LIMIT - 767),
      width: 1,
      height: 1,
      thumbnailWidth: 1,
      thumbnailHeight: 1,
    },
  ],
];

describe('message size', () => {
  let w: World;
  afterEach(() => w.hub.close());

  it('the limit is 32 KiB, and messageSize counts UTF-8 bytes', () => {
    w = world();
    expect(MAX_MESSAGE_SIZE).toBe(LIMIT);
    for (const [what, at, over] of atAndOver()) {
      expect(messageSize(at), what).toBe(LIMIT);
      expect(messageSize(over), what).toBe(LIMIT + 1);
    }
  });

  describe.each(atAndOver())('%s', (_what, at, over) => {
    it('at 32,768 bytes is delivered to a peer', async () => {
      w = world();
      const { alice, inbox } = await pair(w);
      await alice.sendMessageToPeer('bob', at);
      expect(inbox).toHaveLength(1);
      expect(messageSize(inbox[0]!)).toBe(LIMIT);
    });

    it('at 32,769 bytes fails peer send with 7 INVALID_MESSAGE and is not delivered', async () => {
      w = world();
      const { alice, inbox } = await pair(w);
      await rejectsWith(alice.sendMessageToPeer('bob', over), { name: 'PeerMessageError', code: 7, mentions: /32769.*32768/ });
      await flush();
      expect(inbox).toEqual([]);
    });

    it('at 32,769 bytes fails channel send with 4 INVALID_MESSAGE, and at 32,768 it is delivered', async () => {
      w = world();
      const { alice, bob } = await pair(w);
      const mine = alice.createChannel('lobby');
      const theirs = bob.createChannel('lobby');
      await mine.join();
      await theirs.join();
      const received: Message[] = [];
      theirs.messages$.subscribe((event) => received.push(event.message));
      await rejectsWith(mine.sendMessage(over), { name: 'ChannelMessageError', code: 4, mentions: /32769/ });
      await mine.sendMessage(at);
      expect(received).toHaveLength(1);
      expect(messageSize(received[0]!)).toBe(LIMIT);
    });
  });

  it('media IDs, sizes and dimensions do not count: a 32,768-byte file name alone fits', async () => {
    w = world();
    const { alice, inbox } = await pair(w);
    const message: Message = { messageType: 'FILE', mediaId: 'Z'.repeat(64), size: 31_457_280, fileName: 'n'.repeat(LIMIT) };
    await alice.sendMessageToPeer('bob', message);
    expect(inbox).toHaveLength(1);
  });

  it('a message built by media ID may be over the limit, but sending it fails with 7', async () => {
    w = world();
    const { alice } = await pair(w);
    const message = alice.createFileMessageByMediaId(MEDIA_ID, { thumbnail: bytes(LIMIT + 1) });
    await rejectsWith(alice.sendMessageToPeer('bob', message), { name: 'PeerMessageError', code: 7 });
  });

  describe('uploads whose message could never be sent are refused up front with 2, moving no byte', () => {
    it.each([
      ['a thumbnail over 32 KiB', { thumbnail: bytes(LIMIT + 1) }],
      ['a file name over 32 KiB', { fileName: 'f'.repeat(LIMIT + 1) }],
      ['a description over 32 KiB', { description: 'd'.repeat(LIMIT + 1) }],
      ['fields that add up to over 32 KiB', { thumbnail: bytes(LIMIT - 10), fileName: 'f'.repeat(6), description: 'ééé' }],
    ])('%s', async (_what, options) => {
      const store = memoryStore();
      w = world({ hub: { store } });
      const client = await w.loggedIn();
      await rejectsWith(client.createFileMessageByUploading(bytes(100), options).result, {
        name: 'UploadError',
        code: 2,
        mentions: /fileName, description and thumbnail/,
      });
      await rejectsWith(client.createImageMessageByUploading(bytes(100), options).result, { name: 'UploadError', code: 2 });
      expect(store.bytesHeld).toBe(0);
    });

    it('and fields that add up to exactly 32 KiB are accepted', async () => {
      w = world();
      const client = await w.loggedIn();
      const message = await client.createFileMessageByUploading(bytes(100), { thumbnail: bytes(LIMIT - 12), fileName: 'f'.repeat(6), description: 'ééé' })
        .result;
      expect(messageSize(message)).toBe(LIMIT);
    });
  });

  describe('the server checks it too', () => {
    const live = { signal: new AbortController().signal };
    it('a peer message over the limit sent straight through a transport session is refused by the hub', async () => {
      w = world();
      const { inbox } = await pair(w);
      const session = await memoryTransport(w.hub).connect({ userId: 'mallory', token: w.hub.issueToken('mallory') }, live);
      const outcome = await session.sendToPeer('bob', textMessage('a'.repeat(LIMIT + 1)), { ...live, messageId: 'over' }).catch((e: unknown) => e);
      expect(outcome).toMatchObject({ failure: { _tag: 'InvalidMessage' } });
      await session.sendToPeer('bob', textMessage('a'.repeat(LIMIT)), { ...live, messageId: 'at' });
      expect(inbox).toHaveLength(1);
    });

    it('a channel message over the limit sent straight through a transport session is refused by the hub', async () => {
      w = world();
      const { bob } = await pair(w);
      const theirs = bob.createChannel('lobby');
      await theirs.join();
      const received: Message[] = [];
      theirs.messages$.subscribe((event) => received.push(event.message));
      const session = await memoryTransport(w.hub).connect({ userId: 'mallory', token: w.hub.issueToken('mallory') }, live);
      await session.joinChannel('lobby', live);
      const outcome = await session.sendToChannel('lobby', rawMessage(bytes(LIMIT + 1)), { ...live, messageId: 'over' }).catch((e: unknown) => e);
      expect(outcome).toMatchObject({ failure: { _tag: 'InvalidMessage' } });
      expect(received).toEqual([]);
    });

    it('the hub refuses an oversize wire message handed to it directly', async () => {
      w = world();
      const login = await w.hub.login('mallory', w.hub.issueToken('mallory'));
      await w.hub.login('bob', w.hub.issueToken('bob'));
      if (login._tag !== 'Right') throw new Error('login failed');
      const result = await w.hub.sendToPeer(login.right, 'bob', { messageType: 'TEXT', text: 'a'.repeat(LIMIT + 1) });
      expect(result).toMatchObject({ _tag: 'Left', left: { _tag: 'InvalidMessage' } });
    });
  });

  it('a text that is not well-formed UTF-16 is refused: by the constructor with 2, by send with 7', async () => {
    w = world();
    const { alice } = await pair(w);
    throwsWith(() => textMessage('\uD800'), { name: 'MessageError', code: 2, mentions: /'text'/ });
    const handMade = { messageType: 'TEXT', text: 'x\uDC00' } as Message;
    await rejectsWith(alice.sendMessageToPeer('bob', handMade), { name: 'PeerMessageError', code: 7 });
  });
});
