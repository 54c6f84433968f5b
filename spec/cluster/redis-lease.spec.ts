/**
 * `redisLease` (decision 91) against the test Redis: the sweep-lease cases `memoryLease` passes, each hub
 * on its own connection (two processes), and that the lease's end is the hubs' clock, not Redis's.
 */
import { describe, expect, it } from 'vitest';
import { virtualClock } from '../../src/index.js';
import { LEASE_GC_MARGIN_MS, redisLease } from '../../src/cluster/redis-lease.js';
import { sweepLeaseCases } from '../rules/sweep-lease-cases.js';
import { describeWithServices } from './services.js';
import { redisScope } from './state-support.js';

describeWithServices('the sweep lease in Redis', ['redis'], ({ redisUrl }) => {
  const scope = redisScope(redisUrl);
  let leases = 0;

  describe('the sweep-lease cases, one connection per hub', () => {
    sweepLeaseCases((clock) => {
      // A fresh lease per case: its own key under the scope's prefix.
      const key = `${scope.prefix}lease-${++leases}`;
      return [redisLease({ redis: scope.connect(), key, clock }), redisLease({ redis: scope.connect(), key, clock })];
    });
  });

  it('of many acquires racing from two connections for a free lease, exactly one holds it', async () => {
    const clock = virtualClock(1_000);
    const [first, second] = [scope.connect(), scope.connect()];
    for (let round = 0; round < 50; round++) {
      const key = `${scope.prefix}race-${round}`;
      const [one, two] = [redisLease({ redis: first, key, clock }), redisLease({ redis: second, key, clock })];
      const held = await Promise.all([one.acquire('one', 1_000), two.acquire('two', 1_000)]);
      expect(held.filter(Boolean)).toHaveLength(1);
    }
  });

  it('keys the sweep lease under the prefix by default, ends it by the hubs\' clock far from real time, and sets a Redis TTL only as a backstop', async () => {
    const redis = scope.connect();
    const start = Date.UTC(1990, 0, 1);
    const clock = virtualClock(start);
    const lease = redisLease({ redis, keyPrefix: scope.prefix, clock });
    expect(await lease.acquire('a', 5_000)).toBe(true);
    expect(await redis.hgetall(`${scope.prefix}sweep-lease`)).toEqual({ holder: 'a', until: String(start + 5_000) });
    const ttl = await redis.pttl(`${scope.prefix}sweep-lease`);
    expect(ttl).toBeGreaterThan(LEASE_GC_MARGIN_MS);
    expect(ttl).toBeLessThanOrEqual(5_000 + LEASE_GC_MARGIN_MS);
    clock.advance(4_999);
    expect(await lease.acquire('b', 5_000)).toBe(false);
    clock.advance(1);
    expect(await lease.acquire('b', 5_000)).toBe(true);
    await lease.release('b');
    expect(await redis.exists(`${scope.prefix}sweep-lease`)).toBe(0);
  });
});
