/**
 * Issue 15, message IDs: every peer and channel message carries the sender's ID to its receivers; one
 * the caller gives is echoed in the result, one it does not give is chosen (22 URL-safe characters); an
 * invalid one is refused (peer code 7, channel code 4) before anything is sent. A send repeated with an
 * ID the same sender used within 24 hours delivers nothing and answers as the first did; IDs belong to
 * their sender, and the newest 4,096 per sender are remembered. The races are
 * `spec/properties/exactly-once.spec.ts`.
 */
import * as E from 'fp-ts/lib/Either.js';
import { describe, expect, it } from 'vitest';
import {
  type ChannelMessageEvent,
  type Client,
  encodeMessage,
  MESSAGE_IDS_PER_SENDER,
  type PeerMessageEvent,
  textMessage,
} from '../../src/index.js';
import { flush, rejectsWith, world, type World } from './support.js';

/** A client of `userId`, logged in, recording its peer messages. */
const receiving = async (w: World, userId: string): Promise<{ readonly client: Client; readonly seen: PeerMessageEvent[] }> => {
  const client = w.client();
  const seen: PeerMessageEvent[] = [];
  client.peerMessages$.subscribe((event) => seen.push(event));
  await client.login({ userId, token: w.hub.issueToken(userId, 30 * 24 * 3600_000) });
  return { client, seen };
};

/** A client of `userId` in channel `room`, recording what it hears there. */
const inRoom = async (w: World, userId: string): Promise<{ readonly client: Client; readonly seen: ChannelMessageEvent[] }> => {
  const client = await w.loggedIn(userId);
  const room = client.createChannel('room');
  const seen: ChannelMessageEvent[] = [];
  room.messages$.subscribe((event) => seen.push(event));
  await room.join();
  return { client, seen };
};

const GENERATED = /^[A-Za-z0-9_-]{22}$/;

/** IDs a send must refuse: empty, blank, too long, not printable ASCII, not a string. */
const INVALID_IDS: readonly unknown[] = ['', ' ', 'x'.repeat(65), 'café', 'tab\there', 'line\n', 42, null, {}];

describe('message IDs', () => {
  it('gives peer receivers the sender’s ID: the caller’s, echoed, or one chosen per send', async () => {
    const w = world();
    const alice = await w.loggedIn('alice');
    const bob = await receiving(w, 'bob');
    const given = await alice.sendMessageToPeer('bob', textMessage('1'), { messageId: 'order-4711' });
    const chosen = await alice.sendMessageToPeer('bob', textMessage('2'));
    const another = await alice.sendMessageToPeer('bob', textMessage('3'), { enableOfflineMessaging: true });
    expect(given).toEqual({ state: 'RECEIVED', messageId: 'order-4711' });
    expect(chosen.messageId).toMatch(GENERATED);
    expect(another.messageId).toMatch(GENERATED);
    expect(another.messageId).not.toBe(chosen.messageId);
    await flush(2);
    expect(bob.seen.map(({ messageId }) => messageId)).toEqual(['order-4711', chosen.messageId, another.messageId]);
  });

  it('gives channel members the sender’s ID: the caller’s, echoed, or one chosen per send', async () => {
    const w = world();
    const bob = await inRoom(w, 'bob');
    const alice = (await inRoom(w, 'alice')).client.createChannel('room');
    expect(await alice.sendMessage(textMessage('1'), { messageId: 'm-1' })).toEqual({ messageId: 'm-1' });
    const chosen = await alice.sendMessage(textMessage('2'));
    expect(chosen.messageId).toMatch(GENERATED);
    await flush(2);
    expect(bob.seen.map(({ messageId, memberId }) => [memberId, messageId])).toEqual([
      ['alice', 'm-1'],
      ['alice', chosen.messageId],
    ]);
  });

  it('refuses an invalid ID before anything is sent: peer code 7, channel code 4, nothing delivered, no rate spent', async () => {
    const w = world({ hub: { limits: { messageRate: { limit: 2, windowMs: 1_000 } } } });
    const bob = await receiving(w, 'bob');
    const bobRoom = await inRoom(w, 'bobby');
    const alice = await w.loggedIn('alice');
    const room = alice.createChannel('room');
    await room.join();
    for (const messageId of INVALID_IDS) {
      const peer = await rejectsWith(alice.sendMessageToPeer('bob', textMessage('x'), { messageId } as never), { name: 'PeerMessageError', code: 7, mentions: /messageId/ });
      expect(peer.failure._tag).toBe('InvalidArgument');
      await rejectsWith(room.sendMessage(textMessage('x'), { messageId } as never), { name: 'ChannelMessageError', code: 4, mentions: /messageId/ });
    }
    await rejectsWith(alice.sendMessageToPeer('bob', textMessage('x'), { enableOfflineMessaging: 'yes' } as never), { name: 'PeerMessageError', code: 7 });
    await flush(2);
    expect(bob.seen).toEqual([]);
    expect(bobRoom.seen).toEqual([]);
    // The rate (2 a second) was not touched by any refusal.
    await alice.sendMessageToPeer('bob', textMessage('ok'));
    await room.sendMessage(textMessage('ok'));
  });

  it('is checked at the hub too, for clients that skip their own checks', async () => {
    const w = world();
    const session = await w.hub.login('alice', w.hub.issueToken('alice'));
    if (E.isLeft(session)) throw new Error(session.left._tag);
    await w.hub.joinChannel(session.right, 'room');
    for (const messageId of INVALID_IDS) {
      const peer = await w.hub.sendToPeer(session.right, 'bob', encodeMessage(textMessage('x')), { messageId, enableOfflineMessaging: true });
      expect(E.isLeft(peer) && peer.left._tag).toBe('InvalidArgument');
      const channel = await w.hub.sendToChannel(session.right, 'room', encodeMessage(textMessage('x')), { messageId });
      expect(E.isLeft(channel) && channel.left._tag).toBe('InvalidArgument');
    }
    const bob = await receiving(w, 'bob');
    expect(bob.seen).toEqual([]);
  });

  it('delivers a repeated ID once and answers as the first send did, even when the answer would now differ', async () => {
    const w = world();
    const alice = await w.loggedIn('alice');
    // Cached while bob was offline: a retry after he logged in is not delivered again, and still says CACHED.
    const first = await alice.sendMessageToPeer('bob', textMessage('photo'), { messageId: 'x1', enableOfflineMessaging: true });
    expect(first.state).toBe('CACHED_BY_SERVER');
    const bob = await receiving(w, 'bob');
    await flush(2);
    expect(await alice.sendMessageToPeer('bob', textMessage('photo'), { messageId: 'x1', enableOfflineMessaging: true })).toEqual(first);
    // Received while he was online: a retry after he left is not refused with code 3, and still says RECEIVED.
    const second = await alice.sendMessageToPeer('bob', textMessage('hi'), { messageId: 'x2' });
    await bob.client.logout();
    expect(await alice.sendMessageToPeer('bob', textMessage('hi'), { messageId: 'x2' })).toEqual(second);
    expect(bob.seen.map(({ messageId, isOfflineMessage }) => [messageId, isOfflineMessage])).toEqual([
      ['x1', true],
      ['x2', false],
    ]);
  });

  it('keeps IDs per sender: two senders’ equal IDs are two messages', async () => {
    const w = world();
    const bob = await receiving(w, 'bob');
    await (await w.loggedIn('alice')).sendMessageToPeer('bob', textMessage('from alice'), { messageId: 'same' });
    await (await w.loggedIn('carol')).sendMessageToPeer('bob', textMessage('from carol'), { messageId: 'same' });
    await flush(2);
    expect(bob.seen.map(({ peerId, messageId }) => [peerId, messageId])).toEqual([
      ['alice', 'same'],
      ['carol', 'same'],
    ]);
  });

  it('delivers a repeated channel ID once to every member', async () => {
    const w = world();
    const bob = await inRoom(w, 'bob');
    const carol = await inRoom(w, 'carol');
    const room = (await inRoom(w, 'alice')).client.createChannel('room');
    await room.sendMessage(textMessage('hello'), { messageId: 'c1' });
    await room.sendMessage(textMessage('hello'), { messageId: 'c1' });
    await flush(2);
    expect(bob.seen.map(({ messageId }) => messageId)).toEqual(['c1']);
    expect(carol.seen.map(({ messageId }) => messageId)).toEqual(['c1']);
  });

  it('remembers the newest 4,096 IDs of a sender: the oldest beyond them is delivered again', async () => {
    const w = world({ hub: { limits: { messageRate: { limit: Infinity, windowMs: 1_000 } } } });
    const bob = await receiving(w, 'bob');
    const alice = await w.hub.login('alice', w.hub.issueToken('alice'));
    if (E.isLeft(alice)) throw new Error(alice.left._tag);
    const send = (i: number) => w.hub.sendToPeer(alice.right, 'bob', encodeMessage(textMessage(`#${i}`)), { messageId: `id-${i}` });
    for (let i = 0; i <= MESSAGE_IDS_PER_SENDER; i++) await send(i);
    // id-0 was forgotten for id-4096; id-1 is still remembered.
    await send(1);
    await send(0);
    await flush(2);
    expect(bob.seen).toHaveLength(MESSAGE_IDS_PER_SENDER + 2);
    expect(bob.seen.at(-1)?.messageId).toBe('id-0');
  });
  it('remembers peer and channel sends apart: an ID reused across the two kinds names two sends', async () => {
    const w = world();
    const alice = await inRoom(w, 'alice');
    const carol = await inRoom(w, 'carol');
    const bob = await receiving(w, 'bob');
    await alice.client.createChannel('room').sendMessage(textMessage('to the room'), { messageId: 'k' });
    expect(await alice.client.sendMessageToPeer('bob', textMessage('to bob'), { messageId: 'k' })).toEqual({ state: 'RECEIVED', messageId: 'k' });
    expect(await alice.client.createChannel('room').sendMessage(textMessage('to the room'), { messageId: 'k' })).toEqual({ messageId: 'k' });
    await flush(2);
    expect(bob.seen.map(({ messageId }) => messageId)).toEqual(['k']);
    expect(carol.seen.map(({ messageId }) => messageId)).toEqual(['k']);
  });
});
