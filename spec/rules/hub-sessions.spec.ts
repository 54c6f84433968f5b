/**
 * The hub's sessions over an asynchronous bus (found by review after the hub's seams were made async):
 * a login takes turns, and nothing delivered in them may be lost; a closing hub leaves nobody online.
 */
import * as E from 'fp-ts/lib/Either.js';
import { describe, expect, it } from 'vitest';
import { virtualClock } from '../../src/core/clock.js';
import { createHub } from '../../src/hub/hub.js';
import { memoryBus } from '../../src/hub/message-bus.js';

const text = { messageType: 'TEXT', text: 'hi' } as const;
const turns = async (n: number): Promise<void> => {
  for (let i = 0; i < n; i++) await Promise.resolve();
};

describe('the hub sessions of an asynchronous bus', () => {
  it('hand what was delivered while a login was still being answered to the session consumer', async () => {
    for (let depth = 0; depth < 12; depth++) {
      const hub = createHub({ bus: memoryBus() });
      const alice = await hub.login('alice', hub.issueToken('alice'));
      if (E.isLeft(alice)) throw new Error('login failed');
      const seen: string[] = [];
      const loggingIn = hub.login('bob', hub.issueToken('bob')).then((bob) => {
        if (E.isRight(bob)) bob.right.events$.subscribe((event) => seen.push(event.type));
      });
      const sending = turns(depth).then(() => hub.sendToPeer(alice.right, 'bob', text));
      await loggingIn;
      const sent = await sending;
      // Either the peer was not online yet (refused), or the message reaches bob: never acknowledged and lost.
      expect(E.isRight(sent) ? seen : ['refused']).toEqual(E.isRight(sent) ? ['peerMessage'] : ['refused']);
      hub.close();
    }
  });

  it('tell a session replaced in the same turn why it ended (REMOTE_LOGIN), then end it', async () => {
    const hub = createHub({ bus: memoryBus() });
    const [first, second] = await Promise.all([hub.login('dana', hub.issueToken('dana')), hub.login('dana', hub.issueToken('dana'))]);
    if (E.isLeft(first) || E.isLeft(second)) throw new Error('login failed');
    const heard: string[] = [];
    first.right.events$.subscribe({ next: (event) => heard.push(event.type === 'aborted' ? `aborted ${event.cause}` : event.type), complete: () => heard.push('complete') });
    await turns(5);
    expect(heard).toEqual(['aborted REMOTE_LOGIN', 'complete']);
    expect(hub.isOnline(second.right)).toBe(true);
    hub.close();
  });

  it('end their sessions on the bus when the hub closes: a hub sharing the bus no longer sees them online', async () => {
    const clock = virtualClock(1_000_000);
    const bus = memoryBus();
    const secret = 'shared-secret-shared-secret-1234';
    const a = createHub({ bus, clock, secret });
    const b = createHub({ bus, clock, secret });
    const bob = await a.login('bob', a.issueToken('bob', 60_000));
    const carol = await b.login('carol', b.issueToken('carol', 86_400_000));
    if (E.isLeft(bob) || E.isLeft(carol)) throw new Error('login failed');
    expect(await bus.isOnline('bob')).toBe(true);
    a.close();
    await turns(5);
    expect(await bus.isOnline('bob')).toBe(false);
    expect(await b.sendToPeer(carol.right, 'bob', text)).toMatchObject({ _tag: 'Left', left: { _tag: 'PeerUnreachable' } });
    b.close();
  });
});
