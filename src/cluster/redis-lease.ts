/**
 * The sweep lease ({@link SweepLease}) in Redis, for hubs on several nodes: one hash (`<prefix>sweep-lease`)
 * naming the holder and until when it holds, on the hubs' clock. Acquiring (or renewing) and releasing are
 * each one Lua script that compares the holder, so two nodes never both hold it and a node never gives up
 * another's lease. The time is data compared with the caller's clock, never Redis's own; the key's Redis
 * TTL only collects a lease long given up. Decision 91.
 * @module
 */
import type { Redis } from 'ioredis';
import { type Clock, systemClock } from '../core/clock.js';
import type { SweepLease } from '../hub/sweep-lease.js';
import { luaScript, runLua } from './redis-lua.js';

/** Options of {@link redisLease}. */
export interface RedisLeaseOptions {
  /** The connection, shared with the rest of the node; never closed here. @example { redis: new Redis(url) } */
  readonly redis: Redis;
  /** Prefix of the key, when `key` is not given. Default: `'ferry:'`. @example { keyPrefix: 'chat-prod:' } */
  readonly keyPrefix?: string;
  /** The lease's whole key, for another lease than the sweep's. Default: `<keyPrefix>sweep-lease`. @example { key: 'chat-prod:reports-lease' } */
  readonly key?: string;
  /** The hubs' clock: what the lease's end is compared with. Default: the system clock. @example { clock: hub.clock } */
  readonly clock?: Clock;
}

/** How long after its end (on the hubs' clock) Redis may collect a lease nobody renewed: a backstop. */
export const LEASE_GC_MARGIN_MS = 10 * 60_000;

/** KEYS: lease. ARGV: holder, now, until, ttl. 1 if `holder` holds it now. */
const ACQUIRE = luaScript(`
local lease = redis.call('HMGET', KEYS[1], 'holder', 'until')
if lease[1] and lease[1] ~= ARGV[1] and tonumber(lease[2]) > tonumber(ARGV[2]) then return 0 end
redis.call('HSET', KEYS[1], 'holder', ARGV[1], 'until', ARGV[3])
redis.call('PEXPIRE', KEYS[1], ARGV[4])
return 1
`);

/** KEYS: lease. ARGV: holder. 1 if it was `holder`'s and is now free. */
const RELEASE = luaScript(`
if redis.call('HGET', KEYS[1], 'holder') ~= ARGV[1] then return 0 end
redis.call('DEL', KEYS[1])
return 1
`);

/**
 * A lease shared through Redis: held by one holder until its TTL, counted on the callers' clock, runs out
 * without renewal (so across nodes it is as exact as their clocks agree).
 * @example
 * const redis = new Redis('redis://127.0.0.1:6379');
 * createHub({ clock, store, lease: redisLease({ redis, clock }) });
 */
export const redisLease = (options: RedisLeaseOptions): SweepLease => {
  const { redis } = options;
  const key = options.key ?? `${options.keyPrefix ?? 'ferry:'}sweep-lease`;
  const clock = options.clock ?? systemClock;
  return {
    async acquire(holder, ttlMs) {
      const now = clock.now();
      const ttl = Math.max(1, Math.ceil(ttlMs)) + LEASE_GC_MARGIN_MS;
      return (await runLua(redis, ACQUIRE, [key], [holder, String(now), String(now + ttlMs), String(ttl)])) === 1;
    },
    async release(holder) {
      await runLua(redis, RELEASE, [key], [holder]);
    },
  };
};
