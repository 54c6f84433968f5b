/**
 * The Lua scripts of the Redis message bus: every change to the bus's state is one script, so what the
 * contract says is atomic (one session per user, the channel limit, a channel message reaching exactly the
 * members of the moment, a node's session reaped once) is atomic in Redis. Decisions 93 and 94.
 *
 * Keys, under the bus's prefix `P`:
 * - `P bus:id`: the last session ID handed out (`INCR`).
 * - `P bus:s:<id>`: a session's hash: `u` user, `o` owner, `q` its last delivery's number, `k` the last
 *   marker number, `e` `1` once ended, `z` its last delivery's fields (JSON) once ended.
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
 *
 * Every script's arguments start with the same eight (see {@link ScriptContext}); the keys are computed
 * inside the scripts from the prefix, which a single Redis allows (a Redis Cluster would need every key
 * of the bus in one slot: a prefix with a hash tag, such as `ferry:{bus}:`).
 * @module
 */

/**
 * Changes remembered per bus instance with their answers: ioredis sends again only the commands in
 * flight when a connection dropped, far fewer than this. An older one sent again is refused, not applied.
 */
export const LEDGER_WINDOW = 2_048;

/** How long an idle instance's ledger outlives its last change (a dead instance's, then, is garbage). */
export const LEDGER_TTL_MS = 3_600_000;

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

/** Helpers every script shares: key names, the ledger, deliveries, markers, ending a session. */
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
-- Ends an open session: it leaves its channels (their members are told), the user and the owner forget
-- it, its last delivery is kept in its hash, and the stream says it ended. Both then expire.
local function finish(id)
  local h = skey(id)
  local state = redis.call('HMGET', h, 'u', 'o', 'q')
  local user, owner, seq = state[1], state[2], state[3]
  for _, channel in ipairs(redis.call('SMEMBERS', ckey(id))) do
    redis.call('HDEL', chkey(channel), id)
    broadcast(channel, id, 't', 'l', 'c', channel, 'f', user)
  end
  redis.call('DEL', ckey(id))
  if redis.call('GET', ukey(user)) == id then redis.call('DEL', ukey(user)) end
  redis.call('SREM', okey(owner), id)
  if seq ~= '0' then
    local last = redis.call('XRANGE', xkey(id), seq .. '-0', seq .. '-0')
    if #last > 0 then redis.call('HSET', h, 'z', cjson.encode(last[1][2])) end
  end
  mark(id, 't', 'e')
  redis.call('HSET', h, 'e', '1')
  redis.call('PEXPIRE', h, ENDED_MS)
  redis.call('PEXPIRE', xkey(id), math.min(ENDED_STREAM_MS, ENDED_MS))
end
local function abort(id, cause, reason)
  deliver(id, 't', 'a', 'x', cause, 'r', reason)
  finish(id)
end
`;

const script = (body: string): string => `${PREAMBLE}\n${body}`;

/** The same ledgered change's guard, first in each changing script. */
const LEDGERED = `local cached = replayed()\nif cached then return cached end`;

/** ARGV 9.. = user, owner, reason. Replaces the user's open session; answers the new session's ID. */
export const OPEN = script(`${LEDGERED}
local user, owner = ARGV[9], ARGV[10]
local previous = redis.call('GET', ukey(user))
if previous and isOpen(previous) then abort(previous, 'REMOTE_LOGIN', ARGV[11]) end
local id = int(redis.call('INCR', P .. 'bus:id'))
redis.call('HSET', skey(id), 'u', user, 'o', owner, 'q', '0', 'k', '0')
redis.call('SET', ukey(user), id)
redis.call('SADD', okey(owner), id)
lease(owner)
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

/** ARGV 9.. = sender, user, message JSON, serverReceivedTs. '1' if the user has an open session. */
export const TO_USER = script(`${LEDGERED}
local id = redis.call('GET', ukey(ARGV[10]))
if not id then return record('0') end
deliver(id, 't', 'p', 'f', ARGV[9], 'm', ARGV[11], 's', ARGV[12])
return record('1')`);

/**
 * ARGV 9.. = sender's session, channel, message JSON, serverReceivedTs. The membership check and every
 * other member's delivery at once: how many received it, or '-1' when the sender is not in the channel.
 */
export const TO_CHANNEL = script(`${LEDGERED}
local from, channel = ARGV[9], ARGV[10]
if redis.call('SISMEMBER', ckey(from), channel) == 0 then return record('-1') end
local user = redis.call('HGET', skey(from), 'u')
return record(int(broadcast(channel, from, 't', 'c', 'c', channel, 'f', user, 'm', ARGV[11], 's', ARGV[12])))`);

/** ARGV 9.. = session, channel, maxChannels. A `JoinOutcome`. */
export const JOIN = script(`${LEDGERED}
local id, channel = ARGV[9], ARGV[10]
if not isOpen(id) then return record('closed') end
if redis.call('SISMEMBER', ckey(id), channel) == 1 then return record('member') end
if redis.call('SCARD', ckey(id)) >= tonumber(ARGV[11]) then return record('full') end
local user = redis.call('HGET', skey(id), 'u')
broadcast(channel, id, 't', 'j', 'c', channel, 'f', user)
redis.call('HSET', chkey(channel), id, user)
redis.call('SADD', ckey(id), channel)
return record('joined')`);

/** ARGV 9.. = session, channel. '1' if it was in the channel (the others are told it left). */
export const LEAVE = script(`${LEDGERED}
local id, channel = ARGV[9], ARGV[10]
if redis.call('SREM', ckey(id), channel) == 0 then return record('0') end
redis.call('HDEL', chkey(channel), id)
local user = redis.call('HGET', skey(id), 'u')
broadcast(channel, id, 't', 'l', 'c', channel, 'f', user)
return record('1')`);

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
