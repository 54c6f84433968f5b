/**
 * The message bus in Redis, for several ferry nodes sharing one Redis: `redisBus({ redis })` is a
 * {@link MessageBus} (the contract of `spec/contract/bus-contract.ts`) whose state lives in Redis, so a
 * login on one node replaces the user's session on another, channel membership and presence are the
 * cluster's, and a session's deliveries are a Redis stream any node can replay from a number: a client
 * whose node died resumes through another with no gap and no duplicate.
 *
 * - Every change is one Lua script (`redis-bus-scripts.ts`): one session per user, the channel limit, a
 *   channel message delivered to exactly the members of that moment, all atomic.
 * - Deliveries are entries `n-0` of the session's stream, capped at `replayLimit`; a subscriber reads
 *   what is kept, then follows the stream live (`redis-bus-reader.ts`). No pub/sub, no keyspace events.
 * - Each owner (a node; by default, this instance) holds a lease renewed on the clock; every instance
 *   reaps the sessions of owners whose lease ran out, so a dead node's members leave within about
 *   `leaseMs` plus a third of it. Lease times are data compared with the caller's clock.
 * - Each change carries this instance's change number: a change ioredis sends again after a lost reply
 *   (a reconnect, a Redis restart) is answered from a ledger, not applied twice.
 * - Messages kept for offline users, the message IDs senders used, and who watches whose presence are
 *   Redis keys changed by the same scripts; their expiries are data compared with the caller's time, and
 *   Redis's TTLs on them only collect garbage.
 * Decisions 93, 94 and 102.
 * @module
 */
import { randomUUID } from 'node:crypto';
import type { Redis } from 'ioredis';
import { Observable, type Subscriber } from 'rxjs';
import { type Clock, systemClock, type TimerHandle, unrefTimer } from '../core/clock.js';
import { Failure, fault, FaultError } from '../core/failure.js';
import { OFFLINE_MESSAGES_PER_RECEIVER } from '../core/limits.js';
import type { BusSession, Delivery, JoinOutcome, MessageBus, WatchOutcome } from '../hub/message-bus.js';
import { followDeliveries } from './redis-bus-deliveries.js';
import { channelSendOutcomeOf, EventDecoder, peerSendOutcomeOf, presenceOf } from './redis-bus-entries.js';
import { streamReader } from './redis-bus-reader.js';
import * as scripts from './redis-bus-scripts.js';
import { type LuaScript, luaScript, runLua } from './redis-lua.js';

/** Options of {@link redisBus}. */
export interface RedisBusOptions {
  /**
   * The connection the bus's commands go through. The bus duplicates it once for its blocking read and
   * never closes it. It must not have ioredis's own `keyPrefix` (give the bus's `keyPrefix` instead).
   * @example redisBus({ redis: new Redis('redis://127.0.0.1:6379') })
   */
  readonly redis: Redis;
  /** The prefix of every key the bus writes. Default: `'ferry:'`. @example { keyPrefix: 'chat-eu:' } */
  readonly keyPrefix?: string;
  /**
   * The time of leases and expiries, passed to every script (Redis's own clock decides nothing the bus
   * reads). Give the hubs' clock. Default: the system clock. @example { clock: virtualClock() }
   */
  readonly clock?: Clock;
  /**
   * How long an owner's lease lasts without renewal. This instance renews its owners' leases every third
   * of it, and reaps owners whose lease ran out as often, so a node that died has its sessions ended
   * within about `leaseMs × 4/3`. Shorter is quicker to notice death and easier to lose by a long pause
   * of the event loop. Default: 15,000. @example { leaseMs: 5_000 }
   */
  readonly leaseMs?: number;
  /**
   * Deliveries kept per session for a subscriber that resumes from a number; below them it gets
   * `Conflict`. At least `OFFLINE_MESSAGES_PER_RECEIVER` (200), so that any batch of the messages kept for a
   * user while it was offline (`takeOffline`, one script) stays readable however late its subscriber reads.
   * Messages are up to 32 KiB, so a session holds at most about `replayLimit × 44 KiB` in Redis (base64
   * included). Default: 1,000. @example { replayLimit: 200 }
   */
  readonly replayLimit?: number;
  /**
   * How long an ended session's last delivery (its `aborted`, if it was aborted) is kept, so that a
   * client coming back late, through any node, learns why it ended. Default: 3,600,000 (an hour).
   * @example { endedTtlMs: 600_000 }
   */
  readonly endedTtlMs?: number;
  /**
   * Told of what fails in the background (lease renewals, reaping, the blocking read) and cannot be
   * answered to a caller. Default: `console.error`. @example { onError: (error) => log.error({ error }, 'bus') }
   */
  readonly onError?: (error: unknown) => void;
}

/** The Redis message bus. */
export interface RedisBus extends MessageBus {
  /**
   * Ends now the sessions of every owner whose lease has run out (as the timer does every `leaseMs / 3`),
   * and resolves with how many it ended.
   */
  reap(): Promise<number>;
  /**
   * Stops the timers and the blocking read and closes the connection it duplicated (never the one it
   * was given). The leases of owners with no open session are given up; those of owners with open
   * sessions run out, so their clients have a lease's time to resume elsewhere before they are reaped.
   * Subscribers still following deliveries get `Interrupted`. Calls after it reject with `Interrupted`.
   * Resolves once its last commands are answered (or failed by the connection's own retry policy).
   * Idempotent. (Not `close`: that name ends one session, {@link MessageBus.close}.)
   */
  shutdown(): Promise<void>;
}

/** How long an ended session's stream stays for subscribers still reading it. */
const ENDED_STREAM_MS = 120_000;
/** Owners and sessions per reaping step: each step is one script, kept short. */
const REAP_OWNERS = 64;
const REAP_BATCH = 16;

const positiveInteger = (name: string, value: number): number => {
  if (!(Number.isSafeInteger(value) && value >= 1)) throw new RangeError(`${name} must be a positive integer, got ${String(value)}`);
  return value;
};

/** A rejection from Redis as a failure: the ledger's doubt as `Unknown`, the rest as `Network`. */
const redisFailure = (error: unknown): FaultError => {
  if (error instanceof FaultError) return error;
  const message = error instanceof Error ? error.message : String(error);
  if (message.includes('FERRY_UNKNOWN')) return fault(Failure.unknown(message), error);
  return fault(Failure.unavailable(`redis: ${message}`), error);
};

/**
 * A message bus in Redis. Several processes (or several hubs in one) with a bus on the same Redis and
 * prefix share sessions, channels and presence.
 * @example
 * const redis = new Redis(process.env.FERRY_REDIS_URL);
 * const bus = redisBus({ redis, clock });
 * const hub = createHub({ clock, bus });
 * // … at shutdown
 * hub.close(); await bus.shutdown(); redis.disconnect();
 */
export const redisBus = (options: RedisBusOptions): RedisBus => {
  const { redis } = options;
  if (redis.options.keyPrefix) throw new RangeError('redisBus: give the key prefix as the bus\'s keyPrefix, not ioredis\'s');
  const prefix = options.keyPrefix ?? 'ferry:';
  const clock = options.clock ?? systemClock;
  const leaseMs = positiveInteger('leaseMs', options.leaseMs ?? 15_000);
  const replayLimit = positiveInteger('replayLimit', options.replayLimit ?? 1_000);
  if (replayLimit < OFFLINE_MESSAGES_PER_RECEIVER) {
    throw new RangeError(`replayLimit must be at least ${OFFLINE_MESSAGES_PER_RECEIVER} (the offline messages a session may open with), got ${replayLimit}`);
  }
  const endedTtlMs = positiveInteger('endedTtlMs', options.endedTtlMs ?? 3_600_000);
  const onError = options.onError ?? ((error: unknown) => console.error('ferry redis bus:', error));
  /** This instance: its ledger, its doorbell, and the owner of the sessions opened without one. */
  const instance = randomUUID();
  const doorbell = `${prefix}bus:w:${instance}`;
  const leases = `${prefix}bus:leases`;
  const key = {
    stream: (sessionId: number): string => `${prefix}bus:x:${sessionId}`,
    channels: (sessionId: number): string => `${prefix}bus:c:${sessionId}`,
    user: (userId: string): string => `${prefix}bus:u:${userId}`,
  };
  /** The owners this instance keeps leases for: those it opened or resumed a session for, until they have none. */
  const served = new Set<string>();
  const following = new Set<Subscriber<Delivery>>();
  let closed: Promise<void> | undefined;
  let op = 0;

  const context = (): string[] =>
    scripts.contextArgs({ prefix, instance, op: ++op, replayLimit, now: clock.now(), leaseMs, endedTtlMs, endedStreamMs: ENDED_STREAM_MS });
  const compiled = new Map<string, LuaScript>();
  const run = async (lua: string, args: readonly string[]): Promise<unknown> => {
    let script = compiled.get(lua);
    if (script === undefined) {
      script = luaScript(lua);
      compiled.set(lua, script);
    }
    return runLua(redis, script, [], args).catch((error: unknown) => {
      throw redisFailure(error);
    });
  };
  const change = async (lua: string, ...args: string[]): Promise<string> => {
    if (closed) throw fault(Failure.interrupted('the Redis bus is closed'));
    return String(await run(lua, [...context(), ...args]));
  };
  const ask = async (lua: string, ...args: string[]): Promise<unknown> => {
    if (closed) throw fault(Failure.interrupted('the Redis bus is closed'));
    return run(lua, [...context(), ...args]);
  };
  const command = async <T>(call: () => Promise<T>): Promise<T> => {
    if (closed) throw fault(Failure.interrupted('the Redis bus is closed'));
    return call().catch((error: unknown) => {
      throw redisFailure(error);
    });
  };
  const strings = (reply: unknown): string[] =>
    Array.isArray(reply) && reply.every((item) => typeof item === 'string') ? reply : [];

  const decoder = new EventDecoder();
  const reader = streamReader({
    redis,
    doorbell,
    ring: async () => {
      await run(scripts.WAKE, [...context(), doorbell]);
    },
    clock,
    onError,
    onDispatched: () => decoder.forget(),
  });

  const renew = async (mode: 'renew' | 'release'): Promise<void> => {
    if (served.size === 0) return;
    const released = strings(await run(scripts.LEASE, [...context(), mode, ...served]));
    for (const owner of released) served.delete(owner);
  };
  const reap = async (): Promise<number> => {
    const now = clock.now();
    const expired = await command(() => redis.call('ZRANGEBYSCORE', leases, '-inf', `(${now}`, 'LIMIT', '0', String(REAP_OWNERS + served.size)));
    let ended = 0;
    // An owner this instance serves is alive (this is it): its lease is renewed, not reaped, even if the
    // renewal came late (a stalled event loop, a virtual clock moved far at once).
    for (const owner of strings(expired).filter((owner) => !served.has(owner))) {
      // Each step pops sessions off the owner's set, so the steps end; the bound is a safeguard.
      for (let step = 0; step < 100_000; step++) {
        const reply = await run(scripts.REAP, [...context(), owner, String(REAP_BATCH)]);
        const [count, left] = Array.isArray(reply) ? (reply as number[]) : [0, 0];
        ended += count ?? 0;
        if (!left) break;
      }
    }
    return ended;
  };

  // The lease timer: renew this instance's owners, then reap the dead ones. A tick that comes while the
  // last one still runs asks for one more run after it, so ticks neither overlap nor pile up.
  const tickMs = Math.max(1, Math.floor(leaseMs / 3));
  let timer: TimerHandle | undefined;
  let ticking: Promise<void> | undefined;
  let again = false;
  const tick = async (): Promise<void> => {
    do {
      again = false;
      await renew('renew').catch(onError);
      await reap().catch(onError);
    } while (again && !closed);
    ticking = undefined;
  };
  const schedule = (): void => {
    timer = clock.setTimeout(() => {
      if (closed) return;
      schedule();
      if (ticking) again = true;
      else ticking = tick();
    }, tickMs);
    unrefTimer(timer);
  };
  schedule();

  return {
    async open(userId, owner = instance): Promise<BusSession> {
      const id = await change(scripts.OPEN, userId, owner, 'the same user logged in elsewhere');
      served.add(owner);
      return { sessionId: Number(id), userId };
    },
    async resume(sessionId, userId, owner) {
      const moved = (await change(scripts.RESUME, String(sessionId), userId, owner)) === '1';
      if (moved) served.add(owner);
      return moved;
    },
    close: async (sessionId, owner) => (await change(scripts.CLOSE, String(sessionId), owner === undefined ? '0' : '1', owner ?? '')) === '1',
    abort: async (sessionId, cause, reason) => (await change(scripts.ABORT, String(sessionId), cause, reason)) === '1',
    deliveries: (sessionId, after = 0, owner) =>
      new Observable<Delivery>((subscriber) => {
        if (closed) return subscriber.error(fault(Failure.interrupted('the Redis bus is closed')));
        following.add(subscriber);
        let stop: (() => void) | undefined;
        followDeliveries(
          {
            snapshot: () => ask(scripts.SNAPSHOT, String(sessionId)),
            range: (from, to, count) => command(() => redis.call('XRANGE', key.stream(sessionId), from, to, 'COUNT', count)),
            follow: (after, handle, fail) => reader.follow(key.stream(sessionId), after, handle, fail),
            decode: (fields) => decoder.decode(fields),
          },
          subscriber,
          sessionId,
          after,
          owner,
        ).then(
          (stopper) => {
            if (subscriber.closed) stopper?.();
            else stop = stopper;
          },
          (error: unknown) => subscriber.error(error),
        );
        return () => {
          following.delete(subscriber);
          stop?.();
        };
      }),
    async toUser(fromUserId, userId, message, serverReceivedTs, { messageId, rememberMs, offline }) {
      const keep = offline ? ['1', String(offline.expiresAt), String(offline.perSender)] : ['0', '0', '0'];
      const args = [fromUserId, userId, JSON.stringify(message), String(serverReceivedTs), messageId, String(rememberMs), ...keep];
      return peerSendOutcomeOf(await change(scripts.TO_USER, ...args));
    },
    async toChannel(fromSessionId, channelId, message, serverReceivedTs, { messageId, rememberMs }) {
      const args = [String(fromSessionId), channelId, JSON.stringify(message), String(serverReceivedTs), messageId, String(rememberMs)];
      return channelSendOutcomeOf(await change(scripts.TO_CHANNEL, ...args));
    },
    async join(sessionId, channelId, maxChannels) {
      const outcome = await change(scripts.JOIN, String(sessionId), channelId, String(maxChannels));
      if (outcome === 'joined' || outcome === 'member' || outcome === 'full' || outcome === 'closed') return outcome satisfies JoinOutcome;
      throw fault(Failure.unknown(`the bus read a malformed join outcome from Redis`));
    },
    leave: async (sessionId, channelId) => (await change(scripts.LEAVE, String(sessionId), channelId)) === '1',
    async channelsOf(sessionId) {
      const reply = await ask(scripts.CHANNELS, String(sessionId));
      return reply === null ? undefined : strings(reply);
    },
    inChannel: async (sessionId, channelId) => (await command(() => redis.sismember(key.channels(sessionId), channelId))) === 1,
    async members(sessionId, channelId) {
      const reply = await ask(scripts.MEMBERS, String(sessionId), channelId);
      return reply === null ? undefined : strings(reply).sort();
    },
    async memberCounts(channelIds) {
      if (channelIds.length === 0) return [];
      const reply = await ask(scripts.MEMBER_COUNTS, ...channelIds);
      const counts = Array.isArray(reply) ? reply : [];
      if (counts.length !== channelIds.length || !counts.every((n) => Number.isSafeInteger(n) && n >= 0)) {
        throw fault(Failure.unknown('the bus read malformed member counts from Redis'));
      }
      return counts as number[];
    },
    async takeOffline(sessionId, now, limit) {
      const left = Number(await change(scripts.TAKE_OFFLINE, String(sessionId), String(now), String(limit.messages), String(limit.bytes)));
      if (!Number.isSafeInteger(left) || left < 0) throw fault(Failure.unknown('the bus read a malformed count of offline messages from Redis'));
      return left;
    },
    isOnline: async (userId) => (await command(() => redis.exists(key.user(userId)))) === 1,
    async presence(userIds) {
      if (userIds.length === 0) return [];
      const letters = strings(await ask(scripts.PRESENCE, ...userIds));
      if (letters.length !== userIds.length) throw fault(Failure.unknown('the bus read malformed presence from Redis'));
      return letters.map(presenceOf);
    },
    async setReachable(sessionId, reachable) {
      await change(scripts.SET_REACHABLE, String(sessionId), reachable ? '1' : '0');
    },
    async watch(sessionId, userIds, max) {
      const outcome = await change(scripts.WATCH, String(sessionId), String(max), ...userIds);
      if (outcome === 'watching' || outcome === 'full' || outcome === 'closed') return outcome satisfies WatchOutcome;
      throw fault(Failure.unknown('the bus read a malformed watch outcome from Redis'));
    },
    async unwatch(sessionId, userIds) {
      if (userIds.length > 0) await change(scripts.UNWATCH, String(sessionId), ...userIds);
    },
    reap: () => command(reap),
    shutdown() {
      closed ??= (async () => {
        if (timer !== undefined) clock.clearTimeout(timer);
        for (const subscriber of [...following]) subscriber.error(fault(Failure.interrupted('the Redis bus was closed')));
        following.clear();
        await reader.close();
        await ticking;
        await renew('release').catch(onError);
        await redis.del(doorbell).catch(onError);
      })();
      return closed;
    },
  };
};
