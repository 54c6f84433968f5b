/**
 * {@link UploadStates} in Redis, shared by every node of a cluster: one hash per unfinished upload
 * (`<prefix>upload:<id>`: owner, size, offset, claim holder and its end, expiry), and the compare-and-set
 * of its `{ offset, claim }` as one Lua script, so of two appends racing on two nodes exactly one claims
 * the upload. Expiry is data compared with the hub's clock (passed to each script), never Redis's own:
 * the key's Redis TTL is only a backstop that collects a state some while after it expired. Decision 91.
 * @module
 */
import * as E from 'fp-ts/lib/Either.js';
import * as t from 'io-ts';
import type { Redis } from 'ioredis';
import { type Clock, systemClock } from '../core/clock.js';
import { Failure, fault } from '../core/failure.js';
import { reportErrors } from '../protocol/codec.js';
import type { OffsetWord, UnfinishedUpload, UploadStates } from '../hub/upload-states.js';
import { luaScript, runLua } from './redis-lua.js';

/** Options of {@link redisUploadStates}. */
export interface RedisUploadStatesOptions {
  /** The connection, shared with the rest of the node; never closed here. @example { redis: new Redis(url) } */
  readonly redis: Redis;
  /** Prefix of every key. Default: `'ferry:'`. @example { keyPrefix: 'chat-prod:' } */
  readonly keyPrefix?: string;
  /** The hub's clock: what expiry is compared with. Default: the system clock. @example { clock: hub.clock } */
  readonly clock?: Clock;
}

/** How long after its expiry (on the hub's clock) Redis may collect a state: a backstop, not the expiry. */
export const UPLOAD_STATE_GC_MARGIN_MS = 10 * 60_000;

/** No claim: an empty holder (claim holders are media IDs, never empty). */
const NO_HOLDER = '';

/** KEYS: state. ARGV: now, owner, size, offset, holder, until, expiresAt, ttl. 1 if created. */
const CREATE = luaScript(`
local expiresAt = redis.call('HGET', KEYS[1], 'expiresAt')
if expiresAt and tonumber(expiresAt) > tonumber(ARGV[1]) then return 0 end
redis.call('DEL', KEYS[1])
redis.call('HSET', KEYS[1], 'owner', ARGV[2], 'size', ARGV[3], 'offset', ARGV[4], 'by', ARGV[5], 'until', ARGV[6], 'expiresAt', ARGV[7])
redis.call('PEXPIRE', KEYS[1], ARGV[8])
return 1
`);

/** KEYS: state. ARGV: now, expected offset, expected holder, offset, holder, until, expiresAt, ttl. 1 if set. */
const COMPARE_AND_SET = luaScript(`
local state = redis.call('HMGET', KEYS[1], 'offset', 'by', 'expiresAt')
if not state[3] or tonumber(state[3]) <= tonumber(ARGV[1]) then return 0 end
if tonumber(state[1]) ~= tonumber(ARGV[2]) or state[2] ~= ARGV[3] then return 0 end
redis.call('HSET', KEYS[1], 'offset', ARGV[4], 'by', ARGV[5], 'until', ARGV[6], 'expiresAt', ARGV[7])
redis.call('PEXPIRE', KEYS[1], ARGV[8])
return 1
`);

/** A decimal number as Redis keeps it: a string. */
const decimal = (check: (n: number) => boolean, name: string): t.Type<number, string, unknown> =>
  new t.Type<number, string, unknown>(
    name,
    (u): u is number => typeof u === 'number' && check(u),
    (u, c) => {
      const n = typeof u === 'string' && u.trim() !== '' ? Number(u) : NaN;
      return check(n) ? t.success(n) : t.failure(u, c, `expected ${name}`);
    },
    String,
  );
const Count = decimal((n) => Number.isSafeInteger(n) && n >= 0, 'a byte count');
// Any finite time: a custom clock need not return integers.
const Time = decimal(Number.isFinite, 'a time');
/** A state's hash. */
const StateHash = t.type({ owner: t.string, size: Count, offset: Count, by: t.string, until: Time, expiresAt: Time });

const stringOf = (n: number): string => String(n);

/**
 * Upload states in Redis: hubs on several nodes given the same Redis and prefix share them. A state
 * survives a node's death and Redis's restart (with its append-only file); a claim held by a dead node
 * runs out at its `until` (60 s after its last renewal). If Redis lost a state, the hub rebuilds it from
 * the media store's entry at the next append (as after a restart of `memoryUploadStates`).
 * @example
 * const redis = new Redis('redis://127.0.0.1:6379');
 * createHub({ clock, store, uploads: redisUploadStates({ redis, clock }) });
 */
export const redisUploadStates = (options: RedisUploadStatesOptions): UploadStates => {
  const { redis } = options;
  const prefix = options.keyPrefix ?? 'ferry:';
  const clock = options.clock ?? systemClock;
  const keyOf = (uploadId: string): string => `${prefix}upload:${uploadId}`;
  /** The Redis TTL of a state expiring at `expiresAt` (hub's clock), seen at `now`: its expiry plus a margin. */
  const ttlOf = (expiresAt: number, now: number): string => stringOf(Math.max(1, Math.ceil(expiresAt - now)) + UPLOAD_STATE_GC_MARGIN_MS);
  const holderOf = (word: OffsetWord): string => {
    if (word.claim?.by === NO_HOLDER) throw new RangeError('a claim holder must not be empty');
    return word.claim?.by ?? NO_HOLDER;
  };
  return {
    async get(uploadId) {
      const hash = await redis.hgetall(keyOf(uploadId));
      if (Object.keys(hash).length === 0) return undefined;
      const decoded = StateHash.decode(hash);
      if (E.isLeft(decoded)) throw fault(Failure.unknown(`the state of upload ${uploadId} in Redis is malformed: ${reportErrors(decoded.left)}`));
      const { owner, size, offset, by, until, expiresAt } = decoded.right;
      if (expiresAt <= clock.now()) return undefined;
      const state: UnfinishedUpload = { uploadId, owner, size, offset, claim: by === NO_HOLDER ? null : { by, until }, expiresAt };
      return state;
    },
    async create(state) {
      const now = clock.now();
      const created = await runLua(
        redis,
        CREATE,
        [keyOf(state.uploadId)],
        [
          stringOf(now),
          state.owner,
          stringOf(state.size),
          stringOf(state.offset),
          holderOf(state),
          stringOf(state.claim?.until ?? 0),
          stringOf(state.expiresAt),
          ttlOf(state.expiresAt, now),
        ],
      );
      return created === 1;
    },
    async compareAndSetOffset(uploadId, expected, next) {
      const now = clock.now();
      const set = await runLua(
        redis,
        COMPARE_AND_SET,
        [keyOf(uploadId)],
        [
          stringOf(now),
          stringOf(expected.offset),
          holderOf(expected),
          stringOf(next.offset),
          holderOf(next),
          stringOf(next.claim?.until ?? 0),
          stringOf(next.expiresAt),
          ttlOf(next.expiresAt, now),
        ],
      );
      return set === 1;
    },
    async delete(uploadId) {
      await redis.del(keyOf(uploadId));
    },
  };
};
