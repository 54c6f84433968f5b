/**
 * What every Lua script of the Redis message bus shares (`redis-bus-scripts.ts` holds the scripts): the
 * key layout, the arguments each script starts with, and one preamble of Lua helpers — the ledger,
 * deliveries and markers, presence, ending a session, message IDs, kept messages — so each is written
 * once. Decisions 93, 94 and 102.
 *
 * Keys, under the bus's prefix `P`:
 * - `P bus:id`: the last session ID handed out (`INCR`).
 * - `P bus:s:<id>`: a session's hash: `u` user, `o` owner, `q` its last delivery's number, `k` the last
 *   marker number, `r` `1` while its link is up (`0` down), `e` `1` once ended, `z` its last delivery's
 *   fields (JSON) once ended.
 * - `P bus:x:<id>`: a session's stream. Delivery `n` has the ID `n-0`; a marker written after delivery
 *   `n` (the session moved to another owner, or ended) has `n-k` with `k ≥ 1`, so the stream says in
 *   order what a subscriber must know. Trimmed with `MINID` to the last `replayLimit` deliveries.
 * - `P bus:c:<id>`: the channels a session is in (a set). `P bus:ch:<channel>`: a channel's members,
 *   session ID → user ID (a hash). `P bus:u:<user>`: the user's open session.
 * - `P bus:o:<owner>`: the open sessions an owner serves (a set). `P bus:leases`: owner → lease expiry
 *   in ms on the callers' clock (a sorted set).
 * - `P bus:op:<instance>`: the ledger of one bus instance's last changes, so a command ioredis sends
 *   again after a lost reply (a Redis restart, a dropped connection) is answered, not applied twice.
 * - `P bus:w:<instance>`: the doorbell that wakes an instance's blocking read when it follows a new stream.
 * - Message IDs of sender `S`: `P bus:mt:<S>`, each remembered ID scored by the time it is forgotten (a
 *   sorted set), and `P bus:mi:<S>`, ID → the first send's answer (a hash). At most
 *   `MESSAGE_IDS_PER_SENDER`, the soonest forgotten dropped first.
 * - Messages kept for offline receiver `R`: `P bus:in:<R>`, their numbers oldest first (a list, at most
 *   `OFFLINE_MESSAGES_PER_RECEIVER`), and `P bus:ib:<R>`, a hash: `n` the last number, `<k>` message k's
 *   `{x: expiresAt, t: serverReceivedTs, f: sender, i: messageId}` (JSON), `m<k>` its message JSON.
 *   `P bus:h:<S>`: sender S's kept messages that are alive, `<k> <R>` scored by their expiry (a sorted
 *   set): its size, once the expired are dropped, is the sender's count.
 * - Presence: `P bus:wr:<U>`, the sessions watching user U, and `P bus:wd:<id>`, the users session id
 *   watches (sets). A user's status is read from `P bus:u:<U>` and that session's `r`.
 *
 * Expiries are data compared with the caller's time; every `PEXPIRE` of these keys is a garbage-collection
 * backstop a minute ({@link GC_MARGIN_MS}) beyond the last expiry they hold, relative to the caller's time.
 *
 * Every script's arguments start with the same eight (see {@link ScriptContext}); the keys are computed
 * inside the scripts from the prefix, which a single Redis allows (a Redis Cluster would need every key
 * of the bus in one slot: a prefix with a hash tag, such as `ferry:{bus}:`).
 * @module
 */
import { MESSAGE_IDS_PER_SENDER, OFFLINE_MESSAGES_PER_RECEIVER } from '../core/limits.js';

/**
 * Changes remembered per bus instance with their answers: ioredis sends again only the commands in
 * flight when a connection dropped, far fewer than this. An older one sent again is refused, not applied.
 */
export const LEDGER_WINDOW = 2_048;

/** How long an idle instance's ledger outlives its last change (a dead instance's, then, is garbage). */
export const LEDGER_TTL_MS = 3_600_000;

/** How long past the last expiry they hold the keys of kept messages and message IDs are kept by Redis. */
export const GC_MARGIN_MS = 60_000;

/** Expired message IDs forgotten per send, at most: each script stays short; the size bound is exact. */
const FORGET_PER_SEND = 64;

/** The arguments every script takes first, in this order. */
export interface ScriptContext {
  readonly prefix: string;
  /** The bus instance (its ledger). */
  readonly instance: string;
  /** The number of this change in the instance's ledger. */
  readonly op: number;
  readonly replayLimit: number;
  /** The caller's clock, ms. */
  readonly now: number;
  readonly leaseMs: number;
  /** How long an ended session's hash (its last delivery) is kept. */
  readonly endedTtlMs: number;
  /** How long an ended session's stream is kept, for subscribers still reading it. */
  readonly endedStreamMs: number;
}

/** A user's status as the scripts answer it: `O` ONLINE, `U` UNREACHABLE, `F` OFFLINE. */
export const PRESENCE_LETTERS = { O: 'ONLINE', U: 'UNREACHABLE', F: 'OFFLINE' } as const;

/** The context as the first script arguments. */
export const contextArgs = (context: ScriptContext): string[] => [
  context.prefix,
  context.instance,
  String(context.op),
  String(context.replayLimit),
  String(context.now),
  String(context.leaseMs),
  String(context.endedTtlMs),
  String(context.endedStreamMs),
];

/** Helpers every script shares: key names, the ledger, deliveries, markers, presence, ending a session. */
const PREAMBLE = `
local P = ARGV[1]
local LEDGER = P .. 'bus:op:' .. ARGV[2]
local OP = ARGV[3]
local LIMIT = tonumber(ARGV[4])
local NOW = tonumber(ARGV[5])
local LEASE_MS = tonumber(ARGV[6])
local ENDED_MS = tonumber(ARGV[7])
local ENDED_STREAM_MS = tonumber(ARGV[8])
local LEASES = P .. 'bus:leases'
local function int(x) return string.format('%d', x) end
local function skey(id) return P .. 'bus:s:' .. id end
local function xkey(id) return P .. 'bus:x:' .. id end
local function ckey(id) return P .. 'bus:c:' .. id end
local function ukey(user) return P .. 'bus:u:' .. user end
local function chkey(channel) return P .. 'bus:ch:' .. channel end
local function okey(owner) return P .. 'bus:o:' .. owner end
local function wrkey(user) return P .. 'bus:wr:' .. user end
local function wdkey(id) return P .. 'bus:wd:' .. id end

-- The answer this change already had, if it was applied before (a command sent again), or false.
local function replayed()
  local previous = redis.call('HGET', LEDGER, OP)
  if previous then return previous end
  local high = tonumber(redis.call('HGET', LEDGER, 'hi') or '0')
  if tonumber(OP) <= high - ${LEDGER_WINDOW} then
    return redis.error_reply('FERRY_UNKNOWN change ' .. OP .. ' is older than the ledger: it may have been applied')
  end
  return false
end
-- Records this change's answer (a string) and returns it.
local function record(result)
  local n = tonumber(OP)
  local high = tonumber(redis.call('HGET', LEDGER, 'hi') or '0')
  if n > high then high = n end
  redis.call('HSET', LEDGER, OP, result, 'hi', int(high))
  redis.call('HDEL', LEDGER, int(n - ${LEDGER_WINDOW}))
  redis.call('PEXPIRE', LEDGER, ${LEDGER_TTL_MS})
  return result
end

local function isOpen(id)
  local state = redis.call('HMGET', skey(id), 'u', 'e')
  return state[1] ~= false and state[2] ~= '1'
end
-- Appends a delivery (its fields) to an open session's stream; keeps the last LIMIT deliveries.
local function deliver(id, ...)
  local seq = redis.call('HINCRBY', skey(id), 'q', 1)
  local floor = seq - LIMIT + 1
  if floor < 0 then floor = 0 end
  redis.call('XADD', xkey(id), 'MINID', int(floor), int(seq) .. '-0', ...)
  return seq
end
-- Appends a marker after the session's last delivery.
local function mark(id, ...)
  local h = skey(id)
  local seq = redis.call('HGET', h, 'q')
  local k = redis.call('HINCRBY', h, 'k', 1)
  redis.call('XADD', xkey(id), seq .. '-' .. int(k), ...)
end
-- Delivers to every member of a channel but one; returns how many.
local function broadcast(channel, except, ...)
  local n = 0
  for _, member in ipairs(redis.call('HKEYS', chkey(channel))) do
    if member ~= except then
      deliver(member, ...)
      n = n + 1
    end
  end
  return n
end
local function lease(owner)
  redis.call('ZADD', LEASES, 'GT', int(NOW + LEASE_MS), owner)
end
-- Makes Redis keep a key at least ms more (never less than it would): a garbage-collection backstop.
local function keepFor(key, ms)
  if ms < 1 then ms = 1 end
  if redis.call('PTTL', key) < ms then redis.call('PEXPIRE', key, int(ms)) end
end

-- A user's status: 'O' online (its session's link up), 'U' unreachable (link down), 'F' offline.
local function stateOf(user)
  local id = redis.call('GET', ukey(user))
  if not id then return 'F' end
  local state = redis.call('HMGET', skey(id), 'u', 'e', 'r')
  if state[1] == false or state[2] == '1' then return 'F' end
  if state[3] == '0' then return 'U' end
  return 'O'
end
-- Tells the sessions watching the user its status, if it is not 'before' any more.
local function told(user, before)
  local state = stateOf(user)
  if state == before then return end
  for _, watcher in ipairs(redis.call('SMEMBERS', wrkey(user))) do
    if isOpen(watcher) then deliver(watcher, 't', 'v', 'u', user, 'w', state) end
  end
end

-- Ends an open session: it leaves its channels (their members are told), the user and the owner forget
-- it, its watches end, its last delivery is kept in its hash, and the stream says it ended (both then
-- expire); the user's watchers are told if its status changed.
local function finish(id)
  local h = skey(id)
  local state = redis.call('HMGET', h, 'u', 'o', 'q')
  local user, owner, seq = state[1], state[2], state[3]
  local before = stateOf(user)
  for _, channel in ipairs(redis.call('SMEMBERS', ckey(id))) do
    redis.call('HDEL', chkey(channel), id)
    broadcast(channel, id, 't', 'l', 'c', channel, 'f', user, 'n', int(redis.call('HLEN', chkey(channel))))
  end
  redis.call('DEL', ckey(id))
  if redis.call('GET', ukey(user)) == id then redis.call('DEL', ukey(user)) end
  redis.call('SREM', okey(owner), id)
  for _, watched in ipairs(redis.call('SMEMBERS', wdkey(id))) do redis.call('SREM', wrkey(watched), id) end
  redis.call('DEL', wdkey(id))
  if seq ~= '0' then
    local last = redis.call('XRANGE', xkey(id), seq .. '-0', seq .. '-0')
    if #last > 0 then redis.call('HSET', h, 'z', cjson.encode(last[1][2])) end
  end
  mark(id, 't', 'e')
  redis.call('HSET', h, 'e', '1')
  redis.call('PEXPIRE', h, ENDED_MS)
  redis.call('PEXPIRE', xkey(id), math.min(ENDED_STREAM_MS, ENDED_MS))
  told(user, before)
end
local function abort(id, cause, reason)
  deliver(id, 't', 'a', 'x', cause, 'r', reason)
  finish(id)
end

-- Message IDs: the first answer of a sender's ID while remembered at time t, or false.
local function mtkey(user) return P .. 'bus:mt:' .. user end
local function mikey(user) return P .. 'bus:mi:' .. user end
local function recall(user, messageId, t)
  local forgetAt = redis.call('ZSCORE', mtkey(user), messageId)
  if not forgetAt or tonumber(forgetAt) <= t then return false end
  return redis.call('HGET', mikey(user), messageId)
end
-- Remembers a sender's ID with its answer until forgetAt; forgets expired IDs and the soonest beyond the limit.
local function remember(user, messageId, forgetAt, answer, t)
  local times, answers = mtkey(user), mikey(user)
  local expired = redis.call('ZRANGEBYSCORE', times, '-inf', int(t), 'LIMIT', 0, ${FORGET_PER_SEND})
  if #expired > 0 then
    redis.call('ZREM', times, unpack(expired))
    redis.call('HDEL', answers, unpack(expired))
  end
  redis.call('ZADD', times, int(forgetAt), messageId)
  redis.call('HSET', answers, messageId, answer)
  local over = redis.call('ZCARD', times) - ${MESSAGE_IDS_PER_SENDER}
  if over > 0 then
    local oldest = redis.call('ZPOPMIN', times, over)
    for i = 1, #oldest, 2 do redis.call('HDEL', answers, oldest[i]) end
  end
  keepFor(times, forgetAt - t + ${GC_MARGIN_MS})
  keepFor(answers, forgetAt - t + ${GC_MARGIN_MS})
end

-- Offline messages: receiver R's list and box, sender S's held set.
local function inkey(user) return P .. 'bus:in:' .. user end
local function ibkey(user) return P .. 'bus:ib:' .. user end
local function hkey(user) return P .. 'bus:h:' .. user end
-- Drops kept message k of receiver 'to' (its metadata decoded as m) and releases it from its sender's count.
local function drop(to, k, m)
  redis.call('HDEL', ibkey(to), k, 'm' .. k)
  redis.call('ZREM', hkey(m.f), k .. ' ' .. to)
end
-- Keeps a message for offline receiver 'to' at time t; beyond the limit, the expired go, then the oldest.
local function keep(to, from, message, ts, messageId, expiresAt, t)
  local list, box = inkey(to), ibkey(to)
  if redis.call('LLEN', list) >= ${OFFLINE_MESSAGES_PER_RECEIVER} then
    local ks = redis.call('LRANGE', list, 0, -1)
    local live = {}
    for _, k in ipairs(ks) do
      local meta = redis.call('HGET', box, k)
      if meta then
        local m = cjson.decode(meta)
        if tonumber(m.x) > t then live[#live + 1] = k else drop(to, k, m) end
      end
    end
    if #live < #ks then
      redis.call('DEL', list)
      if #live > 0 then redis.call('RPUSH', list, unpack(live)) end
    end
    while redis.call('LLEN', list) >= ${OFFLINE_MESSAGES_PER_RECEIVER} do
      local k = redis.call('LPOP', list)
      local meta = redis.call('HGET', box, k)
      if meta then drop(to, k, cjson.decode(meta)) end
    end
  end
  local k = int(redis.call('HINCRBY', box, 'n', 1))
  redis.call('HSET', box, k, cjson.encode({x = expiresAt, t = ts, f = from, i = messageId}), 'm' .. k, message)
  redis.call('RPUSH', list, k)
  redis.call('ZADD', hkey(from), expiresAt, k .. ' ' .. to)
  local ms = tonumber(expiresAt) - t + ${GC_MARGIN_MS}
  keepFor(list, ms)
  keepFor(box, ms)
  keepFor(hkey(from), ms)
end
-- Delivers to session id the oldest of its user's kept messages unexpired at time t, in the order sent,
-- at most maxMessages and, after the first, maxBytes of message JSON; forgets what it took (and the
-- expired before them). Answers how many unexpired are left.
local function takeKept(id, user, t, maxMessages, maxBytes)
  local list, box = inkey(user), ibkey(user)
  local delivered, bytes = 0, 0
  while true do
    local k = redis.call('LINDEX', list, 0)
    if not k then break end
    local meta = redis.call('HGET', box, k)
    if meta then
      local m = cjson.decode(meta)
      if tonumber(m.x) > t then
        local message = redis.call('HGET', box, 'm' .. k)
        if delivered >= maxMessages or (delivered > 0 and bytes + #message > maxBytes) then break end
        delivered = delivered + 1
        bytes = bytes + #message
        deliver(id, 't', 'p', 'f', m.f, 'm', message, 's', m.t, 'i', m.i, 'o', '1')
      end
      drop(user, k, m)
    end
    redis.call('LPOP', list)
  end
  local left = 0
  for _, k in ipairs(redis.call('LRANGE', list, 0, -1)) do
    local meta = redis.call('HGET', box, k)
    if meta and tonumber(cjson.decode(meta).x) > t then left = left + 1 end
  end
  if redis.call('LLEN', list) == 0 then redis.call('DEL', list, box) end
  return left
end
`;

/** A script: the preamble, then `body`. */
export const script = (body: string): string => `${PREAMBLE}\n${body}`;

/** The same ledgered change's guard, first in each changing script. */
export const LEDGERED = `local cached = replayed()\nif cached then return cached end`;
