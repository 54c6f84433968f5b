/**
 * The message-bus contract: what every `MessageBus` must do, whatever holds its state (memory, Redis).
 * Run it from a bus's spec with `describeBusContract(name, makeBuses)`, where `makeBuses` gives two
 * handles on one shared bus (two processes' connections; the same object twice for a memory bus) and
 * `dispose` frees them. Deliveries may arrive asynchronously: assertions wait for them (bounded).
 */
import { afterEach, describe, expect, it, vi } from 'vitest';
import type { Delivery, HubEvent, MessageBus } from '../../src/index.js';
import { encodeMessage, textMessage } from '../../src/index.js';

/** Two handles on one bus, and how to free them. */
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

/** Subscribes to a session's deliveries and records them. */
export const record = (bus: MessageBus, sessionId: number, after?: number, owner?: string): Recording => {
  const recording: Recording = {
    deliveries: [],
    events: () => recording.deliveries.map((delivery) => delivery.event),
    completed: false,
    error: undefined,
    stop: () => subscription.unsubscribe(),
  };
  const subscription = bus.deliveries(sessionId, after, owner).subscribe({
    next: (delivery) => recording.deliveries.push(delivery),
    complete: () => {
      recording.completed = true;
    },
    error: (error: unknown) => {
      recording.error = error;
    },
  });
  return recording;
};

/** Waits (at most two seconds) until `check` passes: a bus across the network delivers a little later. */
const eventually = (check: () => void): Promise<void> => vi.waitFor(check, { timeout: 2_000, interval: 5 });

const hello = encodeMessage(textMessage('hello'));

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
        { type: 'memberJoined', channelId: 'room', userId: 'bob' },
        { type: 'aborted', reason: expect.any(String), cause: 'REMOTE_LOGIN' },
      ]);
      // The replaced session left its channels as a closed one does.
      await eventually(() => expect(bob.events()).toContainEqual({ type: 'memberLeft', channelId: 'room', userId: 'alice' }));
      expect(await a.channelsOf(first.sessionId)).toBeUndefined();
      expect(await b.channelsOf(second.sessionId)).toEqual([]);
      expect(await a.isOnline('alice')).toBe(true);
      expect(await b.toUser('bob', 'alice', hello, 1)).toBe(true);
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
      await eventually(() => expect(theirs.events()).toEqual([{ type: 'memberLeft', channelId: 'room', userId: 'alice' }]));
      expect(mine.events()).toEqual([{ type: 'memberJoined', channelId: 'room', userId: 'bob' }]);
      expect(await a.close(alice.sessionId)).toBe(false);
      expect(await b.abort(alice.sessionId, 'TOKEN_EXPIRED', 'late')).toBe(false);
      expect(await b.isOnline('alice')).toBe(false);
      expect(await b.members(bob.sessionId, 'room')).toEqual(['bob']);
      expect(await b.toUser('bob', 'alice', hello, 1)).toBe(false);
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
      expect(await b.toUser('bob', 'alice', hello, 42)).toBe(true);
      expect(await b.toUser('bob', 'nobody', hello, 42)).toBe(false);
      await eventually(() => expect(mine.events()).toEqual([{ type: 'peerMessage', peerId: 'bob', message: hello, serverReceivedTs: 42 }]));
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
      await eventually(() => expect(theirs.events()).toEqual([{ type: 'memberJoined', channelId: 'room', userId: 'alice' }]));
      // A member is not told of its own join: a later delivery to it shows what came before.
      await b.toUser('bob', 'alice', hello, 1);
      await eventually(() => expect(mine.events()).toEqual([{ type: 'peerMessage', peerId: 'bob', message: hello, serverReceivedTs: 1 }]));
      expect(await a.leave(alice.sessionId, 'room')).toBe(true);
      expect(await a.leave(alice.sessionId, 'room')).toBe(false);
      await eventually(() => expect(theirs.events()).toContainEqual({ type: 'memberLeft', channelId: 'room', userId: 'alice' }));
    });

    it('delivers a channel message to every other member and counts them; refuses a sender not in the channel', async () => {
      const { a, b } = await buses();
      const [alice, bob, carol] = [await a.open('alice'), await b.open('bob'), await a.open('carol')];
      for (const session of [alice, bob]) await a.join(session.sessionId, 'room', 10);
      const [mine, theirs] = [record(a, alice.sessionId), record(b, bob.sessionId)];
      expect(await a.toChannel(alice.sessionId, 'room', hello, 7)).toBe(1);
      expect(await b.toChannel(carol.sessionId, 'room', hello, 7)).toBe(false);
      await eventually(() =>
        expect(theirs.events()).toEqual([{ type: 'channelMessage', channelId: 'room', memberId: 'alice', message: hello, serverReceivedTs: 7 }]),
      );
      // Alice is told of bob's join, never of her own message: a later delivery to her shows what came between.
      await b.toUser('bob', 'alice', hello, 8);
      await eventually(() =>
        expect(mine.events()).toEqual([
          { type: 'memberJoined', channelId: 'room', userId: 'bob' },
          { type: 'peerMessage', peerId: 'bob', message: hello, serverReceivedTs: 8 },
        ]),
      );
    });

    it('numbers each session\'s deliveries 1, 2, 3, … and replays those above a number to a late subscriber', async () => {
      const { a, b } = await buses();
      const alice = await a.open('alice');
      const live = record(a, alice.sessionId);
      for (let i = 1; i <= 5; i++) await b.toUser('bob', 'alice', encodeMessage(textMessage(`m${i}`)), i);
      await eventually(() => expect(live.deliveries).toHaveLength(5));
      expect(live.deliveries.map((d) => d.seq)).toEqual([1, 2, 3, 4, 5]);
      const resumed = record(b, alice.sessionId, 3);
      await b.toUser('bob', 'alice', encodeMessage(textMessage('m6')), 6);
      await eventually(() => expect(resumed.deliveries.map((d) => d.seq)).toEqual([4, 5, 6]));
      expect(resumed.deliveries[0]).toEqual(live.deliveries[3]);
      // Every delivery is wire data: it survives JSON unchanged.
      for (const delivery of resumed.deliveries) expect(JSON.parse(JSON.stringify(delivery))).toEqual(delivery);
    });

    it('never skips deliveries silently: a subscriber asking for more than the bus keeps gets all of them or Conflict', async () => {
      const { a, b } = await buses();
      const alice = await a.open('alice');
      for (let i = 1; i <= 300; i++) await b.toUser('bob', 'alice', hello, i);
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
      await b.toUser('bob', 'alice', hello, 1);
      await eventually(() => expect(before.deliveries.map((d) => d.seq)).toEqual([1]));
      expect(await b.resume(alice.sessionId, 'alice', 'node-b')).toBe(true);
      await eventually(() => expect(before.completed).toBe(true));
      const after = record(b, alice.sessionId, 1, 'node-b');
      await a.toUser('bob', 'alice', hello, 2);
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
      await b.toUser('bob', 'alice', hello, 1);
      expect(await b.resume(alice.sessionId, 'alice', 'node-b')).toBe(true);
      expect(await a.resume(alice.sessionId, 'alice', 'node-a')).toBe(true);
      // Subscribed after both moves: the move away is history, not news.
      const back = record(a, alice.sessionId, 0, 'node-a');
      await eventually(() => expect(back.deliveries.map((d) => d.seq)).toEqual([1]));
      await b.toUser('bob', 'alice', hello, 2);
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
  });
};
