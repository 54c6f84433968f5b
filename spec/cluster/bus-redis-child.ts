/**
 * A ferry node's Redis bus in a process of its own, for a spec to kill with SIGKILL:
 * `node --import tsx spec/cluster/bus-redis-child.ts '<options JSON>'`, the JSON being
 * `{ redisUrl, keyPrefix, leaseMs, owner, channel, users }`. It opens a session per user for `owner`,
 * joins each to `channel`, follows each session's deliveries as a node serving them does, prints
 * `{"sessions": {"<user>": <sessionId>, …}}` on one line, then runs (renewing its lease) until killed.
 */
import { Redis } from 'ioredis';
import { redisBus } from '../../src/cluster/redis-bus.js';

/** What the parent passes. */
export interface BusChildOptions {
  readonly redisUrl: string;
  readonly keyPrefix: string;
  readonly leaseMs: number;
  readonly owner: string;
  readonly channel: string;
  readonly users: readonly string[];
}

const given = process.argv[2];
if (!given) throw new Error("usage: bus-redis-child.ts '<options JSON>'");
const options = JSON.parse(given) as BusChildOptions;
const bus = redisBus({ redis: new Redis(options.redisUrl), keyPrefix: options.keyPrefix, leaseMs: options.leaseMs });
const sessions: Record<string, number> = {};
for (const user of options.users) {
  const { sessionId } = await bus.open(user, options.owner);
  await bus.join(sessionId, options.channel, 10);
  bus.deliveries(sessionId, 0, options.owner).subscribe({ error: (error: unknown) => console.error(error) });
  sessions[user] = sessionId;
}
console.log(JSON.stringify({ sessions }));
// The bus's timers do not hold the process; a node's server would. This stands in for it.
setInterval(() => undefined, 1 << 30);
