/**
 * A node killed (SIGKILL: no shutdown, no last renewal) while its sessions are in a channel: the
 * members on another node are told each of its users left, once, within the lease time plus one reaping
 * interval; a user whose client had already come back through the other node stays. Real processes and
 * the real clock (a short lease); the virtual-clock version is in `bus-redis.spec.ts`. Decision 94.
 */
import { spawn } from 'node:child_process';
import { performance } from 'node:perf_hooks';
import { createInterface } from 'node:readline';
import { Redis } from 'ioredis';
import { expect, it } from 'vitest';
import { redisBus } from '../../src/cluster/redis-bus.js';
import type { BusChildOptions } from './bus-redis-child.js';
import { deleteKeys, eventually, record, uniquePrefix } from './bus-redis-support.js';
import { describeWithServices } from './services.js';

describeWithServices('redis message bus: a node killed', ['redis'], ({ redisUrl }) => {
  it("tells the members of a killed node's sessions they left, once, within the lease time, unless they came back elsewhere", async () => {
    const leaseMs = 900;
    const keyPrefix = uniquePrefix();
    const redis = new Redis(redisUrl);
    const b = redisBus({ redis, keyPrefix, leaseMs });
    try {
      const bob = await b.open('bob', 'node-b');
      await b.join(bob.sessionId, 'room', 10);
      const seen = record(b, bob.sessionId);
      const options: BusChildOptions = { redisUrl, keyPrefix, leaseMs, owner: 'node-killed', channel: 'room', users: ['alice', 'carol', 'dave'] };
      const child = spawn(process.execPath, ['--import', 'tsx', new URL('./bus-redis-child.ts', import.meta.url).pathname, JSON.stringify(options)], {
        stdio: ['ignore', 'pipe', 'inherit'],
      });
      const exited = new Promise((resolve) => child.once('exit', resolve));
      const lines = createInterface({ input: child.stdout });
      const first = await new Promise<string>((resolve, reject) => {
        lines.once('line', resolve);
        child.once('exit', (code) => reject(new Error(`the child exited (${String(code)}) before it was ready`)));
      });
      const { sessions } = JSON.parse(first) as { sessions: Record<string, number> };
      await eventually(() => expect(seen.events().filter((event) => event.type === 'memberJoined')).toHaveLength(3));
      // Carol's client came back through node b before node "killed" died.
      expect(await b.resume(sessions.carol!, 'carol', 'node-b')).toBe(true);

      const killedAt = performance.now();
      child.kill('SIGKILL');
      await exited;
      const left = (): string[] => seen.events().flatMap((event) => (event.type === 'memberLeft' ? [event.userId] : [])).sort();
      await eventually(() => expect(left()).toEqual(['alice', 'dave']), leaseMs * 4);
      const elapsed = performance.now() - killedAt;
      console.log(`members of a killed node told it left after ${Math.round(elapsed)} ms (lease ${leaseMs} ms, reaped every ${leaseMs / 3} ms)`);
      // The last renewal came before the kill; a reaping tick follows the lease's end within a third of it.
      expect(elapsed).toBeLessThan(leaseMs + leaseMs / 3 + 700);
      expect(await b.reap()).toBe(0);
      expect(await b.reap()).toBe(0);
      expect(left()).toEqual(['alice', 'dave']);
      expect(await b.isOnline('carol')).toBe(true);
      expect(await b.isOnline('alice')).toBe(false);
      expect(await b.isOnline('dave')).toBe(false);
      expect(await b.members(bob.sessionId, 'room')).toEqual(['bob', 'carol']);
    } finally {
      await b.shutdown();
      await deleteKeys(redis, keyPrefix);
      redis.disconnect();
    }
  });
});
