/**
 * The message-bus contract: what every `MessageBus` must do, whatever holds its state (memory, Redis).
 * Run it from a bus's spec with `describeBusContract(name, makeBuses)`, where `makeBuses` gives two
 * handles on one shared bus (two processes' connections; the same object twice for a memory bus) whose
 * clock stands still at {@link BUS_NOW}, and `dispose` frees them. Deliveries may arrive asynchronously:
 * assertions wait for them (bounded), and a case that asserts something was not delivered first waits for
 * a later delivery to the same session, so "nothing" is checked after the fact, not by a pause.
 */
import { afterEach, describe, expect, it, vi } from 'vitest';
import type { Delivery, HubEvent, MessageBus, PeerSend, WireMessage } from '../../src/index.js';
import { encodeMessage, MESSAGE_IDS_PER_SENDER, OFFLINE_MESSAGES_PER_RECEIVER, textMessage } from '../../src/index.js';

/**
 * The time of the buses' clock in every case (`virtualClock(BUS_NOW)`, never advanced): the time a session
 * opens, by which kept messages expire. Sends pass their own time, as the hub does.
 */
export const BUS_NOW = 1_800_000_000_000;

/** Two handles on one bus whose clock says {@link BUS_NOW}, and how to free them. */
export interface BusFixture {
  readonly a: MessageBus;
  readonly b: MessageBus;
  dispose(): Promise<void>;
}

/** What one subscriber to a session's deliveries saw. */
export interface Recording {
  readonly deliveries: Delivery[];
  readonly events: () => HubEvent[];
  completed: boolean;
  error: unknown;
  stop(): void;
}

/** Subscribes to a session's deliveries (or follows them: `MessageBus.follow`) and records them. */
export const record = (bus: MessageBus, sessionId: number, after?: number, owner?: string, how: 'subscribe' | 'follow' = 'subscribe'): Recording => {
  const recording: Recording = {
    deliveries: [],
    events: () => recording.deliveries.map((delivery) => delivery.event),
    completed: false,
    error: undefined,
    stop: () => subscription.unsubscribe(),
  };
  const observer = {
    next: (delivery: Delivery) => recording.deliveries.push(delivery),
    complete: () => {
      recording.completed = true;
    },
    error: (error: unknown) => {
      recording.error = error;
    },
  };
  const subscription = how === 'follow' && bus.follow ? bus.follow(sessionId, after ?? 0, owner, observer) : bus.deliveries(sessionId, after, owner).subscribe(observer);
  return recording;
};

/** Waits (at most two seconds) until `check` passes: a bus across the network delivers a little later. */
const eventually = (check: () => void): Promise<void> => vi.waitFor(check, { timeout: 2_000, interval: 5 });

const hello = encodeMessage(textMessage('hello'));
const text = (value: string): WireMessage => encodeMessage(textMessage(value));
const textOf = (event: HubEvent): string | undefined =>
  event.type === 'peerMessage' || event.type === 'channelMessage' ? (event.message as { text?: string }).text : undefined;

const HOUR = 3_600_000;
const DAY = 24 * HOUR;
let sends = 0;
/** A send with an ID never used before, remembered for an hour. */
const once = (): PeerSend => ({ messageId: `once-${++sends}`, rememberMs: HOUR });
/** A send with the given ID, remembered for an hour (or `rememberMs`). */
const named = (messageId: string, rememberMs = HOUR): PeerSend => ({ messageId, rememberMs });
/** A send kept for an offline receiver until `expiresAt`, at most `perSender` of the sender's at once. */
const offline = (messageId: string, expiresAt = BUS_NOW + DAY, perSender = 1_000): PeerSend => ({
  messageId,
  rememberMs: HOUR,
  offline: { expiresAt, perSender },
});
const delivered = (serverReceivedTs: number) => ({ outcome: 'delivered', serverReceivedTs }) as const;
const cached = (serverReceivedTs: number) => ({ outcome: 'cached', serverReceivedTs }) as const;
const unreachable = { outcome: 'unreachable' } as const;
/** The peer message a receiver is told. */
const peerMessage = (peerId: string, message: WireMessage, serverReceivedTs: number, messageId: string, kept = false): HubEvent => ({
  type: 'peerMessage',
  peerId,
  message,
  serverReceivedTs,
  messageId,
  ...(kept ? { isOfflineMessage: true as const } : {}),
});
const presence = (userId: string, state: 'ONLINE' | 'UNREACHABLE' | 'OFFLINE'): HubEvent => ({ type: 'presence', userId, state });
/** A batch as the hub takes them: 50 messages, 256 KiB. */
const BATCH = { messages: 50, bytes: 256 * 1024 } as const;
/** Takes every message kept for a session's user, batch by batch, as a server does while its client reads. */
const takeAll = async (bus: MessageBus, sessionId: number): Promise<void> => {
  for (let left = 1; left > 0; ) left = await bus.takeOffline(sessionId, BUS_NOW, BATCH);
};

export const describeBusContract = (name: string, makeBuses: () => Promise<BusFixture>): void => {
  describe(`message-bus contract: ${name}`, () => {
    let fixture: BusFixture | undefined;
    const buses = async (): Promise<BusFixture> => {
      fixture = await makeBuses();
      return fixture;
    };
    afterEach(async () => {
      await fixture?.dispose();
      fixture = undefined;
    });

    it('opens sessions with IDs unique across the processes sharing the bus, and knows who is online', async () => {
      const { a, b } = await buses();
      const alice = await a.open('alice');
      const bob = await b.open('bob');
      expect(alice).toEqual({ sessionId: expect.any(Number), userId: 'alice' });
      expect(bob.sessionId).not.toBe(alice.sessionId);
      expect(await b.isOnline('alice')).toBe(true);
      expect(await a.isOnline('bob')).toBe(true);
      expect(await a.isOnline('carol')).toBe(false);
    });

    it('tells the previous session of a user, opened elsewhere, that it was replaced, then ends it', async () => {
      const { a, b } = await buses();
      const first = await a.open('alice');
      const watcher = await a.open('bob');
      expect(await a.join(first.sessionId, 'room', 10)).toBe('joined');
      expect(await a.join(watcher.sessionId, 'room', 10)).toBe('joined');
      const old = record(a, first.sessionId);
      const bob = record(a, watcher.sessionId);
      const second = await b.open('alice');
      await eventually(() => expect(old.completed).toBe(true));
      // A subscriber from 0 has every delivery the bus still keeps: bob's join came after alice's.
      expect(old.events()).toEqual([
        { type: 'memberJoined', channelId: 'room', userId: 'bob', memberCount: 2 },
        { type: 'aborted', reason: expect.any(String), cause: 'REMOTE_LOGIN' },
      ]);
      // The replaced session left its channels as a closed one does.
      await eventually(() => expect(bob.events()).toContainEqual({ type: 'memberLeft', channelId: 'room', userId: 'alice', memberCount: 1 }));
      expect(await a.channelsOf(first.sessionId)).toBeUndefined();
      expect(await b.channelsOf(second.sessionId)).toEqual([]);
      expect(await a.isOnline('alice')).toBe(true);
      expect(await b.toUser('bob', 'alice', hello, 1, once())).toEqual(delivered(1));
      expect(old.deliveries).toHaveLength(2);
    });

    it('closes a session: it leaves its channels, its deliveries complete, and closing again changes nothing', async () => {
      const { a, b } = await buses();
      const alice = await a.open('alice');
      const bob = await b.open('bob');
      await a.join(alice.sessionId, 'room', 10);
      await b.join(bob.sessionId, 'room', 10);
      const mine = record(a, alice.sessionId);
      const theirs = record(b, bob.sessionId);
      expect(await a.close(alice.sessionId)).toBe(true);
      await eventually(() => expect(mine.completed).toBe(true));
      await eventually(() => expect(theirs.events()).toEqual([{ type: 'memberLeft', channelId: 'room', userId: 'alice', memberCount: 1 }]));
      expect(mine.events()).toEqual([{ type: 'memberJoined', channelId: 'room', userId: 'bob', memberCount: 2 }]);
      expect(await a.close(alice.sessionId)).toBe(false);
      expect(await b.abort(alice.sessionId, 'TOKEN_EXPIRED', 'late')).toBe(false);
      expect(await b.isOnline('alice')).toBe(false);
      expect(await b.members(bob.sessionId, 'room')).toEqual(['bob']);
      expect(await b.toUser('bob', 'alice', hello, 1, once())).toEqual(unreachable);
    });

    it('aborts a session with its cause, delivered before its deliveries complete', async () => {
      const { a, b } = await buses();
      const alice = await a.open('alice');
      const mine = record(a, alice.sessionId);
      expect(await b.abort(alice.sessionId, 'TOKEN_EXPIRED', 'the token expired')).toBe(true);
      await eventually(() => expect(mine.completed).toBe(true));
      expect(mine.events()).toEqual([{ type: 'aborted', reason: 'the token expired', cause: 'TOKEN_EXPIRED' }]);
      expect(await a.isOnline('alice')).toBe(false);
    });

    it('delivers to a user wherever their session was opened, and says when nobody is there', async () => {
      const { a, b } = await buses();
      const alice = await a.open('alice');
      const mine = record(a, alice.sessionId);
      expect(await b.toUser('bob', 'alice', hello, 42, named('first'))).toEqual(delivered(42));
      expect(await b.toUser('bob', 'nobody', hello, 42, named('second'))).toEqual(unreachable);
      await eventually(() => expect(mine.events()).toEqual([peerMessage('bob', hello, 42, 'first')]));
    });

    it('joins at most maxChannels channels, tells the other members, and answers membership queries', async () => {
      const { a, b } = await buses();
      const alice = await a.open('alice');
      const bob = await b.open('bob');
      expect(await b.join(bob.sessionId, 'room', 2)).toBe('joined');
      const theirs = record(b, bob.sessionId);
      const mine = record(a, alice.sessionId);
      expect(await a.join(alice.sessionId, 'room', 2)).toBe('joined');
      expect(await a.join(alice.sessionId, 'room', 2)).toBe('member');
      expect(await a.join(alice.sessionId, 'hall', 2)).toBe('joined');
      expect(await a.join(alice.sessionId, 'attic', 2)).toBe('full');
      expect(await a.join(9_999_999, 'room', 2)).toBe('closed');
      expect([...((await a.channelsOf(alice.sessionId)) ?? [])].sort()).toEqual(['hall', 'room']);
      expect(await b.inChannel(alice.sessionId, 'room')).toBe(true);
      expect(await b.inChannel(alice.sessionId, 'attic')).toBe(false);
      expect(await b.members(bob.sessionId, 'room')).toEqual(['alice', 'bob']);
      expect(await b.members(bob.sessionId, 'hall')).toBeUndefined();
      await eventually(() => expect(theirs.events()).toEqual([{ type: 'memberJoined', channelId: 'room', userId: 'alice', memberCount: 2 }]));
      // A member is not told of its own join: a later delivery to it shows what came before.
      await b.toUser('bob', 'alice', hello, 1, named('after-join'));
      await eventually(() => expect(mine.events()).toEqual([peerMessage('bob', hello, 1, 'after-join')]));
      expect(await a.leave(alice.sessionId, 'room')).toBe(true);
      expect(await a.leave(alice.sessionId, 'room')).toBe(false);
      await eventually(() => expect(theirs.events()).toContainEqual({ type: 'memberLeft', channelId: 'room', userId: 'alice', memberCount: 1 }));
    });

    it('delivers a channel message to every other member and counts them; refuses a sender not in the channel', async () => {
      const { a, b } = await buses();
      const [alice, bob, carol] = [await a.open('alice'), await b.open('bob'), await a.open('carol')];
      for (const session of [alice, bob]) await a.join(session.sessionId, 'room', 10);
      const [mine, theirs] = [record(a, alice.sessionId), record(b, bob.sessionId)];
      expect(await a.toChannel(alice.sessionId, 'room', hello, 7, named('to-room'))).toEqual({ receivers: 1, serverReceivedTs: 7 });
      expect(await b.toChannel(carol.sessionId, 'room', hello, 7, named('not-in'))).toBe(false);
      await eventually(() =>
        expect(theirs.events()).toEqual([
          { type: 'channelMessage', channelId: 'room', memberId: 'alice', message: hello, serverReceivedTs: 7, messageId: 'to-room' },
        ]),
      );
      // Alice is told of bob's join, never of her own message: a later delivery to her shows what came between.
      await b.toUser('bob', 'alice', hello, 8, named('later'));
      await eventually(() =>
        expect(mine.events()).toEqual([{ type: 'memberJoined', channelId: 'room', userId: 'bob', memberCount: 2 }, peerMessage('bob', hello, 8, 'later')]),
      );
    });

    it('numbers each session\'s deliveries 1, 2, 3, … and replays those above a number to a late subscriber', async () => {
      const { a, b } = await buses();
      const alice = await a.open('alice');
      const live = record(a, alice.sessionId);
      for (let i = 1; i <= 5; i++) await b.toUser('bob', 'alice', text(`m${i}`), i, once());
      await eventually(() => expect(live.deliveries).toHaveLength(5));
      expect(live.deliveries.map((d) => d.seq)).toEqual([1, 2, 3, 4, 5]);
      const resumed = record(b, alice.sessionId, 3);
      await b.toUser('bob', 'alice', text('m6'), 6, once());
      await eventually(() => expect(resumed.deliveries.map((d) => d.seq)).toEqual([4, 5, 6]));
      expect(resumed.deliveries[0]).toEqual(live.deliveries[3]);
      // Every delivery is wire data: it survives JSON unchanged.
      for (const delivery of resumed.deliveries) expect(JSON.parse(JSON.stringify(delivery))).toEqual(delivery);
    });

    it('never skips deliveries silently: a subscriber asking for more than the bus keeps gets all of them or Conflict', async () => {
      const { a, b } = await buses();
      const alice = await a.open('alice');
      for (let i = 1; i <= 300; i++) await b.toUser('bob', 'alice', hello, i, once());
      const late = record(a, alice.sessionId, 0);
      await eventually(() => expect(late.error !== undefined || late.deliveries.length === 300).toBe(true));
      if (late.error !== undefined) {
        expect(late.error).toMatchObject({ failure: { _tag: 'Conflict' } });
        expect(late.deliveries).toEqual([]);
      } else {
        expect(late.deliveries.map((d) => d.seq)).toEqual(Array.from({ length: 300 }, (_, i) => i + 1));
      }
      late.stop();
    });

    it('hands a follower (a bus with `follow`) what a subscriber is handed, until it unsubscribes or the session ends', async () => {
      const { a, b } = await buses();
      const alice = await a.open('alice');
      for (let i = 1; i <= 3; i++) await b.toUser('bob', 'alice', text(`m${i}`), i, once());
      const followed = record(a, alice.sessionId, 1, undefined, 'follow');
      const stopped = record(b, alice.sessionId, 0, undefined, 'follow');
      await eventually(() => expect(followed.deliveries.map((d) => d.seq)).toEqual([2, 3]));
      await eventually(() => expect(stopped.deliveries.map((d) => d.seq)).toEqual([1, 2, 3]));
      stopped.stop();
      await b.toUser('bob', 'alice', text('m4'), 4, once());
      await eventually(() => expect(followed.events().map(textOf)).toEqual(['m2', 'm3', 'm4']));
      expect(await b.close(alice.sessionId)).toBe(true);
      await eventually(() => expect(followed.completed).toBe(true));
      expect(stopped.deliveries.map((d) => d.seq)).toEqual([1, 2, 3]);
      expect(stopped.completed).toBe(false);
      const nobody = record(a, 123_456_789, 0, undefined, 'follow');
      await eventually(() => expect(nobody.completed).toBe(true));
    });

    it('hands a follower nothing after it completed, when another follower closes the session from a delivery', async () => {
      const { a, b } = await buses();
      const alice = await a.open('alice');
      const seen: string[] = [];
      const follow = (observer: { readonly next: (delivery: Delivery) => void; readonly complete: () => void }) =>
        a.follow ? a.follow(alice.sessionId, 0, undefined, { ...observer, error: () => seen.push('error') }) : a.deliveries(alice.sessionId).subscribe(observer);
      follow({ next: () => void a.close(alice.sessionId), complete: () => seen.push('x complete') });
      follow({ next: () => seen.push('y next'), complete: () => seen.push('y complete') });
      await b.toUser('bob', 'alice', text('closes'), 1, once());
      await eventually(() => expect(seen).toContain('y complete'));
      expect(seen.slice(seen.indexOf('y complete') + 1)).not.toContain('y next');
      expect(seen.filter((event) => event === 'y complete')).toHaveLength(1);
    });

    it('completes at once the deliveries of a session it never knew', async () => {
      const { a } = await buses();
      const nobody = record(a, 123_456_789);
      await eventually(() => expect(nobody.completed).toBe(true));
      expect(nobody.deliveries).toEqual([]);
    });

    it('still gives the `aborted` to a subscriber that asks just after its session was replaced', async () => {
      const { a, b } = await buses();
      const first = await a.open('alice');
      await b.open('alice');
      const late = record(a, first.sessionId);
      await eventually(() => expect(late.completed).toBe(true));
      expect(late.events()).toEqual([{ type: 'aborted', reason: expect.any(String), cause: 'REMOTE_LOGIN' }]);
    });

    it('moves a session to the owner that resumes it: the old owner\'s deliveries complete and its close changes nothing', async () => {
      const { a, b } = await buses();
      const alice = await a.open('alice', 'node-a');
      const before = record(a, alice.sessionId, 0, 'node-a');
      await b.toUser('bob', 'alice', hello, 1, once());
      await eventually(() => expect(before.deliveries.map((d) => d.seq)).toEqual([1]));
      expect(await b.resume(alice.sessionId, 'alice', 'node-b')).toBe(true);
      await eventually(() => expect(before.completed).toBe(true));
      const after = record(b, alice.sessionId, 1, 'node-b');
      await a.toUser('bob', 'alice', hello, 2, once());
      await eventually(() => expect(after.deliveries.map((d) => d.seq)).toEqual([2]));
      // The node the client left ends its own copy of the session at its grace: the bus keeps it open.
      expect(await a.close(alice.sessionId, 'node-a')).toBe(false);
      expect(await a.isOnline('alice')).toBe(true);
      // A late subscriber of the old owner is told at once that the session is no longer its.
      const stale = record(a, alice.sessionId, 0, 'node-a');
      await eventually(() => expect(stale.completed).toBe(true));
      expect(await b.close(alice.sessionId, 'node-b')).toBe(true);
      await eventually(() => expect(after.completed).toBe(true));
      expect(await a.isOnline('alice')).toBe(false);
    });

    it('follows a session that moved away and came back: the owner it is with now keeps its deliveries', async () => {
      const { a, b } = await buses();
      const alice = await a.open('alice', 'node-a');
      await b.toUser('bob', 'alice', hello, 1, once());
      expect(await b.resume(alice.sessionId, 'alice', 'node-b')).toBe(true);
      expect(await a.resume(alice.sessionId, 'alice', 'node-a')).toBe(true);
      // Subscribed after both moves: the move away is history, not news.
      const back = record(a, alice.sessionId, 0, 'node-a');
      await eventually(() => expect(back.deliveries.map((d) => d.seq)).toEqual([1]));
      await b.toUser('bob', 'alice', hello, 2, once());
      await eventually(() => expect(back.deliveries.map((d) => d.seq)).toEqual([1, 2]));
      expect(back.completed).toBe(false);
      // The owner it left is told at once that the session is not its own.
      const left = record(b, alice.sessionId, 0, 'node-b');
      await eventually(() => expect(left.completed).toBe(true));
      expect(await b.close(alice.sessionId, 'node-b')).toBe(false);
      expect(await a.close(alice.sessionId, 'node-a')).toBe(true);
      await eventually(() => expect(back.completed).toBe(true));
    });

    it('refuses to resume a session that is not open or not the user\'s', async () => {
      const { a, b } = await buses();
      const alice = await a.open('alice', 'node-a');
      expect(await b.resume(alice.sessionId, 'mallory', 'node-b')).toBe(false);
      expect(await b.resume(123_456_789, 'alice', 'node-b')).toBe(false);
      await a.close(alice.sessionId);
      expect(await b.resume(alice.sessionId, 'alice', 'node-b')).toBe(false);
    });

    it('keeps a message for a user with no session and delivers what it kept when its session takes them, marked offline, in the order sent', async () => {
      const { a, b } = await buses();
      expect(await a.toUser('alice', 'bob', text('one'), BUS_NOW - 20, offline('k1'))).toEqual(cached(BUS_NOW - 20));
      expect(await b.toUser('carol', 'bob', text('two'), BUS_NOW - 10, offline('k2'))).toEqual(cached(BUS_NOW - 10));
      // Without offline messaging a user with no session is unreachable, and nothing is kept.
      expect(await a.toUser('alice', 'bob', text('lost'), BUS_NOW - 5, named('k3'))).toEqual(unreachable);
      const bob = await b.open('bob');
      await takeAll(b, bob.sessionId);
      expect(await a.toUser('alice', 'bob', text('live'), BUS_NOW, named('k4'))).toEqual(delivered(BUS_NOW));
      const seen = record(a, bob.sessionId);
      await eventually(() => expect(seen.deliveries).toHaveLength(3));
      expect(seen.deliveries).toEqual([
        { seq: 1, event: peerMessage('alice', text('one'), BUS_NOW - 20, 'k1', true) },
        { seq: 2, event: peerMessage('carol', text('two'), BUS_NOW - 10, 'k2', true) },
        { seq: 3, event: peerMessage('alice', text('live'), BUS_NOW, 'k4') },
      ]);
      // Delivered once: the next session of bob opens with nothing kept.
      const again = await a.open('bob');
      await takeAll(a, again.sessionId);
      await b.toUser('alice', 'bob', text('next'), BUS_NOW + 1, named('k5'));
      const next = record(b, again.sessionId);
      await eventually(() => expect(next.events()).toEqual([peerMessage('alice', text('next'), BUS_NOW + 1, 'k5')]));
    });

    it(`keeps the newest ${OFFLINE_MESSAGES_PER_RECEIVER} messages per receiver: each one more replaces the oldest, which no longer counts for its sender`, async () => {
      const { a, b } = await buses();
      // An early sender allowed two kept at once fills its allowance with bob's two oldest.
      expect(await a.toUser('early', 'bob', text('early 0'), BUS_NOW - 1_000, offline('e0', BUS_NOW + DAY, 2))).toEqual(cached(BUS_NOW - 1_000));
      expect(await a.toUser('early', 'bob', text('early 1'), BUS_NOW - 999, offline('e1', BUS_NOW + DAY, 2))).toEqual(cached(BUS_NOW - 999));
      expect(await b.toUser('early', 'carol', text('early 2'), BUS_NOW - 998, offline('e2', BUS_NOW + DAY, 2))).toEqual({ outcome: 'full' });
      for (let i = 0; i < OFFLINE_MESSAGES_PER_RECEIVER; i++) {
        const via = i % 2 === 0 ? a : b;
        expect(await via.toUser(`s${i % 5}`, 'bob', text(`m${i}`), BUS_NOW - 900 + i, offline(`n${i}`))).toEqual(cached(BUS_NOW - 900 + i));
      }
      // Both of early's were replaced: it may keep two again (a refused ID was not remembered).
      expect(await b.toUser('early', 'carol', text('early 2'), BUS_NOW - 10, offline('e2', BUS_NOW + DAY, 2))).toEqual(cached(BUS_NOW - 10));
      expect(await a.toUser('early', 'dave', text('early 3'), BUS_NOW - 9, offline('e3', BUS_NOW + DAY, 2))).toEqual(cached(BUS_NOW - 9));
      const bob = await a.open('bob');
      const seen = record(b, bob.sessionId);
      await takeAll(a, bob.sessionId);
      await eventually(() => expect(seen.deliveries).toHaveLength(OFFLINE_MESSAGES_PER_RECEIVER));
      expect(seen.events().map(textOf)).toEqual(Array.from({ length: OFFLINE_MESSAGES_PER_RECEIVER }, (_, i) => `m${i}`));
      expect(seen.deliveries.map((d) => d.seq)).toEqual(Array.from({ length: OFFLINE_MESSAGES_PER_RECEIVER }, (_, i) => i + 1));
      expect(seen.events().every((event) => event.type === 'peerMessage' && event.isOfflineMessage === true)).toBe(true);
    });

    it('gives an expired kept message no place among the newest: one more message replaces none of the live ones', async () => {
      const { a, b } = await buses();
      const t = BUS_NOW - 10_000;
      for (let i = 0; i < OFFLINE_MESSAGES_PER_RECEIVER; i++) {
        const expiresAt = i === 100 ? t + 150 : BUS_NOW + DAY;
        await (i % 2 === 0 ? a : b).toUser(`s${i % 5}`, 'bob', text(`m${i}`), t + i, offline(`r${i}`, expiresAt));
      }
      expect(await a.toUser('s0', 'bob', text('last'), t + OFFLINE_MESSAGES_PER_RECEIVER, offline('last'))).toEqual(cached(t + OFFLINE_MESSAGES_PER_RECEIVER));
      const bob = await b.open('bob');
      const seen = record(a, bob.sessionId);
      await takeAll(b, bob.sessionId);
      await eventually(() => expect(seen.deliveries).toHaveLength(OFFLINE_MESSAGES_PER_RECEIVER));
      const expected = Array.from({ length: OFFLINE_MESSAGES_PER_RECEIVER }, (_, i) => `m${i}`).filter((m) => m !== 'm100');
      expect(seen.events().map(textOf)).toEqual([...expected, 'last']);
    });

    it("counts a sender's kept messages against perSender across receivers, and releases them as they are delivered or expire by the sender's time", async () => {
      const { a, b } = await buses();
      const t = BUS_NOW - HOUR;
      expect(await a.toUser('alice', 'bob', text('1'), t, offline('p1', t + 100, 2))).toEqual(cached(t));
      expect(await b.toUser('alice', 'carol', text('2'), t + 1, offline('p2', BUS_NOW + DAY, 2))).toEqual(cached(t + 1));
      expect(await a.toUser('alice', 'dave', text('3'), t + 2, offline('p3', BUS_NOW + DAY, 2))).toEqual({ outcome: 'full' });
      // The cap is the sender's: another sender keeps for the same receivers.
      expect(await a.toUser('erin', 'dave', text('4'), t + 2, offline('p4', BUS_NOW + DAY, 2))).toEqual(cached(t + 2));
      // Bob's expires at t + 100 on the time the sends carry: from then on it does not count.
      expect(await b.toUser('alice', 'dave', text('3'), t + 99, offline('p3', BUS_NOW + DAY, 2))).toEqual({ outcome: 'full' });
      expect(await b.toUser('alice', 'dave', text('3'), t + 100, offline('p3', BUS_NOW + DAY, 2))).toEqual(cached(t + 100));
      expect(await a.toUser('alice', 'frank', text('5'), t + 101, offline('p5', BUS_NOW + DAY, 2))).toEqual({ outcome: 'full' });
      // Carol's is delivered when she opens a session: released.
      const carol = await b.open('carol');
      await takeAll(b, carol.sessionId);
      expect(await a.toUser('alice', 'frank', text('5'), t + 102, offline('p5', BUS_NOW + DAY, 2))).toEqual(cached(t + 102));
      expect(await a.toUser('alice', 'gina', text('6'), t + 103, offline('p6', BUS_NOW + DAY, 2))).toEqual({ outcome: 'full' });
      const seen = record(a, carol.sessionId);
      await eventually(() => expect(seen.events()).toEqual([peerMessage('alice', text('2'), t + 1, 'p2', true)]));
      // Bob's expired message is not delivered: he opens with nothing kept.
      const bob = await a.open('bob');
      await takeAll(a, bob.sessionId);
      await b.toUser('alice', 'bob', text('now'), t + 200, named('p7'));
      const bobs = record(b, bob.sessionId);
      await eventually(() => expect(bobs.events()).toEqual([peerMessage('alice', text('now'), t + 200, 'p7')]));
    });

    it('delivers what it kept in batches of at most the messages and bytes asked (the first always), says how many are left, and gives nothing to a closed session', async () => {
      const { a, b } = await buses();
      const big = encodeMessage(textMessage('x'.repeat(1_000)));
      for (let i = 0; i < 120; i++) await (i % 2 === 0 ? a : b).toUser('alice', 'bob', i < 3 ? big : text(`m${i}`), BUS_NOW - 1_000 + i, offline(`b${i}`));
      const closed = await a.open('bob');
      await a.close(closed.sessionId);
      expect(await b.takeOffline(closed.sessionId, BUS_NOW, BATCH)).toBe(0);
      const bob = await b.open('bob');
      const seen = record(a, bob.sessionId);
      // The first big one always goes; the second would pass 1,500 bytes.
      expect(await a.takeOffline(bob.sessionId, BUS_NOW, { messages: 50, bytes: 1_500 })).toBe(119);
      expect(await b.takeOffline(bob.sessionId, BUS_NOW, { messages: 2, bytes: 1_000_000 })).toBe(117);
      expect(await a.takeOffline(bob.sessionId, BUS_NOW, { messages: 50, bytes: 256 * 1024 })).toBe(67);
      expect(await b.takeOffline(bob.sessionId, BUS_NOW, { messages: 50, bytes: 256 * 1024 })).toBe(17);
      expect(await a.takeOffline(bob.sessionId, BUS_NOW, { messages: 50, bytes: 256 * 1024 })).toBe(0);
      expect(await b.takeOffline(bob.sessionId, BUS_NOW, BATCH)).toBe(0);
      await eventually(() => expect(seen.deliveries).toHaveLength(120));
      expect(seen.events().map((event) => (event.type === 'peerMessage' ? event.messageId : '')).join()).toBe(Array.from({ length: 120 }, (_, i) => `b${i}`).join());
    });

    it('delivers only the kept messages whose expiry is after the time the taking passes', async () => {
      const { a, b } = await buses();
      const sent = BUS_NOW - DAY;
      await a.toUser('alice', 'bob', text('gone'), sent, offline('x1', BUS_NOW - 1));
      await b.toUser('alice', 'bob', text('just gone'), sent + 1, offline('x2', BUS_NOW));
      await a.toUser('carol', 'bob', text('kept'), sent + 2, offline('x3', BUS_NOW + 1));
      await b.toUser('alice', 'bob', text('kept too'), sent + 3, offline('x4', BUS_NOW + DAY));
      const bob = await b.open('bob');
      await takeAll(b, bob.sessionId);
      await a.toUser('alice', 'bob', text('marker'), BUS_NOW, named('x5'));
      const seen = record(a, bob.sessionId);
      await eventually(() => expect(seen.deliveries).toHaveLength(3));
      expect(seen.events()).toEqual([
        peerMessage('carol', text('kept'), sent + 2, 'x3', true),
        peerMessage('alice', text('kept too'), sent + 3, 'x4', true),
        peerMessage('alice', text('marker'), BUS_NOW, 'x5'),
      ]);
    });

    it('delivers a message ID of the same sender once within its window, whichever bus instance it comes through, and answers as the first send did', async () => {
      const { a, b } = await buses();
      const bob = await a.open('bob');
      const seen = record(a, bob.sessionId);
      expect(await a.toUser('alice', 'bob', text('first'), 1_000, named('same', 500))).toEqual(delivered(1_000));
      expect(await b.toUser('alice', 'bob', text('again'), 1_200, named('same', 500))).toEqual(delivered(1_000));
      expect(await a.toUser('alice', 'bob', text('again'), 1_499, named('same', 500))).toEqual(delivered(1_000));
      // IDs are the sender's: another sender's same ID is another message.
      expect(await b.toUser('carol', 'bob', text('carol'), 1_300, named('same', 500))).toEqual(delivered(1_300));
      // Past its window the ID is new again.
      expect(await b.toUser('alice', 'bob', text('later'), 1_500, named('same', 500))).toEqual(delivered(1_500));
      // A send that reached nobody is not remembered: the same ID, once the user is there, delivers.
      expect(await a.toUser('alice', 'dave', text('to dave'), 2_000, named('unanswered'))).toEqual(unreachable);
      const dave = await b.open('dave');
      expect(await a.toUser('alice', 'dave', text('to dave'), 2_001, named('unanswered'))).toEqual(delivered(2_001));
      await eventually(() => expect(seen.deliveries).toHaveLength(3));
      expect(seen.events()).toEqual([
        peerMessage('alice', text('first'), 1_000, 'same'),
        peerMessage('carol', text('carol'), 1_300, 'same'),
        peerMessage('alice', text('later'), 1_500, 'same'),
      ]);
      const daves = record(b, dave.sessionId);
      await eventually(() => expect(daves.events()).toEqual([peerMessage('alice', text('to dave'), 2_001, 'unanswered')]));
    });

    it('answers a repeated ID of a message kept offline as cached, also once the receiver logged in and got it, and delivers nothing again', async () => {
      const { a, b } = await buses();
      const t = BUS_NOW - 60_000;
      expect(await a.toUser('alice', 'bob', text('photo'), t, offline('resent'))).toEqual(cached(t));
      expect(await b.toUser('alice', 'bob', text('photo'), t + 5, offline('resent'))).toEqual(cached(t));
      const bob = await b.open('bob');
      await takeAll(b, bob.sessionId);
      expect(await a.toUser('alice', 'bob', text('photo'), t + 10, offline('resent'))).toEqual(cached(t));
      expect(await b.toUser('alice', 'bob', text('photo'), t + 11, named('resent'))).toEqual(cached(t));
      await a.toUser('alice', 'bob', text('marker'), t + 12, named('marker'));
      const seen = record(a, bob.sessionId);
      await eventually(() => expect(seen.deliveries).toHaveLength(2));
      expect(seen.events()).toEqual([peerMessage('alice', text('photo'), t, 'resent', true), peerMessage('alice', text('marker'), t + 12, 'marker')]);
    });

    it('delivers a channel message ID once and answers with the first send\'s receivers and time; peer and channel sends are remembered apart', async () => {
      const { a, b } = await buses();
      const [alice, bob] = [await a.open('alice'), await b.open('bob')];
      await a.join(alice.sessionId, 'room', 5);
      await b.join(bob.sessionId, 'room', 5);
      const seen = record(b, bob.sessionId);
      expect(await a.toChannel(alice.sessionId, 'room', text('all'), 10, named('c1'))).toEqual({ receivers: 1, serverReceivedTs: 10 });
      expect(await b.toChannel(alice.sessionId, 'room', text('all again'), 11, named('c1'))).toEqual({ receivers: 1, serverReceivedTs: 10 });
      // Bob's own ID c1 is his, not alice's.
      expect(await b.toChannel(bob.sessionId, 'room', text('bob'), 12, named('c1'))).toEqual({ receivers: 1, serverReceivedTs: 12 });
      // Peer and channel sends are remembered apart: an ID alice used for a peer message is another send in the channel.
      expect(await a.toUser('alice', 'bob', text('peer'), 13, named('shared'))).toEqual(delivered(13));
      expect(await b.toChannel(alice.sessionId, 'room', text('channel'), 14, named('shared'))).toEqual({ receivers: 1, serverReceivedTs: 14 });
      expect(await a.toUser('alice', 'bob', text('peer'), 15, named('shared'))).toEqual(delivered(13));
      // A sender not in the channel is refused before its ID counts.
      expect(await a.toChannel(alice.sessionId, 'hall', text('hall'), 15, named('c2'))).toBe(false);
      await a.join(alice.sessionId, 'hall', 5);
      await b.join(bob.sessionId, 'hall', 5);
      expect(await a.toChannel(alice.sessionId, 'hall', text('hall'), 16, named('c2'))).toEqual({ receivers: 1, serverReceivedTs: 16 });
      await eventually(() => expect(seen.deliveries).toHaveLength(4));
      expect(seen.events()).toEqual([
        { type: 'channelMessage', channelId: 'room', memberId: 'alice', message: text('all'), serverReceivedTs: 10, messageId: 'c1' },
        peerMessage('alice', text('peer'), 13, 'shared'),
        { type: 'channelMessage', channelId: 'room', memberId: 'alice', message: text('channel'), serverReceivedTs: 14, messageId: 'shared' },
        { type: 'channelMessage', channelId: 'hall', memberId: 'alice', message: text('hall'), serverReceivedTs: 16, messageId: 'c2' },
      ]);
    });

    it(`forgets a sender's oldest message IDs beyond ${MESSAGE_IDS_PER_SENDER}`, async () => {
      const { a, b } = await buses();
      const alone = await a.open('alone');
      await a.join(alone.sessionId, 'solo', 5);
      // Sent in batches (each with its own time): a channel with no one else delivers nothing, so only the answers count.
      for (let from = 0; from <= MESSAGE_IDS_PER_SENDER; from += 512) {
        const batch = Array.from({ length: Math.min(512, MESSAGE_IDS_PER_SENDER + 1 - from) }, (_, i) => from + i);
        const answers = await Promise.all(batch.map((i) => (i % 2 === 0 ? a : b).toChannel(alone.sessionId, 'solo', hello, 10_000 + i, named(`id${i}`, DAY))));
        expect(answers).toEqual(batch.map((i) => ({ receivers: 0, serverReceivedTs: 10_000 + i })));
      }
      // The oldest went; the next oldest is still remembered.
      expect(await a.toChannel(alone.sessionId, 'solo', hello, 20_000, named('id1', DAY))).toEqual({ receivers: 0, serverReceivedTs: 10_001 });
      expect(await b.toChannel(alone.sessionId, 'solo', hello, 20_001, named('id0', DAY))).toEqual({ receivers: 0, serverReceivedTs: 20_001 });
    });

    it('tells each user\'s status: ONLINE with its link up, UNREACHABLE with it down, OFFLINE with no session', async () => {
      const { a, b } = await buses();
      await a.open('alice');
      const bob = await b.open('bob');
      expect(await a.presence(['alice', 'bob', 'carol'])).toEqual(['ONLINE', 'ONLINE', 'OFFLINE']);
      await a.setReachable(bob.sessionId, false);
      expect(await b.presence(['bob', 'alice', 'bob'])).toEqual(['UNREACHABLE', 'ONLINE', 'UNREACHABLE']);
      await b.setReachable(bob.sessionId, true);
      expect(await a.presence(['bob'])).toEqual(['ONLINE']);
      await a.setReachable(bob.sessionId, false);
      // A new session starts with its link up.
      const again = await a.open('bob');
      expect(await b.presence(['bob'])).toEqual(['ONLINE']);
      // A session that ended is ignored.
      await b.setReachable(bob.sessionId, false);
      expect(await b.presence(['bob'])).toEqual(['ONLINE']);
      await b.close(again.sessionId);
      await a.setReachable(again.sessionId, true);
      expect(await a.presence(['bob', 'alice'])).toEqual(['OFFLINE', 'ONLINE']);
      expect(await a.presence([])).toEqual([]);
    });

    it('begins a watch with each watched user\'s status in the order asked, then tells each real change once', async () => {
      const { a, b } = await buses();
      const watcher = await a.open('watcher');
      const alice = await b.open('alice');
      const seen = record(a, watcher.sessionId);
      expect(await a.watch(watcher.sessionId, ['alice', 'carol', 'alice'], 10)).toBe('watching');
      await b.setReachable(alice.sessionId, false);
      await a.setReachable(alice.sessionId, false);
      await b.setReachable(alice.sessionId, true);
      await a.setReachable(alice.sessionId, true);
      await a.close(alice.sessionId);
      const carol = await b.open('carol');
      await a.setReachable(carol.sessionId, false);
      await b.close(carol.sessionId);
      await a.open('alice');
      await b.toUser('x', 'watcher', hello, 1, named('marker'));
      await eventually(() => expect(seen.events().at(-1)).toEqual(peerMessage('x', hello, 1, 'marker')));
      expect(seen.events()).toEqual([
        presence('alice', 'ONLINE'),
        presence('carol', 'OFFLINE'),
        presence('alice', 'UNREACHABLE'),
        presence('alice', 'ONLINE'),
        presence('alice', 'OFFLINE'),
        presence('carol', 'ONLINE'),
        presence('carol', 'UNREACHABLE'),
        presence('carol', 'OFFLINE'),
        presence('alice', 'ONLINE'),
        peerMessage('x', hello, 1, 'marker'),
      ]);
    });

    it('tells watchers nothing when an online session is replaced by a login elsewhere, and ONLINE when an unreachable one is', async () => {
      const { a, b } = await buses();
      const watcher = await a.open('watcher');
      await b.open('alice');
      expect(await b.watch(watcher.sessionId, ['alice'], 10)).toBe('watching');
      const second = await a.open('alice');
      await b.setReachable(second.sessionId, false);
      await b.open('alice');
      await b.toUser('x', 'watcher', hello, 1, named('marker'));
      const seen = record(b, watcher.sessionId);
      await eventually(() => expect(seen.events().at(-1)).toEqual(peerMessage('x', hello, 1, 'marker')));
      expect(seen.events()).toEqual([presence('alice', 'ONLINE'), presence('alice', 'UNREACHABLE'), presence('alice', 'ONLINE'), peerMessage('x', hello, 1, 'marker')]);
    });

    it('refuses a watch that would pass max and adds none of it; unwatching makes room; a session not open is closed', async () => {
      const { a, b } = await buses();
      const watcher = await a.open('watcher');
      const seen = record(a, watcher.sessionId);
      expect(await a.watch(watcher.sessionId, ['u1', 'u2'], 3)).toBe('watching');
      expect(await b.watch(watcher.sessionId, ['u2', 'u3', 'u4'], 3)).toBe('full');
      // Already watched users take no more room.
      expect(await b.watch(watcher.sessionId, ['u2', 'u3'], 3)).toBe('watching');
      await a.unwatch(watcher.sessionId, ['u1', 'nobody']);
      expect(await a.watch(watcher.sessionId, ['u4'], 3)).toBe('watching');
      expect(await a.watch(123_456_789, ['u1'], 3)).toBe('closed');
      // Of these, only u3 and u4 are watched: u1 was unwatched, the refused batch added nothing.
      for (const user of ['u1', 'u3', 'u4', 'u5']) await b.open(user);
      await b.toUser('x', 'watcher', hello, 1, named('marker'));
      await eventually(() => expect(seen.events().at(-1)).toEqual(peerMessage('x', hello, 1, 'marker')));
      expect(seen.events()).toEqual([
        presence('u1', 'OFFLINE'),
        presence('u2', 'OFFLINE'),
        presence('u2', 'OFFLINE'),
        presence('u3', 'OFFLINE'),
        presence('u4', 'OFFLINE'),
        presence('u3', 'ONLINE'),
        presence('u4', 'ONLINE'),
        peerMessage('x', hello, 1, 'marker'),
      ]);
    });

    it("ends a session's watches with it: the next session of its user, or one replacing it, is told nothing of them", async () => {
      const { a, b } = await buses();
      const first = await a.open('watcher');
      const alice = await b.open('alice');
      expect(await a.watch(first.sessionId, ['alice'], 10)).toBe('watching');
      await b.close(first.sessionId);
      const second = await b.open('watcher');
      expect(await a.watch(second.sessionId, ['carol'], 10)).toBe('watching');
      // Replaced by a login elsewhere: the replaced session's watch of carol ends too.
      const third = await a.open('watcher');
      await b.setReachable(alice.sessionId, false);
      await a.open('carol');
      await b.toUser('x', 'watcher', hello, 1, named('marker'));
      const seen = record(b, third.sessionId);
      await eventually(() => expect(seen.events()).toEqual([peerMessage('x', hello, 1, 'marker')]));
    });

    it('tells a member that is also a watcher of a closed session first that it left the channel, then that its user is offline', async () => {
      const { a, b } = await buses();
      const alice = await a.open('alice');
      const bob = await b.open('bob');
      await a.join(alice.sessionId, 'room', 5);
      await b.join(bob.sessionId, 'room', 5);
      await b.watch(bob.sessionId, ['alice'], 10);
      const seen = record(b, bob.sessionId);
      await a.close(alice.sessionId);
      await eventually(() => expect(seen.deliveries).toHaveLength(3));
      expect(seen.events()).toEqual([
        presence('alice', 'ONLINE'),
        { type: 'memberLeft', channelId: 'room', userId: 'alice', memberCount: 1 },
        presence('alice', 'OFFLINE'),
      ]);
    });

    it('counts the members of each channel asked, 0 for one nobody is in, and tells each join and leave with the count after it', async () => {
      const { a, b } = await buses();
      const [alice, bob, carol] = [await a.open('alice'), await b.open('bob'), await a.open('carol')];
      expect(await a.memberCounts([])).toEqual([]);
      expect(await b.memberCounts(['room', 'hall'])).toEqual([0, 0]);
      await a.join(alice.sessionId, 'room', 5);
      const alices = record(a, alice.sessionId);
      await b.join(bob.sessionId, 'room', 5);
      await a.join(carol.sessionId, 'room', 5);
      await a.join(carol.sessionId, 'hall', 5);
      expect(await b.memberCounts(['room', 'nowhere', 'hall'])).toEqual([3, 0, 1]);
      await b.leave(bob.sessionId, 'room');
      expect(await a.memberCounts(['room', 'hall'])).toEqual([2, 1]);
      await b.close(carol.sessionId);
      expect(await a.memberCounts(['hall', 'room'])).toEqual([0, 1]);
      await eventually(() => expect(alices.deliveries).toHaveLength(4));
      expect(alices.events()).toEqual([
        { type: 'memberJoined', channelId: 'room', userId: 'bob', memberCount: 2 },
        { type: 'memberJoined', channelId: 'room', userId: 'carol', memberCount: 3 },
        { type: 'memberLeft', channelId: 'room', userId: 'bob', memberCount: 2 },
        { type: 'memberLeft', channelId: 'room', userId: 'carol', memberCount: 1 },
      ]);
    });
  });
};
