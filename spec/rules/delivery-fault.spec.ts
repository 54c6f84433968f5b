/**
 * The in-process bus hands each session's deliveries straight to the hub that serves it, with no RxJS
 * subscriber between (`MessageBus.follow`, decision 134). What a session's reader throws is then a bug of
 * ours that must stay that session's: it goes to `onBusError`, the sender's call succeeds, the channel's
 * other members get the message, and the session's next deliveries still come.
 */
import * as E from 'fp-ts/lib/Either.js';
import { describe, expect, it } from 'vitest';
import { virtualClock } from '../../src/core/clock.js';
import { textMessage } from '../../src/core/messages.js';
import { createHub, type Hub, type HubSession } from '../../src/hub/hub.js';
import type { Delivery } from '../../src/hub/message-bus.js';

const loggedIn = async (hub: Hub, userId: string): Promise<HubSession> => {
  const session = await hub.login(userId, hub.issueToken(userId, 3_600_000));
  if (E.isLeft(session)) throw new Error(`login of ${userId} failed: ${session.left._tag}`);
  return session.right;
};

const texts = (deliveries: readonly Delivery[]): unknown[] =>
  deliveries.map(({ event }) => (event.type === 'channelMessage' || event.type === 'peerMessage' ? (event.message as { text?: string }).text : event.type));

describe('a reader of a session that throws on a delivery', () => {
  it('is reported to onBusError; the sender, the other members and its own later deliveries are not affected', async () => {
    const faults: unknown[] = [];
    const hub = createHub({ clock: virtualClock(Date.UTC(2026, 0, 1)), onBusError: (error) => faults.push(error) });
    try {
      const [alice, bob, carol] = [await loggedIn(hub, 'alice'), await loggedIn(hub, 'bob'), await loggedIn(hub, 'carol')];
      const toBob: Delivery[] = [];
      const toCarol: Delivery[] = [];
      const bug = new Error('a reader of ours is broken');
      let broken = true;
      bob.follow({
        next: (delivery) => {
          if (broken && delivery.event.type === 'channelMessage') throw bug;
          toBob.push(delivery);
        },
        complete: () => undefined,
      });
      carol.follow({ next: (delivery) => toCarol.push(delivery), complete: () => undefined });
      for (const session of [alice, bob, carol]) expect(E.isRight(await hub.joinChannel(session, 'room'))).toBe(true);
      // Bob's reader throws on this one: alice's send succeeds, and carol still gets it.
      expect(E.isRight(await hub.sendToChannel(alice, 'room', textMessage('first')))).toBe(true);
      expect(faults).toEqual([bug]);
      broken = false;
      expect(E.isRight(await hub.sendToChannel(alice, 'room', textMessage('second')))).toBe(true);
      expect(texts(toCarol).filter((text) => text === 'first' || text === 'second')).toEqual(['first', 'second']);
      expect(texts(toBob).filter((text) => text === 'first' || text === 'second')).toEqual(['second']);
      expect(hub.isOnline(bob)).toBe(true);
    } finally {
      hub.close();
    }
  });
});
