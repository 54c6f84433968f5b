/**
 * Redis restarted under the bus (SIGKILL, then the same server started again from its append-only file,
 * `appendfsync always`) while messages flow: the bus recovers by itself — ioredis reconnects, the
 * blocking read is sent again from the last IDs seen, changes in flight are sent again and answered from
 * the ledger — and every acknowledged message arrives, once, in order per sender. A private
 * `redis-server` on a free port: the shared one is never restarted. Decision 93.
 */
import { Redis } from 'ioredis';
import { expect, it } from 'vitest';
import { redisBus } from '../../src/cluster/redis-bus.js';
import { encodeMessage, type HubEvent, textMessage } from '../../src/index.js';
import { eventually, privateRedis, record, uniquePrefix } from './bus-redis-support.js';
import { describeWithServices } from './services.js';

const textsOf = (events: readonly HubEvent[]): string[] =>
  events.flatMap((event) => (event.type === 'peerMessage' ? [(event.message as { text?: string }).text ?? ''] : []));

describeWithServices('redis message bus across a Redis restart', ['redis'], () => {
  it('recovers by itself and loses no acknowledged message when Redis restarts from its append-only file', async () => {
    const server = await privateRedis();
    const connections = [new Redis(server.url), new Redis(server.url)];
    // ioredis reports each failed reconnection attempt; the outage is the point here.
    for (const redis of connections) redis.on('error', () => undefined);
    const reported: unknown[] = [];
    const keyPrefix = uniquePrefix();
    // A replay that keeps every delivery of the run: the subscriber from the start below reads them all (a
    // fast run sent about 2,000, past the default 1,000, and that subscriber got Conflict).
    const [a, b] = connections.map((redis) => redisBus({ redis, keyPrefix, replayLimit: 100_000, onError: (error) => reported.push(error) })) as [
      ReturnType<typeof redisBus>,
      ReturnType<typeof redisBus>,
    ];
    try {
      const rx = await a.open('rx', 'node-a');
      const live = record(a, rx.sessionId, 0, 'node-a');
      const acknowledged: string[] = [];
      let refused = 0;
      let sending = true;
      // Four senders, each waiting for its last message's answer before the next: order per sender is defined.
      const sender = async (lane: number): Promise<void> => {
        for (let n = 0; sending; n++) {
          const body = `${lane}:${n}`;
          try {
            const sent = await b.toUser(`s${lane}`, 'rx', encodeMessage(textMessage(body)), n, { messageId: body, rememberMs: 60_000 });
            if (sent.outcome === 'delivered') acknowledged.push(body);
          } catch {
            refused++;
          }
        }
      };
      const lanes = [0, 1, 2, 3].map(sender);
      await eventually(() => expect(acknowledged.length).toBeGreaterThanOrEqual(200), 20_000);
      await server.kill();
      const before = acknowledged.length;
      await new Promise((resolve) => setTimeout(resolve, 300));
      await server.start();
      await eventually(() => expect(acknowledged.length).toBeGreaterThanOrEqual(before + 200), 20_000);
      sending = false;
      await Promise.all(lanes);

      // The subscription that was following before the restart goes on: nothing acknowledged is missing.
      await eventually(() => expect(textsOf(live.events())).toEqual(expect.arrayContaining(acknowledged)), 20_000);
      expect(live.error).toBeUndefined();
      const texts = textsOf(live.events());
      expect(new Set(texts).size).toBe(texts.length);
      expect(live.deliveries.map((d) => d.seq)).toEqual(texts.map((_, i) => i + 1));
      for (const lane of [0, 1, 2, 3]) {
        const numbers = texts.filter((t) => t.startsWith(`${lane}:`)).map((t) => Number(t.split(':')[1]));
        expect(numbers).toEqual([...numbers].sort((x, y) => x - y));
      }
      // What Redis kept through the restart is what a subscriber from the start reads now.
      const fresh = record(b, rx.sessionId, 0);
      await eventually(() => expect(fresh.deliveries).toHaveLength(live.deliveries.length));
      expect(fresh.deliveries).toEqual(live.deliveries);
      console.log(
        `Redis restarted under the bus: ${acknowledged.length} messages acknowledged (${before} before the kill), ` +
          `${refused} refused, ${texts.length} delivered, none twice; ${reported.length} background errors reported`,
      );
      live.stop();
      fresh.stop();
    } finally {
      await Promise.all([a.shutdown(), b.shutdown()]);
      for (const redis of connections) redis.disconnect();
      await server.dispose();
    }
  });
});
