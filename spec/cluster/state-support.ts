/**
 * What the Redis state specs share: connections to the shared test Redis (each one a "process"), a key
 * prefix unique to the spec file, and the cleanup of every key under it. Never `FLUSHALL`: others use
 * this Redis at the same time.
 */
import { randomUUID } from 'node:crypto';
import { Redis } from 'ioredis';
import { afterAll } from 'vitest';

/** A spec file's connections and key prefix; everything is closed and deleted after the file. */
export interface RedisScope {
  /** `ferry-test:<uuid>:`, unique to this scope. */
  readonly prefix: string;
  /** A new connection, as a new process would open (closed after the file). */
  connect(): Redis;
}

/** Deletes every key under `prefix` (by `SCAN`, never a flush). */
export const deleteKeys = async (redis: Redis, prefix: string): Promise<number> => {
  let deleted = 0;
  let cursor = '0';
  do {
    const [next, keys] = await redis.scan(cursor, 'MATCH', `${prefix}*`, 'COUNT', 500);
    cursor = next;
    if (keys.length > 0) deleted += await redis.del(...keys);
  } while (cursor !== '0');
  return deleted;
};

/**
 * Opens a scope for one spec file (call at the top of a `describe`).
 * @example const scope = redisScope(redisUrl); const redis = scope.connect();
 */
export const redisScope = (url: string): RedisScope => {
  const prefix = `ferry-test:${randomUUID()}:`;
  const connections: Redis[] = [];
  afterAll(async () => {
    const cleaner = new Redis(url, { maxRetriesPerRequest: 1 });
    try {
      await deleteKeys(cleaner, prefix);
    } finally {
      cleaner.disconnect();
      for (const redis of connections) redis.disconnect();
    }
  });
  return {
    prefix,
    connect() {
      const redis = new Redis(url, { maxRetriesPerRequest: 1 });
      connections.push(redis);
      return redis;
    },
  };
};
