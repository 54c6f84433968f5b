/**
 * The Lua scripts of the Redis message bus: every change to the bus's state is one script, so what the
 * contract says is atomic (one session per user, the channel limit, a channel message reaching exactly the
 * members of the moment, a node's session reaped once, a message ID answered once, a user's kept messages
 * delivered in batches, a watch within its limit) is atomic in Redis. The keys they use and the
 * helpers they share are in `redis-bus-lua.ts`; every script's arguments start with the eight of
 * {@link ScriptContext}. Decisions 93, 94 and 102.
 * @module
 */
import { LEDGERED, type ScriptContext, script } from './redis-bus-lua.js';

export { contextArgs, GC_MARGIN_MS, LEDGER_TTL_MS, LEDGER_WINDOW, PRESENCE_LETTERS, type ScriptContext } from './redis-bus-lua.js';

/**
 * ARGV 9.. = user, owner, reason. Replaces the user's open session (its watchers hear only of the new
 * session's status) and tells the user's watchers if its status changed. Answers the new session's ID.
 * The user's kept messages wait for `TAKE_OFFLINE`.
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
told(user, before)
return record(id)`);

/**
 * ARGV 9.. = session, time, maxMessages, maxBytes. Delivers the next batch of the session's user's kept
 * messages to it (`takeKept`) if it is open; answers how many unexpired are still kept ('0' if not open).
 */
export const TAKE_OFFLINE = script(`${LEDGERED}
local id = ARGV[9]
if not isOpen(id) then return record('0') end
local user = redis.call('HGET', skey(id), 'u')
return record(int(takeKept(id, user, tonumber(ARGV[10]), tonumber(ARGV[11]), tonumber(ARGV[12]))))`);

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
local first = recall(from, 'p ' .. messageId, t)
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
remember(from, 'p ' .. messageId, t + tonumber(ARGV[14]), answer, t)
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
local first = recall(user, 'c ' .. messageId, t)
if first then return record(first) end
local n = broadcast(channel, from, 't', 'c', 'c', channel, 'f', user, 'm', ARGV[11], 's', ts, 'i', messageId)
local answer = 'r ' .. int(n) .. ' ' .. ts
remember(user, 'c ' .. messageId, t + tonumber(ARGV[14]), answer, t)
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
