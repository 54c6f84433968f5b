/**
 * Decision 123: a session whose undelivered deliveries the bus no longer keeps ends (`Conflict`, never a
 * gap), and the hub that finds it out tells its monitor (`sessionLost`, the server's
 * `ferry_sessions_lost_total`), so an operator sees a cluster's lagging reads or clients back too late.
 * Two hubs share a `memoryBus` with a replay of 4, as the nodes of a cluster share Redis.
 */
import * as E from 'fp-ts/lib/Either.js';
import { describe, expect, it } from 'vitest';
import { virtualClock } from '../../src/core/clock.js';
import { createHub, memoryBus } from '../../src/index.js';
import { type HubMonitor, silentMonitor } from '../../src/hub/monitor.js';

const SECRET = 'one secret for both hubs';

const right = <T>(either: E.Either<unknown, T>): T => {
  if (E.isLeft(either)) throw new Error(`expected a success, got ${JSON.stringify(either.left)}`);
  return either.right;
};

const cluster = () => {
  const bus = memoryBus({ replayLimit: 4 });
  const clock = virtualClock(Date.now());
  let lost = 0;
  const monitor: HubMonitor = { ...silentMonitor, sessionLost: () => void lost++ };
  const a = createHub({ bus, secret: SECRET, clock });
  const b = createHub({ bus, secret: SECRET, clock, monitor });
  return { a, b, lost: () => lost };
};

describe('a session the bus no longer keeps enough of', () => {
  it('is counted as lost by the hub that resumes it too late, and not when it resumes in time', async () => {
    const { a, b, lost } = cluster();
    const bob = right(await a.login('bob', a.issueToken('bob')));
    const carol = right(await a.login('carol', a.issueToken('carol')));
    const alice = right(await a.login('alice', a.issueToken('alice')));
    for (let i = 0; i < 3; i++) right(await a.sendToPeer(alice, 'carol', { messageType: 'TEXT', text: String(i) }));
    for (let i = 0; i < 6; i++) right(await a.sendToPeer(alice, 'bob', { messageType: 'TEXT', text: String(i) }));
    a.close({ handOver: true });

    // carol has 3 deliveries, all kept: resumed from 0 on b, nothing lost.
    const resumedCarol = await b.resume(carol.key, b.issueToken('carol'), 0);
    expect(E.isRight(resumedCarol) && resumedCarol.right.state).toBe('resumed');
    expect(lost()).toBe(0);
    // bob has 6, of which the bus keeps the last 4: resumed from 0, the first two are gone.
    const resumedBob = await b.resume(bob.key, b.issueToken('bob'), 0);
    expect(E.isLeft(resumedBob) && resumedBob.left._tag).toBe('NotLoggedIn');
    expect(lost()).toBe(1);
    b.close();
  });
});
