/**
 * The usage ledger ({@link Usage}) in Redis, shared by every node of a cluster, so a user's quotas
 * (stored bytes, unfinished uploads) count across the cluster. Keys: `<prefix>usage:bytes` and
 * `<prefix>usage:unfinished` (hashes by user), `<prefix>usage:unfinished-bytes` (everyone's declared
 * unfinished bytes) and `<prefix>usage:built` (the mark that the ledger counts the store). Checking the
 * quotas and reserving an upload is one Lua script. The ledger persists with Redis: no node lists the
 * store when it starts. If Redis lost it (the mark is gone), the first node to notice rebuilds it from the
 * store's listing; `rebuild()` does so on demand. Decision 92.
 * @module
 */
import { randomUUID } from 'node:crypto';
import type { ChainableCommander, Redis } from 'ioredis';
import { Failure, fault } from '../core/failure.js';
import type { MediaStore } from '../hub/media-store.js';
import type { Holdings, Reservation, Usage } from '../hub/usage.js';
import { luaScript, runLua } from './redis-lua.js';

/** Options of {@link redisUsage}. */
export interface RedisUsageOptions {
  /** The connection, shared with the rest of the node; never closed here. @example { redis: new Redis(url) } */
  readonly redis: Redis;
  /** The media store the cluster shares: what a rebuild counts. @example { store: s3Store } */
  readonly store: MediaStore;
  /** Prefix of every key. Default: `'ferry:'`. @example { keyPrefix: 'chat-prod:' } */
  readonly keyPrefix?: string;
}

/** A usage ledger in Redis. */
export interface RedisUsage extends Usage {
  /**
   * Recounts the ledger from the store's listing and replaces it in one step, whatever it held: for an
   * operator who knows it drifted (a failure was reported through `onStateError`). Exact when nothing
   * is created, completed or deleted during the listing; an entry that changes meanwhile may be counted
   * as it was until the next rebuild.
   */
  rebuild(): Promise<void>;
}

/** Fields per `HSET` of a rebuild: bounded commands, however many users the store has. */
const REBUILD_BATCH = 1_000;
/** How long a rebuild's staging keys outlive a rebuilder that died before committing them. */
const STAGING_TTL_MS = 60 * 60_000;

// Each script answers 'unbuilt' (changing nothing) when the ledger is not built: Redis lost it.
// Counts that would go below zero (a change racing with a rebuild's listing) stop at zero.

/** KEYS: built, bytes, unfinished, unfinished bytes. ARGV: user, size, max unfinished, max bytes. */
const RESERVE = luaScript(`
if redis.call('EXISTS', KEYS[1]) == 0 then return {'unbuilt'} end
local bytes = tonumber(redis.call('HGET', KEYS[2], ARGV[1]) or '0')
local unfinished = tonumber(redis.call('HGET', KEYS[3], ARGV[1]) or '0')
if unfinished >= tonumber(ARGV[3]) then return {'unfinishedUploads', bytes, unfinished} end
if bytes + tonumber(ARGV[2]) > tonumber(ARGV[4]) then return {'storedBytes', bytes, unfinished} end
redis.call('HINCRBY', KEYS[2], ARGV[1], ARGV[2])
redis.call('HINCRBY', KEYS[3], ARGV[1], 1)
return {'reserved', redis.call('INCRBY', KEYS[4], ARGV[2])}
`);

/** A Lua helper: adds `by` to a user's field, forgetting it at zero (or below). */
const ADD = `
local function add(hash, user, by)
  if by == 0 then return end
  if redis.call('HINCRBY', hash, user, by) <= 0 then redis.call('HDEL', hash, user) end
end
local function addTotal(key, by)
  if redis.call('INCRBY', key, by) < 0 then redis.call('SET', key, 0) end
end
`;

/** KEYS: built, bytes, unfinished, unfinished bytes. ARGV: user, bytes, unfinished, unfinished bytes (changes). */
const CHANGE = luaScript(`${ADD}
if redis.call('EXISTS', KEYS[1]) == 0 then return 'unbuilt' end
add(KEYS[2], ARGV[1], tonumber(ARGV[2]))
add(KEYS[3], ARGV[1], tonumber(ARGV[3]))
addTotal(KEYS[4], tonumber(ARGV[4]))
return 'ok'
`);

/**
 * KEYS: built, bytes, unfinished, unfinished bytes, then their three staging keys. ARGV: the mark, '1' to
 * replace a built ledger. Moves the staging keys in unless the ledger is built (by another node's
 * rebuild) and not to be replaced; 1 if it did.
 */
const COMMIT = luaScript(`
if redis.call('EXISTS', KEYS[1]) == 1 and ARGV[2] ~= '1' then
  redis.call('DEL', KEYS[5], KEYS[6], KEYS[7])
  return 0
end
redis.call('DEL', KEYS[2], KEYS[3], KEYS[4])
for i = 2, 4 do
  if redis.call('EXISTS', KEYS[i + 3]) == 1 then
    redis.call('RENAME', KEYS[i + 3], KEYS[i])
    redis.call('PERSIST', KEYS[i])
  end
end
redis.call('SET', KEYS[1], ARGV[1])
return 1
`);

const count = (value: unknown): number => {
  const n = typeof value === 'number' ? value : typeof value === 'string' ? Number(value) : NaN;
  if (!(Number.isSafeInteger(n) && n >= 0)) throw fault(Failure.unknown(`the usage ledger in Redis holds ${String(value).slice(0, 64)}, not a count`));
  return n;
};

/** Runs a `MULTI` and resolves with its replies; rejects with the first command's error (ioredis lists them instead). */
const transaction = async (multi: ChainableCommander): Promise<unknown[]> => {
  const replies = await multi.exec();
  if (!replies) throw fault(Failure.unknown('a Redis transaction was aborted'));
  return replies.map(([error, reply]) => {
    if (error) throw error;
    return reply;
  });
};

/**
 * A usage ledger in Redis over the cluster's shared `store`: hubs on several nodes given the same Redis
 * and prefix enforce each user's quotas on what the whole cluster holds.
 * @example
 * const redis = new Redis('redis://127.0.0.1:6379');
 * createHub({ store, usage: redisUsage({ redis, store }) });
 */
export const redisUsage = (options: RedisUsageOptions): RedisUsage => {
  const { redis, store } = options;
  const prefix = `${options.keyPrefix ?? 'ferry:'}usage:`;
  const keys = [`${prefix}built`, `${prefix}bytes`, `${prefix}unfinished`, `${prefix}unfinished-bytes`] as const;

  /** Counts the store into staging keys, then moves them in (unless another node built the ledger first and `replace` is false). */
  const build = async (replace: boolean): Promise<void> => {
    const staging = `${prefix}staging:${randomUUID()}:`;
    const stagingKeys = [`${staging}bytes`, `${staging}unfinished`, `${staging}unfinished-bytes`] as const;
    const byUser = new Map<string, { bytes: number; unfinished: number }>();
    let unfinishedBytes = 0;
    for await (const { meta, state } of store.list()) {
      const held = byUser.get(meta.uploader) ?? { bytes: 0, unfinished: 0 };
      held.bytes += meta.size;
      if (state === 'partial') {
        held.unfinished++;
        unfinishedBytes += meta.size;
      }
      byUser.set(meta.uploader, held);
    }
    try {
      const users = [...byUser];
      for (let i = 0; i < users.length; i += REBUILD_BATCH) {
        const batch = users.slice(i, i + REBUILD_BATCH);
        const unfinished = batch.filter(([, held]) => held.unfinished > 0);
        const writes = redis.multi().hset(stagingKeys[0], ...batch.flatMap(([user, held]) => [user, String(held.bytes)]));
        if (unfinished.length > 0) writes.hset(stagingKeys[1], ...unfinished.flatMap(([user, held]) => [user, String(held.unfinished)]));
        await transaction(writes.pexpire(stagingKeys[0], STAGING_TTL_MS).pexpire(stagingKeys[1], STAGING_TTL_MS));
      }
      await redis.set(stagingKeys[2], String(unfinishedBytes), 'PX', STAGING_TTL_MS);
      await runLua(redis, COMMIT, [...keys, ...stagingKeys], [new Date().toISOString(), replace ? '1' : '0']);
    } catch (error) {
      await redis.del(...stagingKeys).catch(() => undefined);
      throw error;
    }
  };

  let built: Promise<void> | undefined;
  /** Builds the ledger if Redis does not hold one; shared by the calls of this process that need it at once. */
  const ensureBuilt = (): Promise<void> => {
    built ??= (async () => {
      if ((await redis.exists(keys[0])) === 0) await build(false);
    })().finally(() => {
      built = undefined;
    });
    return built;
  };
  let known = false;

  /** Tells the ledger of a change made in the store; if the ledger is gone, the rebuild counts the change. */
  const change = async (user: string, bytes: number, unfinished: number, unfinishedBytes: number): Promise<void> => {
    const reply = await runLua(redis, CHANGE, [...keys], [user, String(bytes), String(unfinished), String(unfinishedBytes)]);
    if (reply === 'unbuilt') await ensureBuilt();
  };

  const reserveOnce = async (user: string, size: number, quota: { unfinishedUploads: number; storedBytes: number }): Promise<Reservation | 'unbuilt'> => {
    const reply = await runLua(redis, RESERVE, [...keys], [user, String(size), String(quota.unfinishedUploads), String(quota.storedBytes)]);
    if (!Array.isArray(reply)) throw fault(Failure.unknown('the usage ledger in Redis answered a reservation with no list'));
    const [outcome, a, b] = reply as unknown[];
    switch (outcome) {
      case 'unbuilt':
        return 'unbuilt';
      case 'reserved':
        return { reserved: true, unfinishedBytes: count(a) };
      case 'unfinishedUploads':
      case 'storedBytes':
        return { reserved: false, over: outcome, held: { bytes: count(a), unfinished: count(b) } };
      default:
        throw fault(Failure.unknown(`the usage ledger in Redis answered a reservation with ${String(outcome).slice(0, 64)}`));
    }
  };

  return {
    async ready() {
      // Once per process: later losses are seen by the scripts, which answer 'unbuilt'.
      if (known) return;
      await ensureBuilt();
      known = true;
    },
    async of(user): Promise<Holdings> {
      // One transaction: both counts as of one moment.
      const [bytes, unfinished] = await transaction(redis.multi().hget(keys[1], user).hget(keys[2], user));
      return { bytes: count(bytes ?? '0'), unfinished: count(unfinished ?? '0') };
    },
    async reserve(user, size, quota) {
      const first = await reserveOnce(user, size, quota);
      if (first !== 'unbuilt') return first;
      await ensureBuilt();
      const second = await reserveOnce(user, size, quota);
      if (second === 'unbuilt') throw fault(Failure.unknown('the usage ledger in Redis was lost again while it was rebuilt'));
      return second;
    },
    completed: (user, size) => change(user, 0, -1, -size),
    released: (user, size, state) => (state === 'partial' ? change(user, -size, -1, -size) : change(user, -size, 0, 0)),
    rebuild: () => build(true),
  };
};
