/**
 * `redisRates` (decision 92) against the test Redis: a user's rates count across hubs on two connections
 * (two processes), on virtual time. The Redis window answers exactly what a model of "at most `limit`
 * events in any window" answers (and `SlidingWindow` does), events taken from both connections; logins
 * and messages through two hubs share one window per user; keys stay bounded and expire only as a backstop.
 */
import fc from 'fast-check';
import * as E from 'fp-ts/lib/Either.js';
import { expect, it } from 'vitest';
import { createHub, type Hub, memoryBus, textMessage, virtualClock } from '../../src/index.js';
import { RATE_GC_MARGIN_MS, redisRates } from '../../src/cluster/redis-rates.js';
import { fcOptions } from '../properties/support.js';
import { describeWithServices } from './services.js';
import { redisScope } from './state-support.js';

describeWithServices('rates in Redis', ['redis'], ({ redisUrl }) => {
  const scope = redisScope(redisUrl);
  const [nodeA, nodeB] = [scope.connect(), scope.connect()];
  let spaces = 0;
  /** A fresh key space, seen by two nodes. */
  const twoViews = () => {
    const keyPrefix = `${scope.prefix}rates-${++spaces}:`;
    return { keyPrefix, a: redisRates({ redis: nodeA, keyPrefix }), b: redisRates({ redis: nodeB, keyPrefix }) };
  };

  it('allows exactly what a model of "at most limit events in any window" allows, events taken on two nodes', async () => {
    const step = fc.oneof(fc.record({ take: fc.nat(1) }), fc.record({ advance: fc.integer({ min: 0, max: 2_000 }) }));
    await fc.assert(
      fc.asyncProperty(fc.integer({ min: 1, max: 8 }), fc.integer({ min: 1, max: 3_000 }), fc.array(step, { minLength: 5, maxLength: 60 }), async (limit, windowMs, steps) => {
        const { a, b } = twoViews();
        const accepted: number[] = [];
        let now = 1_700_000_000_000;
        for (const s of steps) {
          if ('advance' in s) {
            now += s.advance;
            continue;
          }
          const inWindow = accepted.filter((at) => at > now - windowMs);
          const wait = await (s.take === 0 ? a : b).take('messageRate', 'alice', { limit, windowMs }, now);
          if (inWindow.length < limit) {
            expect(wait).toBe(0);
            accepted.push(now);
          } else {
            // Refused, and told exactly when the oldest event in the window leaves it.
            expect(wait).toBe((inWindow[0] as number) + windowMs - now);
          }
        }
      }),
      fcOptions(60),
    );
  }, 60_000);

  it('counts each user and each rate on its own, keeps at most `limit` events per key, and expires a key only as a backstop', async () => {
    const { a, b, keyPrefix } = twoViews();
    const rate = { limit: 3, windowMs: 1_000 };
    for (let i = 0; i < 10; i++) await a.take('joinRate', 'alice', rate, 5_000 + i);
    expect(await b.take('joinRate', 'alice', rate, 5_010)).toBe(990);
    expect(await b.take('joinRate', 'bob', rate, 5_010)).toBe(0);
    expect(await b.take('loginRate', 'alice', rate, 5_010)).toBe(0);
    expect(await nodeA.zcard(`${keyPrefix}rate:joinRate:alice`)).toBe(3);
    const ttl = await nodeA.pttl(`${keyPrefix}rate:joinRate:alice`);
    expect(ttl).toBeGreaterThan(RATE_GC_MARGIN_MS);
    expect(ttl).toBeLessThanOrEqual(1_000 + RATE_GC_MARGIN_MS);
    // A rate that is off costs nothing and keeps nothing.
    expect(await a.take('messageRate', 'alice', { limit: Infinity, windowMs: 1 }, 5_010)).toBe(0);
    expect(await nodeA.exists(`${keyPrefix}rate:messageRate:alice`)).toBe(0);
  });

  it('of events taken at the same moment on two nodes, exactly `limit` are counted', async () => {
    const { a, b } = twoViews();
    const waits = await Promise.all(Array.from({ length: 40 }, (_, i) => (i % 2 ? a : b).take('messageRate', 'alice', { limit: 7, windowMs: 3_000 }, 10_000)));
    expect(waits.filter((wait) => wait === 0)).toHaveLength(7);
    expect(new Set(waits.filter((wait) => wait !== 0))).toEqual(new Set([3_000]));
  });

  it('logins and messages of one user through two hubs share one window: the limits are the cluster\'s, not each hub\'s', async () => {
    const clock = virtualClock(1_000);
    const bus = memoryBus();
    const { keyPrefix } = twoViews();
    const limits = { loginRate: { limit: 2, windowMs: 1_000 }, messageRate: { limit: 5, windowMs: 3_000 } };
    const [a, b] = [nodeA, nodeB].map((redis) => createHub({ clock, bus, limits, secret: 'cluster', rates: redisRates({ redis, keyPrefix }) })) as [Hub, Hub];
    await b.login('bob', b.issueToken('bob'));
    const atA = await a.login('alice', a.issueToken('alice'));
    if (E.isLeft(atA)) throw new Error('login at a failed');
    for (let i = 0; i < 3; i++) expect(E.isRight(await a.sendToPeer(atA.right, 'bob', textMessage(`${i}`)))).toBe(true);
    // Alice moves to hub b: her second login in the second is allowed, a third on either hub is not.
    const atB = await b.login('alice', b.issueToken('alice'));
    if (E.isLeft(atB)) throw new Error('login at b failed');
    expect(await a.login('alice', a.issueToken('alice'))).toMatchObject({ left: { _tag: 'TooOften', limit: 2 } });
    for (let i = 3; i < 5; i++) expect(E.isRight(await b.sendToPeer(atB.right, 'bob', textMessage(`${i}`)))).toBe(true);
    expect(await b.sendToPeer(atB.right, 'bob', textMessage('one too many'))).toMatchObject({ left: { _tag: 'TooOften', limit: 5, retryAfterMs: 3_000 } });
    clock.advance(3_000);
    expect(E.isRight(await b.sendToPeer(atB.right, 'bob', textMessage('later')))).toBe(true);
    a.close();
    b.close();
  });
});
