/**
 * A session moves between hubs that share a bus and a secret (issue 14, decision 95): its key names it
 * on every hub, a hub that never served it takes it over with `Hub.resume` from the last delivery its
 * client saw (numbered by the bus, so the same everywhere), the hub it left stops serving it without
 * ending it, and a handed-over hub leaves its sessions open for that. On a virtual clock.
 */
import * as E from 'fp-ts/lib/Either.js';
import { describe, expect, it } from 'vitest';
import { fromBase64Url, toBase64Url, utf8 } from '../../src/core/bytes.js';
import { virtualClock } from '../../src/core/clock.js';
import { textMessage } from '../../src/core/messages.js';
import { createHub, type Hub, type HubSession, type Resumption } from '../../src/hub/hub.js';
import { type Delivery, memoryBus, type MessageBus } from '../../src/hub/message-bus.js';

const SECRET = 'the secret every hub of this cluster shares';
const MINUTE = 60_000;

const cluster = (bus: MessageBus = memoryBus({ replayLimit: 100 }), onBusError: (error: unknown) => void = (error) => {
  throw error;
}) => {
  const clock = virtualClock(Date.UTC(2026, 0, 1));
  const hubs: Hub[] = [];
  const hub = (): Hub => {
    const made = createHub({ bus, clock, secret: SECRET, onBusError, limits: { loginRate: { limit: Infinity, windowMs: 1_000 } } });
    hubs.push(made);
    return made;
  };
  return { bus, clock, a: hub(), b: hub(), close: () => hubs.forEach((h) => h.close()) };
};

const loggedIn = async (hub: Hub, userId: string, ttlMs = 3_600_000): Promise<HubSession> => {
  const session = await hub.login(userId, hub.issueToken(userId, ttlMs));
  if (E.isLeft(session)) throw new Error(`login of ${userId} failed: ${session.left._tag}`);
  return session.right;
};

/** What a session's consumer gets: its deliveries, and whether they completed. */
const follow = (session: HubSession) => {
  const deliveries: Delivery[] = [];
  let completed = false;
  session.deliveries$.subscribe({ next: (delivery) => deliveries.push(delivery), complete: () => (completed = true) });
  return { session, deliveries, seqs: () => deliveries.map((d) => d.seq), completed: () => completed };
};

const resumed = (outcome: E.Either<unknown, Resumption>): HubSession => {
  if (E.isLeft(outcome) || outcome.right.state !== 'resumed') throw new Error(`not resumed: ${JSON.stringify(outcome)}`);
  return outcome.right.session;
};

const turns = async (n = 5): Promise<void> => {
  for (let i = 0; i < n; i++) await Promise.resolve();
};

describe('a session resumed at another hub sharing the bus and the secret', () => {
  it('continues after the last delivery its client saw, numbered as at the first hub, once and in order; the first hub stops serving it and cannot end it', async () => {
    const { a, b, bus, close } = cluster();
    const bob = await loggedIn(b, 'bob');
    const alice = await loggedIn(a, 'alice');
    const atA = follow(alice);
    for (const text of ['1', '2', '3']) expect(E.isRight(await b.sendToPeer(bob, 'alice', textMessage(text)))).toBe(true);
    expect(atA.seqs()).toEqual([1, 2, 3]);
    // Its client saw up to 2 and comes back through b.
    const atB = follow(resumed(await b.resume(alice.key, b.issueToken('alice'), 2)));
    expect(atB.seqs()).toEqual([3]);
    expect(atA.completed()).toBe(true);
    expect(a.isOnline(alice)).toBe(false);
    await b.sendToPeer(bob, 'alice', textMessage('4'));
    expect(atB.seqs()).toEqual([3, 4]);
    expect(atB.deliveries.map((d) => (d.event.type === 'peerMessage' ? d.event.message : undefined))).toEqual([
      expect.objectContaining({ text: '3' }),
      expect.objectContaining({ text: '4' }),
    ]);
    expect(atA.seqs()).toEqual([1, 2, 3]);
    // The hub the client left logs its copy out (its grace ran out): the session lives on at b.
    await a.logout(alice);
    expect(await bus.isOnline('alice')).toBe(true);
    await b.sendToPeer(bob, 'alice', textMessage('5'));
    expect(atB.seqs()).toEqual([3, 4, 5]);
    close();
  });

  it('gives every session one key that names it everywhere, and two sessions different keys', async () => {
    const { a, b, close } = cluster();
    const first = await loggedIn(a, 'alice');
    const second = await loggedIn(b, 'bob');
    expect(a.sessionOfKey(first.key)).toEqual({ sessionId: first.sessionId, userId: 'alice' });
    expect(b.sessionOfKey(first.key)).toEqual({ sessionId: first.sessionId, userId: 'alice' });
    expect(a.sessionOfKey(second.key)).toEqual({ sessionId: second.sessionId, userId: 'bob' });
    expect(first.key).not.toBe(second.key);
    // A key is plain URL-path text: it travels as a path segment and a header.
    expect(first.key).toMatch(/^[0-9]+\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+$/);
    const again = resumed(await b.resume(first.key, b.issueToken('alice'), 0));
    expect(again.key).toBe(first.key);
    close();
  });

  it('refuses a forged, unsigned, altered or another user\'s key, or a bad token, and the session stays where it was', async () => {
    const { a, b, close } = cluster();
    const alice = await loggedIn(a, 'alice');
    const atA = follow(alice);
    const [id, user, nonce, mac] = alice.key.split('.') as [string, string, string, string];
    const otherSecret = createHub({ secret: 'another secret, another cluster!', clock: virtualClock(Date.UTC(2026, 0, 1)) });
    const foreign = await loggedIn(otherSecret, 'alice');
    const flipped = fromBase64Url(mac) as Uint8Array;
    flipped[0] = (flipped[0] ?? 0) ^ 1;
    const forged = [
      `${id}.${user}.${nonce}`, // unsigned
      `${id}.${user}`,
      `${Number(id) + 1}.${user}.${nonce}.${mac}`, // another session's number under this MAC
      `${id}.${toBase64Url(utf8('mallory'))}.${nonce}.${mac}`,
      `${id}.${user}.${nonce}.${toBase64Url(flipped)}`,
      foreign.key, // signed with another secret
      `${alice.key}.x`,
      'x'.repeat(300),
      42,
      undefined,
    ];
    for (const key of forged) {
      expect(b.sessionOfKey(key)).toBeUndefined();
      expect(await b.resume(key, b.issueToken('alice'), 0)).toEqual(E.left({ _tag: 'NotLoggedIn' }));
    }
    // Alice's own key with mallory's token: another user's session is as unknown as a forged one.
    expect(await b.resume(alice.key, b.issueToken('mallory'), 0)).toEqual(E.left({ _tag: 'NotLoggedIn' }));
    expect(await b.resume(alice.key, 'not a token', 0)).toMatchObject(E.left({ _tag: 'InvalidToken' }));
    expect(await b.resume(alice.key, b.issueToken('alice'), -1)).toMatchObject(E.left({ _tag: 'InvalidArgument' }));
    expect(a.isOnline(alice)).toBe(true);
    expect(atA.completed()).toBe(false);
    otherSecret.close();
    close();
  });

  it('ends at the expiry of the token it was resumed with, at the hub that resumed it: the first hub\'s timer went with its copy', async () => {
    const { a, b, clock, close } = cluster();
    const alice = await loggedIn(a, 'alice', MINUTE);
    const atB = follow(resumed(await b.resume(alice.key, b.issueToken('alice', 3 * MINUTE), 0)));
    // The hub it left no longer serves it, so no longer watches its token.
    expect(a.tokenExpiresAt(alice)).toBeUndefined();
    expect(b.tokenExpiresAt(atB.session)).toBe(Date.UTC(2026, 0, 1) + 3 * MINUTE);
    clock.advance(2 * MINUTE);
    await turns();
    expect(atB.completed()).toBe(false);
    clock.advance(MINUTE);
    await turns();
    expect(atB.deliveries.at(-1)?.event).toEqual({ type: 'aborted', reason: 'the token expired without renewal', cause: 'TOKEN_EXPIRED' });
    expect(atB.completed()).toBe(true);
    close();
  });

  it('says how a session that is no longer open ended: `ended` with the aborted it ended with, or NotLoggedIn when it was closed', async () => {
    const { a, b, close } = cluster();
    const bob = await loggedIn(b, 'bob');
    const alice = await loggedIn(a, 'alice');
    await b.sendToPeer(bob, 'alice', textMessage('seen'));
    await loggedIn(b, 'alice'); // the same user logs in elsewhere: the first session is aborted
    expect(await b.resume(alice.key, b.issueToken('alice'), 1)).toEqual(
      E.right({ state: 'ended', ending: { seq: 2, event: { type: 'aborted', reason: 'the same user logged in elsewhere', cause: 'REMOTE_LOGIN' } } }),
    );
    const carol = await loggedIn(a, 'carol');
    await a.logout(carol);
    expect(await b.resume(carol.key, b.issueToken('carol'), 0)).toEqual(E.left({ _tag: 'NotLoggedIn' }));
    close();
  });

  it('stays open on the bus when its hub closes handing over, to be resumed at another hub with what came meanwhile; a plain close ends it', async () => {
    const { a, b, bus, close } = cluster();
    const bob = await loggedIn(b, 'bob');
    const alice = await loggedIn(a, 'alice');
    const carol = await loggedIn(a, 'carol');
    const atA = follow(alice);
    a.close({ handOver: true });
    expect(atA.completed()).toBe(true);
    expect(await bus.isOnline('alice')).toBe(true);
    for (const text of ['while', 'away']) expect(E.isRight(await b.sendToPeer(bob, 'alice', textMessage(text)))).toBe(true);
    expect(follow(resumed(await b.resume(alice.key, b.issueToken('alice'), 0))).seqs()).toEqual([1, 2]);
    expect(follow(resumed(await b.resume(carol.key, b.issueToken('carol'), 0))).completed()).toBe(false);
    const c = createHub({ bus, secret: SECRET });
    const dave = await loggedIn(c, 'dave');
    c.close();
    await turns();
    expect(await bus.isOnline('dave')).toBe(false);
    expect(await b.resume(dave.key, b.issueToken('dave'), 0)).toEqual(E.left({ _tag: 'NotLoggedIn' }));
    close();
  });

  it('numbers an aborted it adds itself, when the bus failed to abort, after the last delivery', async () => {
    const shared = memoryBus({ replayLimit: 100 });
    const failing: MessageBus = { ...shared, abort: () => Promise.reject(new Error('the bus is down')) };
    const clock = virtualClock(Date.UTC(2026, 0, 1));
    const errors: unknown[] = [];
    const hub = createHub({ bus: failing, clock, secret: SECRET, onBusError: (error) => errors.push(error) });
    const bob = await loggedIn(hub, 'bob');
    const alice = await loggedIn(hub, 'alice', MINUTE);
    const atHub = follow(alice);
    await hub.sendToPeer(bob, 'alice', textMessage('1'));
    await hub.sendToPeer(bob, 'alice', textMessage('2'));
    clock.advance(MINUTE);
    await turns();
    expect(atHub.seqs()).toEqual([1, 2, 3]);
    expect(atHub.deliveries.at(-1)?.event).toMatchObject({ type: 'aborted', cause: 'TOKEN_EXPIRED' });
    expect(atHub.completed()).toBe(true);
    expect(errors).toEqual([new Error('the bus is down')]);
    hub.close();
  });

  it('closes rather than continues with a hole a session resumed after deliveries the bus no longer keeps: NotLoggedIn, and it is offline', async () => {
    const errors: unknown[] = [];
    const { a, b, bus, close } = cluster(memoryBus({ replayLimit: 2 }), (error) => errors.push(error));
    const bob = await loggedIn(b, 'bob');
    const alice = await loggedIn(a, 'alice');
    for (const words of ['1', '2', '3', '4', '5']) await b.sendToPeer(bob, 'alice', textMessage(words));
    // Its client saw only the first: 2 and 3 are gone from the bus.
    expect(await b.resume(alice.key, b.issueToken('alice'), 1)).toEqual(E.left({ _tag: 'NotLoggedIn' }));
    await turns();
    expect(await bus.isOnline('alice')).toBe(false);
    // The client's gap is no fault of the bus: nothing is reported.
    expect(errors).toEqual([]);
    close();
  });

  it('hands a session resumed twice at one hub to the newer handle: the older one completes', async () => {
    const { a, b, close } = cluster();
    const alice = await loggedIn(a, 'alice');
    const first = resumed(await b.resume(alice.key, b.issueToken('alice'), 0));
    const atFirst = follow(first);
    const second = resumed(await b.resume(alice.key, b.issueToken('alice'), 0));
    expect(atFirst.completed()).toBe(true);
    expect(b.isOnline(first)).toBe(false);
    expect(b.isOnline(second)).toBe(true);
    close();
  });
});
