/**
 * The message-bus contract on `memoryBus`, and two hubs sharing one bus as two processes share a Redis
 * bus: a login at one replaces the session at the other, messages and channels cross between them.
 */
import { describe, expect, it } from 'vitest';
import * as E from 'fp-ts/lib/Either.js';
import { createHub, encodeMessage, type HubEvent, memoryBus, textMessage, virtualClock } from '../../src/index.js';
import { describeBusContract } from './bus-contract.js';

describeBusContract('memory', async () => {
  const bus = memoryBus();
  return { a: bus, b: bus, dispose: async () => undefined };
});

describe('memoryBus', () => {
  it('refuses a replay limit that is not a positive integer', () => {
    expect(() => memoryBus({ replayLimit: 0 })).toThrow(/replayLimit/);
    expect(() => memoryBus({ replayLimit: 1.5 })).toThrow(/replayLimit/);
  });

  it('keeps the last replayLimit deliveries of a session for a late subscriber, and says Conflict below them', async () => {
    const bus = memoryBus({ replayLimit: 3 });
    const alice = await bus.open('alice');
    for (let i = 1; i <= 5; i++) await bus.toUser('bob', 'alice', encodeMessage(textMessage(`m${i}`)), i, { messageId: `m${i}`, rememberMs: 1_000 });
    const seqs: number[] = [];
    bus.deliveries(alice.sessionId, 2).subscribe((delivery) => seqs.push(delivery.seq));
    expect(seqs).toEqual([3, 4, 5]);
    let error: unknown;
    bus.deliveries(alice.sessionId, 1).subscribe({ error: (e: unknown) => (error = e) });
    expect(error).toMatchObject({ failure: { _tag: 'Conflict' } });
  });
});

describe('two hubs sharing one bus', () => {
  const twoHubs = () => {
    const clock = virtualClock(1_000);
    const bus = memoryBus();
    const secret = 'shared secret of both hubs';
    const a = createHub({ clock, bus, secret });
    const b = createHub({ clock, bus, secret });
    return { a, b, close: () => [a, b].forEach((hub) => hub.close()) };
  };
  const loggedIn = async (hub: ReturnType<typeof twoHubs>['a'], userId: string) => {
    const session = await hub.login(userId, hub.issueToken(userId));
    if (E.isLeft(session)) throw new Error(`login failed: ${session.left._tag}`);
    const events: HubEvent[] = [];
    let ended = false;
    session.right.events$.subscribe({ next: (event) => events.push(event), complete: () => (ended = true) });
    return { session: session.right, events, ended: () => ended };
  };

  it('a login at one hub ends the same user\'s session at the other with REMOTE_LOGIN', async () => {
    const { a, b, close } = twoHubs();
    const first = await loggedIn(a, 'alice');
    const second = await loggedIn(b, 'alice');
    expect(first.events).toEqual([{ type: 'aborted', reason: 'the same user logged in elsewhere', cause: 'REMOTE_LOGIN' }]);
    expect(first.ended()).toBe(true);
    expect(a.isOnline(first.session)).toBe(false);
    expect(b.isOnline(second.session)).toBe(true);
    expect(await a.sendToPeer(first.session, 'bob', textMessage('late'))).toEqual(E.left({ _tag: 'NotLoggedIn' }));
    close();
  });

  it('peer and channel messages, joins and members cross from one hub to the other', async () => {
    const { a, b, close } = twoHubs();
    const alice = await loggedIn(a, 'alice');
    const bob = await loggedIn(b, 'bob');
    expect(await a.sendToPeer(alice.session, 'bob', textMessage('hi'), { messageId: 'hi-1' })).toEqual(
      E.right({ serverReceivedTs: 1_000, state: 'RECEIVED', messageId: 'hi-1' }),
    );
    expect(bob.events).toEqual([{ type: 'peerMessage', peerId: 'alice', message: encodeMessage(textMessage('hi')), serverReceivedTs: 1_000, messageId: 'hi-1' }]);
    expect(await b.joinChannel(bob.session, 'room')).toEqual(E.right(undefined));
    expect(await a.joinChannel(alice.session, 'room')).toEqual(E.right(undefined));
    expect(bob.events.at(-1)).toEqual({ type: 'memberJoined', channelId: 'room', userId: 'alice', memberCount: 2 });
    expect(await b.channelMembers(bob.session, 'room')).toEqual(E.right(['alice', 'bob']));
    expect(E.isRight(await b.sendToChannel(bob.session, 'room', textMessage('all')))).toBe(true);
    expect(alice.events.at(-1)).toMatchObject({ type: 'channelMessage', channelId: 'room', memberId: 'bob' });
    await a.logout(alice.session);
    expect(alice.ended()).toBe(true);
    expect(bob.events.at(-1)).toEqual({ type: 'memberLeft', channelId: 'room', userId: 'alice', memberCount: 1 });
    expect(await b.sendToPeer(bob.session, 'alice', textMessage('gone?'))).toEqual(E.left({ _tag: 'PeerUnreachable', peerId: 'alice' }));
    close();
  });

  it('of two joins racing for a session\'s last channel, one is refused with the channel limit', async () => {
    const clock = virtualClock(1_000);
    const hub = createHub({ clock, limits: { channels: 1 } });
    const session = await hub.login('alice', hub.issueToken('alice'));
    if (E.isLeft(session)) throw new Error('login failed');
    const results = await Promise.all([hub.joinChannel(session.right, 'one'), hub.joinChannel(session.right, 'two')]);
    expect(results.filter(E.isRight)).toHaveLength(1);
    expect(results.filter(E.isLeft).map((r) => (E.isLeft(r) ? r.left._tag : ''))).toEqual(['LimitExceeded']);
    hub.close();
  });
});
