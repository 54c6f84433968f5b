/**
 * The Lua scripts of the Redis message bus: every change to the bus's state is one script, so what the
 * contract says is atomic (one session per user, the channel limit, a channel message reaching exactly the
 * members of the moment, a node's session reaped once, a message ID answered once, a user's kept messages
 * delivered as its session opens, a watch within its limit) is atomic in Redis. Decisions 93, 94 and 102.
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
-- Delivers the user's kept messages unexpired at NOW to its session, in the order sent, and forgets them.
local function deliverKept(id, user)
  local list, box = inkey(user), ibkey(user)
  for _, k in ipairs(redis.call('LRANGE', list, 0, -1)) do
    local meta = redis.call('HGET', box, k)
    if meta then
      local m = cjson.decode(meta)
      redis.call('ZREM', hkey(m.f), k .. ' ' .. user)
      if tonumber(m.x) > NOW then
        deliver(id, 't', 'p', 'f', m.f, 'm', redis.call('HGET', box, 'm' .. k), 's', m.t, 'i', m.i, 'o', '1')
      end
    end
  end
  redis.call('DEL', list, box)
end
`;

const script = (body: string): string => `${PREAMBLE}\n${body}`;

/** The same ledgered change's guard, first in each changing script. */
const LEDGERED = `local cached = replayed()\nif cached then return cached end`;

/**
 * ARGV 9.. = user, owner, reason. Replaces the user's open session (its watchers hear only of the new
 * session's status), delivers the user's kept messages to the new one before anything else can reach it,
 * and tells the user's watchers if its status changed. Answers the new session's ID.
 */
export const OPEN = script(`${LEDGERED}
local user, owner = ARGV[9], ARGV[10]
local before = stateOf(user)
local previous = redis.call('GET', ukey(user))
if previous and isOpen(previous) then
  redis.call('DEL', ukey(user))
  abort(previous, 'REMOTE_LOGIN', ARGV[11])
end
local id = int(redis.call('INCR', P .. 'bus:id'))
redis.call('HSET', skey(id), 'u', user, 'o', owner, 'q', '0', 'k', '0', 'r', '1')
redis.call('SET', ukey(user), id)
redis.call('SADD', okey(owner), id)
lease(owner)
deliverKept(id, user)
told(user, before)
return record(id)`);

/** ARGV 9.. = session, user, owner. Moves an open session of the user to the owner: '1', else '0'. */
export const RESUME = script(`${LEDGERED}
local id, user, owner = ARGV[9], ARGV[10], ARGV[11]
local state = redis.call('HMGET', skey(id), 'u', 'e', 'o')
if state[1] ~= user or state[2] == '1' then return record('0') end
if state[3] ~= owner then
  redis.call('HSET', skey(id), 'o', owner)
  redis.call('SREM', okey(state[3]), id)
  redis.call('SADD', okey(owner), id)
  mark(id, 't', 'o', 'o', owner)
end
lease(owner)
return record('1')`);

/** ARGV 9.. = session, '1' if an owner is given, the owner. Ends the session: '1', else '0'. */
export const CLOSE = script(`${LEDGERED}
local id = ARGV[9]
if not isOpen(id) then return record('0') end
if ARGV[10] == '1' and redis.call('HGET', skey(id), 'o') ~= ARGV[11] then return record('0') end
finish(id)
return record('1')`);

/** ARGV 9.. = session, cause, reason. Tells the session `aborted`, then ends it: '1', else '0'. */
export const ABORT = script(`${LEDGERED}
local id = ARGV[9]
if not isOpen(id) then return record('0') end
abort(id, ARGV[10], ARGV[11])
return record('1')`);

/**
 * ARGV 9.. = sender, user, message JSON, serverReceivedTs, messageId, rememberMs, '1' to keep it for an
 * offline user else '0', expiresAt, perSender. The first answer of a message ID the sender used within its
 * window, else: `d <ts>` delivered to the user's open session; with no session, `c <ts>` kept for it (the
 * expired of the sender's no longer counting), `f` not kept as the sender has `perSender` kept, `u` not
 * kept. `d` and `c` are remembered with the ID until serverReceivedTs + rememberMs.
 */
export const TO_USER = script(`${LEDGERED}
local from, to, message, ts, messageId = ARGV[9], ARGV[10], ARGV[11], ARGV[12], ARGV[13]
local t = tonumber(ts)
local first = recall(from, messageId, t)
if first then return record(first) end
local id = redis.call('GET', ukey(to))
local answer
if id and isOpen(id) then
  deliver(id, 't', 'p', 'f', from, 'm', message, 's', ts, 'i', messageId)
  answer = 'd ' .. ts
else
  if ARGV[15] ~= '1' then return record('u') end
  local held = hkey(from)
  redis.call('ZREMRANGEBYSCORE', held, '-inf', ts)
  if redis.call('ZCARD', held) >= tonumber(ARGV[17]) then return record('f') end
  keep(to, from, message, ts, messageId, ARGV[16], t)
  answer = 'c ' .. ts
end
remember(from, messageId, t + tonumber(ARGV[14]), answer, t)
return record(answer)`);

/**
 * ARGV 9.. = sender's session, channel, message JSON, serverReceivedTs, messageId, rememberMs. The
 * membership check and every other member's delivery at once: `r <receivers> <ts>` (the first answer of a
 * message ID its user used within its window, which delivers nothing), or '-1' when the sender is not in
 * the channel.
 */
export const TO_CHANNEL = script(`${LEDGERED}
local from, channel, ts, messageId = ARGV[9], ARGV[10], ARGV[12], ARGV[13]
if redis.call('SISMEMBER', ckey(from), channel) == 0 then return record('-1') end
local user = redis.call('HGET', skey(from), 'u')
local t = tonumber(ts)
local first = recall(user, messageId, t)
if first then return record(first) end
local n = broadcast(channel, from, 't', 'c', 'c', channel, 'f', user, 'm', ARGV[11], 's', ts, 'i', messageId)
local answer = 'r ' .. int(n) .. ' ' .. ts
remember(user, messageId, t + tonumber(ARGV[14]), answer, t)
return record(answer)`);

/** ARGV 9.. = session, channel, maxChannels. A `JoinOutcome`; the others are told the new member count. */
export const JOIN = script(`${LEDGERED}
local id, channel = ARGV[9], ARGV[10]
if not isOpen(id) then return record('closed') end
if redis.call('SISMEMBER', ckey(id), channel) == 1 then return record('member') end
if redis.call('SCARD', ckey(id)) >= tonumber(ARGV[11]) then return record('full') end
local user = redis.call('HGET', skey(id), 'u')
broadcast(channel, id, 't', 'j', 'c', channel, 'f', user, 'n', int(redis.call('HLEN', chkey(channel)) + 1))
redis.call('HSET', chkey(channel), id, user)
redis.call('SADD', ckey(id), channel)
return record('joined')`);

/** ARGV 9.. = session, channel. '1' if it was in the channel (the others are told it left, and the count). */
export const LEAVE = script(`${LEDGERED}
local id, channel = ARGV[9], ARGV[10]
if redis.call('SREM', ckey(id), channel) == 0 then return record('0') end
redis.call('HDEL', chkey(channel), id)
local user = redis.call('HGET', skey(id), 'u')
broadcast(channel, id, 't', 'l', 'c', channel, 'f', user, 'n', int(redis.call('HLEN', chkey(channel))))
return record('1')`);

/**
 * ARGV 9.. = session, '1' (link up) or '0' (down). Records it for an open session and tells the user's
 * watchers if its status changed: '1', else '0' (not open, or no change).
 */
export const SET_REACHABLE = script(`${LEDGERED}
local id, reachable = ARGV[9], ARGV[10]
if not isOpen(id) then return record('0') end
local h = skey(id)
if (redis.call('HGET', h, 'r') or '1') == reachable then return record('0') end
local user = redis.call('HGET', h, 'u')
local before = stateOf(user)
redis.call('HSET', h, 'r', reachable)
told(user, before)
return record('1')`);

/**
 * ARGV 9.. = session, max, users. Adds the users the session does not watch yet unless it would then watch
 * more than max (checked and changed at once), then delivers each given user's status, in the order given
 * (each once): a `WatchOutcome`.
 */
export const WATCH = script(`${LEDGERED}
local id, max = ARGV[9], tonumber(ARGV[10])
if not isOpen(id) then return record('closed') end
local mine = wdkey(id)
local seen, given, adding = {}, {}, {}
for i = 11, #ARGV do
  local user = ARGV[i]
  if not seen[user] then
    seen[user] = true
    given[#given + 1] = user
    if redis.call('SISMEMBER', mine, user) == 0 then adding[#adding + 1] = user end
  end
end
if redis.call('SCARD', mine) + #adding > max then return record('full') end
for _, user in ipairs(adding) do
  redis.call('SADD', mine, user)
  redis.call('SADD', wrkey(user), id)
end
for _, user in ipairs(given) do deliver(id, 't', 'v', 'u', user, 'w', stateOf(user)) end
return record('watching')`);

/** ARGV 9.. = session, users. Stops the session watching them (those it did not watch are ignored). */
export const UNWATCH = script(`${LEDGERED}
local id = ARGV[9]
local mine = wdkey(id)
for i = 10, #ARGV do
  if redis.call('SREM', mine, ARGV[i]) == 1 then redis.call('SREM', wrkey(ARGV[i]), id) end
end
return record('1')`);

/** ARGV 9.. = users. Each one's status letter ({@link PRESENCE_LETTERS}), in the order asked. */
export const PRESENCE = script(`
local states = {}
for i = 9, #ARGV do states[#states + 1] = stateOf(ARGV[i]) end
return states`);

/** ARGV 9.. = channels. How many sessions are in each, in the order asked. */
export const MEMBER_COUNTS = script(`
local counts = {}
for i = 9, #ARGV do counts[#counts + 1] = redis.call('HLEN', chkey(ARGV[i])) end
return counts`);

/** ARGV 9 = session. Its channels, or nil when it is not open. */
export const CHANNELS = script(`
local id = ARGV[9]
if not isOpen(id) then return false end
return redis.call('SMEMBERS', ckey(id))`);

/** ARGV 9.. = session, channel. The channel's user IDs, or nil when the session is not in it. */
export const MEMBERS = script(`
local id, channel = ARGV[9], ARGV[10]
if redis.call('SISMEMBER', ckey(id), channel) == 0 then return false end
return redis.call('HVALS', chkey(channel))`);

/**
 * ARGV 9 = session. What a new subscriber needs, at one moment: `{0}` for a session the bus does not
 * know, else `{1 open | 2 ended, owner, last delivery number, the stream's last ID, its first ID or '',
 * the kept last delivery's fields (JSON) or nil}`.
 */
export const SNAPSHOT = script(`
local id = ARGV[9]
local state = redis.call('HMGET', skey(id), 'u', 'o', 'q', 'e', 'z')
if not state[1] then return {0} end
local last = redis.call('XREVRANGE', xkey(id), '+', '-', 'COUNT', 1)
local first = redis.call('XRANGE', xkey(id), '-', '+', 'COUNT', 1)
local lastId, firstId = '0-0', ''
if #last > 0 then lastId = last[1][1] end
if #first > 0 then firstId = first[1][1] end
local status = 1
if state[4] == '1' then status = 2 end
return {status, state[2], state[3], lastId, firstId, state[5]}`);

/**
 * ARGV 9 = 'renew' or 'release', 10.. = owners. Renews each owner's lease, or (release) leaves it to run
 * out; either way an owner with no open session gives its lease up. Answers the owners that did.
 */
export const LEASE = script(`
local released = {}
for i = 10, #ARGV do
  local owner = ARGV[i]
  if redis.call('SCARD', okey(owner)) == 0 then
    redis.call('ZREM', LEASES, owner)
    released[#released + 1] = owner
  elseif ARGV[9] == 'renew' then
    lease(owner)
  end
end
return released`);

/**
 * ARGV 9.. = owner, batch. If the owner's lease has run out (on the caller's clock), ends up to `batch`
 * of its sessions that are still its own, and forgets the owner once it has none: `{ended, left}`.
 * Several reapers at once each take other sessions (`SPOP`), and a session is ended once.
 */
export const REAP = script(`
local owner = ARGV[9]
local expiry = redis.call('ZSCORE', LEASES, owner)
if not expiry or tonumber(expiry) >= NOW then return {0, 0} end
local ended = 0
for _, id in ipairs(redis.call('SPOP', okey(owner), tonumber(ARGV[10]))) do
  local state = redis.call('HMGET', skey(id), 'o', 'e')
  if state[1] == owner and state[2] ~= '1' then
    finish(id)
    ended = ended + 1
  end
end
local left = redis.call('SCARD', okey(owner))
if left == 0 then redis.call('ZREM', LEASES, owner) end
return {ended, left}`);

/** ARGV 9 = the instance's doorbell key. Rings it (one entry kept; gone a day after the last ring). */
export const WAKE = script(`
redis.call('XADD', ARGV[9], 'MAXLEN', '1', '*', 'w', '1')
redis.call('PEXPIRE', ARGV[9], 86400000)
return 1`);
