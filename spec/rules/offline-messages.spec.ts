/**
 * Issue 15, offline messages: a peer send with `enableOfflineMessaging` to an offline peer is kept
 * (`CACHED_BY_SERVER`) and delivered at the peer's next login, first and in order, marked
 * `isOfflineMessage`; without the option an offline peer is code 3. Kept for 7 days or the hub's media
 * retention, whichever is shorter (to the millisecond, on the virtual clock), the newest 200 per
 * receiver, at most `limits.offlineMessages` of one sender at once (code 5), and counted in the message
 * rate. The model-based property of the same rules is `spec/properties/offline-ring.spec.ts`.
 */
import * as E from 'fp-ts/lib/Either.js';
import { describe, expect, it } from 'vitest';
import {
  type Client,
  encodeMessage,
  OFFLINE_MESSAGE_TTL_MS,
  OFFLINE_MESSAGES_PER_RECEIVER,
  type PeerMessageEvent,
  textMessage,
} from '../../src/index.js';
import { bytes, expectSameBytes, flush, rejectsWith, world, type World } from './support.js';

const DAY = 24 * 3600_000;

/** A client of `userId` recording its peer messages from before its first login (offline ones come at login). */
const receiver = (w: World, userId: string): { readonly client: Client; readonly seen: PeerMessageEvent[]; login(): Promise<void> } => {
  const client = w.client();
  const seen: PeerMessageEvent[] = [];
  client.peerMessages$.subscribe((event) => seen.push(event));
  return {
    client,
    seen,
    async login() {
      await client.login({ userId, token: w.hub.issueToken(userId, 30 * DAY) });
      await flush(2);
    },
  };
};

const textsOf = (seen: readonly PeerMessageEvent[]): string[] => seen.map(({ message }) => (message.messageType === 'TEXT' ? message.text : message.messageType));

const offline = { enableOfflineMessaging: true } as const;

describe('offline messages', () => {
  it('keeps a message for an offline peer (CACHED_BY_SERVER) and delivers it at login, as sent, marked offline', async () => {
    const w = world();
    const alice = await w.loggedIn('alice');
    const sentAt = w.clock.now();
    const sent = await alice.sendMessageToPeer('bob', textMessage('while you were out'), offline);
    expect(sent.state).toBe('CACHED_BY_SERVER');
    w.clock.advance(3_600_000);
    const bob = receiver(w, 'bob');
    await bob.login();
    expect(bob.seen).toEqual([
      { peerId: 'alice', message: textMessage('while you were out'), serverReceivedTs: sentAt, messageId: sent.messageId, isOfflineMessage: true },
    ]);
    // Delivered once: the next login finds nothing.
    await bob.client.logout();
    await bob.login();
    expect(bob.seen).toHaveLength(1);
  });

  it('delivers to an online peer at once (RECEIVED, not offline), with or without the option', async () => {
    const w = world();
    const alice = await w.loggedIn('alice');
    const bob = receiver(w, 'bob');
    await bob.login();
    expect((await alice.sendMessageToPeer('bob', textMessage('one'), offline)).state).toBe('RECEIVED');
    expect((await alice.sendMessageToPeer('bob', textMessage('two'))).state).toBe('RECEIVED');
    await flush(2);
    expect(bob.seen.map(({ isOfflineMessage }) => isOfflineMessage)).toEqual([false, false]);
    expect(textsOf(bob.seen)).toEqual(['one', 'two']);
  });

  it('refuses an offline peer with code 3 without the option, and keeps nothing', async () => {
    const w = world();
    const alice = await w.loggedIn('alice');
    await rejectsWith(alice.sendMessageToPeer('bob', textMessage('lost')), { name: 'PeerMessageError', code: 3 });
    await rejectsWith(alice.sendMessageToPeer('bob', textMessage('lost'), { enableOfflineMessaging: false }), { name: 'PeerMessageError', code: 3 });
    const bob = receiver(w, 'bob');
    await bob.login();
    expect(bob.seen).toEqual([]);
  });

  it('delivers offline messages first at login, in the order sent across senders, then live ones', async () => {
    const w = world();
    const alice = await w.loggedIn('alice');
    const carol = await w.loggedIn('carol');
    await alice.sendMessageToPeer('bob', textMessage('a1'), offline);
    w.clock.advance(1);
    await carol.sendMessageToPeer('bob', textMessage('c1'), offline);
    w.clock.advance(1);
    await alice.sendMessageToPeer('bob', textMessage('a2'), offline);
    const bob = receiver(w, 'bob');
    await bob.login();
    await alice.sendMessageToPeer('bob', textMessage('live'), offline);
    await flush(2);
    expect(textsOf(bob.seen)).toEqual(['a1', 'c1', 'a2', 'live']);
    expect(bob.seen.map(({ isOfflineMessage }) => isOfflineMessage)).toEqual([true, true, true, false]);
    expect(bob.seen.map(({ peerId }) => peerId)).toEqual(['alice', 'carol', 'alice', 'alice']);
  });

  describe('expiry, on the virtual clock: 7 days or the retention, whichever is shorter', () => {
    /** Sends at t to two offline peers; one logs in at t + ttl − 1 (gets it), the other at t + ttl (does not). */
    const expiresAfter = async (w: World, ttl: number): Promise<void> => {
      const alice = await w.loggedIn('alice');
      const early = receiver(w, 'early');
      const late = receiver(w, 'late');
      await alice.sendMessageToPeer('early', textMessage('m'), offline);
      await alice.sendMessageToPeer('late', textMessage('m'), offline);
      w.clock.advance(ttl - 1);
      await early.login();
      expect(textsOf(early.seen)).toEqual(['m']);
      w.clock.advance(1);
      await late.login();
      expect(late.seen).toEqual([]);
    };

    it('is 7 days when the retention is longer (30 days)', async () => {
      expect(OFFLINE_MESSAGE_TTL_MS).toBe(7 * DAY);
      await expiresAfter(world({ hub: { retentionMs: 30 * DAY } }), 7 * DAY);
    });

    it('is 7 days with the default retention (7 days)', async () => {
      const w = world();
      expect(w.hub.retentionMs).toBe(7 * DAY);
      await expiresAfter(w, 7 * DAY);
    });

    it('is the retention when it is shorter (1 hour)', async () => {
      await expiresAfter(world({ hub: { retentionMs: 3_600_000 } }), 3_600_000);
    });
  });

  it('keeps the newest 200 per receiver: the 201st replaces the oldest', async () => {
    const w = world();
    const alice = await w.loggedIn('alice');
    const count = OFFLINE_MESSAGES_PER_RECEIVER + 5;
    for (let i = 0; i < count; i++) {
      // 180 messages per 3 s is the message rate: time passes between sends.
      w.clock.advance(20);
      await alice.sendMessageToPeer('bob', textMessage(`#${i}`), offline);
    }
    const bob = receiver(w, 'bob');
    await bob.login();
    expect(textsOf(bob.seen)).toEqual(Array.from({ length: OFFLINE_MESSAGES_PER_RECEIVER }, (_, i) => `#${i + 5}`));
  });

  it('keeps at most limits.offlineMessages of one sender, across receivers (code 5), and frees room as they are delivered', async () => {
    const w = world({ hub: { limits: { offlineMessages: 3 } } });
    const alice = await w.loggedIn('alice');
    await alice.sendMessageToPeer('bob', textMessage('b1'), offline);
    await alice.sendMessageToPeer('bob', textMessage('b2'), offline);
    await alice.sendMessageToPeer('carol', textMessage('c1'), offline);
    const refused = await rejectsWith(alice.sendMessageToPeer('dave', textMessage('d1'), offline), { name: 'PeerMessageError', code: 5 });
    expect(refused.failure._tag).toBe('LimitExceeded');
    // Another sender has its own room; an online peer is not concerned.
    expect((await (await w.loggedIn('erin')).sendMessageToPeer('dave', textMessage('e1'), offline)).state).toBe('CACHED_BY_SERVER');
    const bob = receiver(w, 'bob');
    await bob.login();
    expect((await alice.sendMessageToPeer('bob', textMessage('live'), offline)).state).toBe('RECEIVED');
    // Bob's two were delivered: two more may be kept, not three.
    await alice.sendMessageToPeer('dave', textMessage('d1'), offline);
    await alice.sendMessageToPeer('dave', textMessage('d2'), offline);
    await rejectsWith(alice.sendMessageToPeer('dave', textMessage('d3'), offline), { name: 'PeerMessageError', code: 5 });
  });

  it('frees a sender’s room when its kept messages expire', async () => {
    const w = world({ hub: { retentionMs: 60_000, limits: { offlineMessages: 2 } } });
    const alice = await w.loggedIn('alice');
    await alice.sendMessageToPeer('bob', textMessage('1'), offline);
    w.clock.advance(10_000);
    await alice.sendMessageToPeer('bob', textMessage('2'), offline);
    w.clock.advance(49_999);
    await rejectsWith(alice.sendMessageToPeer('bob', textMessage('3'), offline), { name: 'PeerMessageError', code: 5 });
    // The first expires 60 s after it was sent: one place is free, not two.
    w.clock.advance(1);
    await alice.sendMessageToPeer('bob', textMessage('3'), offline);
    await rejectsWith(alice.sendMessageToPeer('bob', textMessage('4'), offline), { name: 'PeerMessageError', code: 5 });
    const bob = receiver(w, 'bob');
    await bob.login();
    expect(textsOf(bob.seen)).toEqual(['2', '3']);
  });

  it('frees a sender’s room when its messages are replaced, even by its own send', async () => {
    // Found by the ring property: a sender whose only kept message was the oldest of a full 200 lost
    // count of the message that replaced it, and could then keep one more than its limit.
    const w = world({ hub: { limits: { offlineMessages: 3 } } });
    const alice = await w.loggedIn('alice');
    await alice.sendMessageToPeer('bob', textMessage('oldest'), offline);
    for (let i = 0; i < OFFLINE_MESSAGES_PER_RECEIVER - 1; i++) {
      const crowd = await w.hub.login(`crowd${i}`, w.hub.issueToken(`crowd${i}`));
      if (E.isLeft(crowd)) throw new Error(crowd.left._tag);
      await w.hub.sendToPeer(crowd.right, 'bob', encodeMessage(textMessage(`crowd${i}`)), offline);
    }
    await alice.sendMessageToPeer('bob', textMessage('replaces my own'), offline);
    await alice.sendMessageToPeer('carol', textMessage('c1'), offline);
    await alice.sendMessageToPeer('carol', textMessage('c2'), offline);
    await rejectsWith(alice.sendMessageToPeer('carol', textMessage('c3'), offline), { name: 'PeerMessageError', code: 5 });
    const bob = receiver(w, 'bob');
    await bob.login();
    expect(bob.seen).toHaveLength(OFFLINE_MESSAGES_PER_RECEIVER);
    expect(textsOf(bob.seen).at(0)).toBe('crowd0');
    expect(textsOf(bob.seen).at(-1)).toBe('replaces my own');
  });

  it('counts offline sends in the message rate (code 5, TooOften)', async () => {
    const w = world({ hub: { limits: { messageRate: { limit: 3, windowMs: 1_000 } } } });
    const alice = await w.loggedIn('alice');
    for (const text of ['1', '2', '3']) expect((await alice.sendMessageToPeer('bob', textMessage(text), offline)).state).toBe('CACHED_BY_SERVER');
    const refused = await rejectsWith(alice.sendMessageToPeer('bob', textMessage('4'), offline), { name: 'PeerMessageError', code: 5 });
    expect(refused.failure._tag).toBe('TooOften');
    w.clock.advance(1_000);
    expect((await alice.sendMessageToPeer('bob', textMessage('4'), offline)).state).toBe('CACHED_BY_SERVER');
    const bob = receiver(w, 'bob');
    await bob.login();
    expect(textsOf(bob.seen)).toEqual(['1', '2', '3', '4']);
  });

  it('delivers a file message two days later, downloadable; after the media’s retention it still arrives, and its download fails with code 4', async () => {
    const w = world();
    const alice = await w.loggedIn('alice');
    const data = bytes(5_000, 7);
    const file = await alice.createFileMessageByUploading(data, { fileName: 'photo.jpg' }).result;
    expect((await alice.sendMessageToPeer('bob', file, offline)).state).toBe('CACHED_BY_SERVER');
    w.clock.advance(DAY);
    // Sent a day after the upload: this one outlives the media (7 days from its send, the media 7 from its upload).
    expect((await alice.sendMessageToPeer('carol', file, offline)).state).toBe('CACHED_BY_SERVER');
    w.clock.advance(DAY);
    const bob = receiver(w, 'bob');
    await bob.login();
    expect(bob.seen.map(({ message, isOfflineMessage }) => ({ message, isOfflineMessage }))).toEqual([{ message: file, isOfflineMessage: true }]);
    expectSameBytes(await bob.client.downloadMediaToMemory(file.mediaId).result, data);
    w.clock.advance(5 * DAY + 3_600_000);
    const carol = receiver(w, 'carol');
    await carol.login();
    expect(carol.seen.map(({ message, isOfflineMessage }) => ({ message, isOfflineMessage }))).toEqual([{ message: file, isOfflineMessage: true }]);
    await rejectsWith(carol.client.downloadMediaToMemory(file.mediaId).result, { name: 'DownloadError', code: 4 });
  });
});
