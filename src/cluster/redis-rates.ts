/**
 * {@link Rates} in Redis: a user's messages, logins and joins counted across every node of a cluster. Each
 * rate of each user is a sorted set (`<prefix>rate:<name>:<user>`) of the times of its events in the
 * window, scored by the hub's clock; one Lua script drops the events that left the window, counts the
 * rest and adds the new one only if fewer than the limit remain. Exact (the sliding window of
 * `SlidingWindow`, not a fixed-window approximation that lets twice the limit through across a window's
 * edge) and bounded (at most `limit` members per user and rate, at most 100,000 by `resolveHubLimits`).
 * Decision 92.
 * @module
 */
import { randomUUID } from 'node:crypto';
import type { Redis } from 'ioredis';
import type { RateName, Rates } from '../hub/hub-limits.js';
import { Failure, fault } from '../core/failure.js';
import { luaScript, runLua } from './redis-lua.js';

/** Options of {@link redisRates}. */
export interface RedisRatesOptions {
  /** The connection, shared with the rest of the node; never closed here. @example { redis: new Redis(url) } */
  readonly redis: Redis;
  /** Prefix of every key. Default: `'ferry:'`. @example { keyPrefix: 'chat-prod:' } */
  readonly keyPrefix?: string;
}

/** How long after its window a user's idle rate stays in Redis: a backstop, the window is on the hub's clock. */
export const RATE_GC_MARGIN_MS = 60_000;

/**
 * KEYS: the user's rate. ARGV: now, now - window, window, limit, member, ttl. Resolves '0' if counted,
 * else the ms until an event is allowed (as a string: the hub's clock need not count whole ms).
 */
const TAKE = luaScript(`
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', ARGV[2])
local count = redis.call('ZCARD', KEYS[1])
local limit = tonumber(ARGV[4])
if count < limit then
  redis.call('ZADD', KEYS[1], ARGV[1], ARGV[5])
  redis.call('PEXPIRE', KEYS[1], ARGV[6])
  return '0'
end
local oldest = redis.call('ZRANGE', KEYS[1], count - limit, count - limit, 'WITHSCORES')
local wait = tonumber(oldest[2]) + tonumber(ARGV[3]) - tonumber(ARGV[1])
if wait < 1 then wait = 1 end
return tostring(wait)
`);

/**
 * Rates shared through Redis: hubs on several nodes given the same Redis and prefix allow a user
 * `limit` events per window in total. Each node passes its own clock's time, so across nodes the window
 * is as exact as their clocks agree.
 * @example
 * const redis = new Redis('redis://127.0.0.1:6379');
 * createHub({ rates: redisRates({ redis }) });
 */
export const redisRates = (options: RedisRatesOptions): Rates => {
  const { redis } = options;
  const prefix = options.keyPrefix ?? 'ferry:';
  // Members must be unique per event: this process's ID and a count.
  const origin = randomUUID();
  let events = 0;
  return {
    async take(name: RateName, user: string, rate, now) {
      if (rate.limit === Infinity) return 0;
      const member = `${origin}:${++events}`;
      const ttl = Math.ceil(rate.windowMs) + RATE_GC_MARGIN_MS;
      const reply = await runLua(
        redis,
        TAKE,
        [`${prefix}rate:${name}:${user}`],
        [String(now), String(now - rate.windowMs), String(rate.windowMs), String(rate.limit), member, String(ttl)],
      );
      const wait = typeof reply === 'string' ? Number(reply) : NaN;
      if (!(Number.isFinite(wait) && wait >= 0)) throw fault(Failure.unknown(`Redis answered a rate with ${String(reply).slice(0, 64)}`));
      return wait;
    },
  };
};
