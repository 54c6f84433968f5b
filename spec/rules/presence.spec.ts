/**
 * Issue 15, peer presence, each rule at its boundary: `queryPeersOnlineStatus` answers per peer (at most
 * 256, code 2), `subscribePeersOnlineStatus` (at most 512 subscribed, code 6) then `peersOnlineStatus$`
 * tells the status at subscribe and each change, 10 queries and 10 (un)subscribes per 5 s per user
 * (code 5) on the virtual clock, 102 when logged out. The model-based property of the transitions is
 * `spec/properties/presence.spec.ts`.
 */
import * as E from 'fp-ts/lib/Either.js';
import { describe, expect, it } from 'vitest';
import {
  type Client,
  createClient,
  createHub,
  type Hub,
  type HubSession,
  MAX_PRESENCE_QUERY,
  MAX_PRESENCE_SUBSCRIPTIONS,
  memoryTransport,
  type PeerOnlineState,
  virtualClock,
  type VirtualClock,
} from '../../src/index.js';
import { flush, rejectsWith } from './support.js';

const DAY = 24 * 3600_000;

interface PresenceWorld {
  readonly clock: VirtualClock;
  readonly hub: Hub;
  /** A client logged in as `userId` (a token of `ttlMs`, 30 days unless given). */
  loggedIn(userId: string, ttlMs?: number): Promise<Client>;
  /** The hub session of a user's latest login. */
  sessionOf(userId: string): HubSession;
}

/** A hub and clients on one virtual clock, the hub's logins tapped so a spec can play the server's `setReachable`. */
const presenceWorld = (): PresenceWorld => {
  const clock = virtualClock(Date.UTC(2024, 0, 1));
  const hub = createHub({ clock });
  const latest = new Map<string, HubSession>();
  const transport = memoryTransport({
    ...hub,
    async login(userId, token) {
      const opened = await hub.login(userId, token);
      if (E.isRight(opened)) latest.set(opened.right.userId, opened.right);
      return opened;
    },
  });
  return {
    clock,
    hub,
    async loggedIn(userId, ttlMs = 30 * DAY) {
      const client = createClient({ transport, clock });
      await client.login({ userId, token: hub.issueToken(userId, ttlMs) });
      return client;
    },
    sessionOf(userId) {
      const session = latest.get(userId);
      if (!session) throw new Error(`${userId} never logged in`);
      return session;
    },
  };
};

/** The presence events a watcher hears from now on. */
const heard = (watcher: Client): Record<string, PeerOnlineState>[] => {
  const events: Record<string, PeerOnlineState>[] = [];
  watcher.peersOnlineStatus$.subscribe((event) => events.push(event));
  return events;
};

const ids = (count: number, prefix = 'user'): string[] => Array.from({ length: count }, (_, i) => `${prefix}${i}`);

describe('queryPeersOnlineStatus', () => {
  it('answers each peer: ONLINE, UNREACHABLE (link down, session within its grace), OFFLINE (logged out or never in)', async () => {
    const w = presenceWorld();
    const alice = await w.loggedIn('alice');
    await w.loggedIn('bob');
    await w.loggedIn('carol');
    await (await w.loggedIn('dave')).logout();
    w.hub.setReachable(w.sessionOf('carol'), false);
    expect(await alice.queryPeersOnlineStatus(['bob', 'carol', 'dave', 'erin', 'alice', 'bob'])).toEqual({
      bob: 'ONLINE',
      carol: 'UNREACHABLE',
      dave: 'OFFLINE',
      erin: 'OFFLINE',
      alice: 'ONLINE',
    });
    w.hub.setReachable(w.sessionOf('carol'), true);
    expect(await alice.queryPeersOnlineStatus(['carol'])).toEqual({ carol: 'ONLINE' });
  });

  it('takes 256 peers and refuses 257, an empty list or an invalid ID with code 2, at the client and at the hub', async () => {
    const w = presenceWorld();
    const alice = await w.loggedIn('alice');
    expect(MAX_PRESENCE_QUERY).toBe(256);
    expect(Object.keys(await alice.queryPeersOnlineStatus(ids(256)))).toHaveLength(256);
    for (const bad of [ids(257), [], ['bob', ''], ['bob', ' '], ['x'.repeat(65)], 'bob' as unknown as string[]]) {
      await rejectsWith(alice.queryPeersOnlineStatus(bad), { name: 'QueryPeersOnlineStatusError', code: 2 });
    }
    // A client that skips its own checks meets the same refusals at the hub.
    const session = w.sessionOf('alice');
    for (const bad of [ids(257), [], ['bob', 7], null]) {
      const answer = await w.hub.queryPresence(session, bad);
      expect(E.isLeft(answer) && answer.left._tag).toBe('InvalidArgument');
    }
  });

  it('takes 10 queries per 5 s per user and refuses the 11th with code 5 until 5 s after the first; refusals count nothing', async () => {
    const w = presenceWorld();
    const alice = await w.loggedIn('alice');
    for (let i = 0; i < 10; i++) await alice.queryPeersOnlineStatus(['bob']);
    const refused = await rejectsWith(alice.queryPeersOnlineStatus(['bob']), { name: 'QueryPeersOnlineStatusError', code: 5 });
    expect(refused.failure._tag).toBe('TooOften');
    // Another user has its own window; a query refused by the client's checks spends nothing.
    await (await w.loggedIn('bob')).queryPeersOnlineStatus(['alice']);
    w.clock.advance(4_999);
    await rejectsWith(alice.queryPeersOnlineStatus(['bob']), { name: 'QueryPeersOnlineStatusError', code: 5 });
    w.clock.advance(1);
    expect(await alice.queryPeersOnlineStatus(['bob'])).toEqual({ bob: 'ONLINE' });
  });

  it('is code 102 when not logged in', async () => {
    const w = presenceWorld();
    const alice = await w.loggedIn('alice');
    await alice.logout();
    await rejectsWith(alice.queryPeersOnlineStatus(['bob']), { name: 'QueryPeersOnlineStatusError', code: 102 });
    await rejectsWith(alice.subscribePeersOnlineStatus(['bob']), { name: 'PeerSubscriptionStatusError', code: 102 });
    await rejectsWith(alice.unsubscribePeersOnlineStatus(['bob']), { name: 'PeerSubscriptionStatusError', code: 102 });
  });
});

describe('subscribePeersOnlineStatus and peersOnlineStatus$', () => {
  it('tells each peer’s status at subscribe, in the order given, then each change: ONLINE → UNREACHABLE → OFFLINE', async () => {
    const w = presenceWorld();
    const alice = await w.loggedIn('alice');
    const events = heard(alice);
    await w.loggedIn('bob');
    await w.loggedIn('carol');
    w.hub.setReachable(w.sessionOf('carol'), false);
    await alice.subscribePeersOnlineStatus(['dave', 'bob', 'carol', 'bob']);
    expect(events).toEqual([{ dave: 'OFFLINE' }, { bob: 'ONLINE' }, { carol: 'UNREACHABLE' }]);
    events.length = 0;
    w.hub.setReachable(w.sessionOf('bob'), false);
    // No change, no event.
    w.hub.setReachable(w.sessionOf('bob'), false);
    w.hub.setReachable(w.sessionOf('carol'), true);
    w.hub.setReachable(w.sessionOf('carol'), true);
    await w.hub.logout(w.sessionOf('bob'));
    await flush(2);
    expect(events).toEqual([{ bob: 'UNREACHABLE' }, { carol: 'ONLINE' }, { bob: 'OFFLINE' }]);
  });

  it('tells a second login of the same user only when it changes the status: not while ONLINE, ONLINE while UNREACHABLE', async () => {
    const w = presenceWorld();
    const alice = await w.loggedIn('alice');
    const events = heard(alice);
    await w.loggedIn('bob');
    await alice.subscribePeersOnlineStatus(['bob']);
    await w.loggedIn('bob');
    w.hub.setReachable(w.sessionOf('bob'), false);
    const replaced = w.sessionOf('bob');
    // Two logins per second per user: the third a second later.
    w.clock.advance(1_000);
    await w.loggedIn('bob');
    // The replaced session's link going down changes nothing: it has ended.
    w.hub.setReachable(replaced, false);
    await flush(2);
    expect(events).toEqual([{ bob: 'ONLINE' }, { bob: 'UNREACHABLE' }, { bob: 'ONLINE' }]);
  });

  it('tells OFFLINE when a peer’s token expires unrenewed, at its expiry to the millisecond', async () => {
    const w = presenceWorld();
    const alice = await w.loggedIn('alice');
    const events = heard(alice);
    await w.loggedIn('bob', 60_000);
    await alice.subscribePeersOnlineStatus(['bob']);
    w.clock.advance(59_999);
    await flush(2);
    expect(events).toEqual([{ bob: 'ONLINE' }]);
    w.clock.advance(1);
    await flush(2);
    expect(events).toEqual([{ bob: 'ONLINE' }, { bob: 'OFFLINE' }]);
  });

  it('stops telling a peer after unsubscribe, and every peer after the watcher’s logout', async () => {
    const w = presenceWorld();
    const alice = await w.loggedIn('alice');
    const events = heard(alice);
    const bob = await w.loggedIn('bob');
    await w.loggedIn('carol');
    await alice.subscribePeersOnlineStatus(['bob', 'carol']);
    await alice.unsubscribePeersOnlineStatus(['bob', 'nobody']);
    await bob.logout();
    await flush(2);
    expect(events).toEqual([{ bob: 'ONLINE' }, { carol: 'ONLINE' }]);
    await alice.logout();
    await alice.login({ userId: 'alice', token: w.hub.issueToken('alice') });
    w.hub.setReachable(w.sessionOf('carol'), false);
    await flush(2);
    expect(events).toEqual([{ bob: 'ONLINE' }, { carol: 'ONLINE' }]);
  });

  it('keeps at most 512 subscribed: a subscribe that would pass it is code 6 and adds none; one already subscribed counts once; unsubscribing frees room', async () => {
    const w = presenceWorld();
    const alice = await w.loggedIn('alice');
    const events = heard(alice);
    expect(MAX_PRESENCE_SUBSCRIPTIONS).toBe(512);
    await alice.subscribePeersOnlineStatus(ids(500));
    expect(events).toHaveLength(500);
    const refused = await rejectsWith(alice.subscribePeersOnlineStatus(ids(13, 'more')), { name: 'PeerSubscriptionStatusError', code: 6 });
    expect(refused.failure._tag).toBe('LimitExceeded');
    expect(events).toHaveLength(500);
    await alice.subscribePeersOnlineStatus(ids(12, 'more'));
    await alice.subscribePeersOnlineStatus(['user0']);
    await rejectsWith(alice.subscribePeersOnlineStatus(['one-more']), { name: 'PeerSubscriptionStatusError', code: 6 });
    await alice.unsubscribePeersOnlineStatus(['user0']);
    await alice.subscribePeersOnlineStatus(['one-more']);
    // None of the refused 13th ones is watched: more12 logging in is told only because it is subscribed.
    await w.loggedIn('more12');
    await w.loggedIn('more11');
    await flush(2);
    expect(events).toHaveLength(515);
    expect(events.slice(-2)).toEqual([{ 'one-more': 'OFFLINE' }, { more11: 'ONLINE' }]);
  });

  it('refuses 513 at once with code 6 and an empty list or an invalid ID with code 2', async () => {
    const w = presenceWorld();
    const alice = await w.loggedIn('alice');
    await rejectsWith(alice.subscribePeersOnlineStatus(ids(513)), { name: 'PeerSubscriptionStatusError', code: 6 });
    for (const bad of [[], ['ok', ''], ['é'], 'bob' as unknown as string[]]) {
      await rejectsWith(alice.subscribePeersOnlineStatus(bad), { name: 'PeerSubscriptionStatusError', code: 2 });
      await rejectsWith(alice.unsubscribePeersOnlineStatus(bad), { name: 'PeerSubscriptionStatusError', code: 2 });
    }
    const answer = await w.hub.subscribePresence(w.sessionOf('alice'), ids(513));
    expect(E.isLeft(answer) && answer.left._tag).toBe('LimitExceeded');
  });

  it('takes 10 subscribes and unsubscribes together per 5 s per user, the 11th is code 5', async () => {
    const w = presenceWorld();
    const alice = await w.loggedIn('alice');
    for (let i = 0; i < 5; i++) {
      await alice.subscribePeersOnlineStatus(['bob']);
      await alice.unsubscribePeersOnlineStatus(['bob']);
    }
    const refused = await rejectsWith(alice.subscribePeersOnlineStatus(['bob']), { name: 'PeerSubscriptionStatusError', code: 5 });
    expect(refused.failure._tag).toBe('TooOften');
    await rejectsWith(alice.unsubscribePeersOnlineStatus(['bob']), { name: 'PeerSubscriptionStatusError', code: 5 });
    w.clock.advance(4_999);
    await rejectsWith(alice.subscribePeersOnlineStatus(['bob']), { name: 'PeerSubscriptionStatusError', code: 5 });
    w.clock.advance(1);
    await alice.subscribePeersOnlineStatus(['bob']);
  });
});
