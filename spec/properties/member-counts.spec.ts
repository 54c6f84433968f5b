/**
 * Property of `channel.memberCount$` (issue 15): members join and leave at random moments of virtual
 * time while the observer is in the channel. Whatever the sequence, the first count comes at the join,
 * emissions are at least a second apart on the client's clock, no two in a row are equal, each tells the
 * count as it is when emitted, and a second after the last change the last emission is the count: the
 * latest of each second wins, none is lost.
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { type Client, createClient, createHub, memoryTransport, virtualClock } from '../../src/index.js';
import { fcOptions } from './support.js';

const OTHERS = ['m0', 'm1', 'm2', 'm3', 'm4'] as const;
const SECOND = 1_000;

type Action = { readonly toggle: number } | { readonly advance: number };
const actionArb: fc.Arbitrary<Action> = fc.oneof(
  fc.integer({ min: 0, max: OTHERS.length - 1 }).map((toggle) => ({ toggle })),
  fc.oneof(fc.integer({ min: 1, max: 2_500 }), fc.constantFrom(1, SECOND - 1, SECOND)).map((advance) => ({ advance })),
);

/** What happened, in order: a change of the true count, or an emission of `memberCount$`. */
type Entry = { readonly kind: 'count' | 'emitted'; readonly at: number; readonly count: number };

const settle = async (): Promise<void> => {
  for (let i = 0; i < 3; i++) await new Promise<void>((resolve) => setImmediate(resolve));
};

describe('channel.memberCount$ under random joins and leaves', () => {
  it('at most once a second, each emission the count at that moment, the latest never lost', async () => {
    await fc.assert(
      fc.asyncProperty(fc.subarray([...OTHERS.keys()]), fc.array(actionArb, { maxLength: 30 }), async (initially, actions) => {
        const clock = virtualClock(5_000_000);
        const hub = createHub({ clock });
        const transport = memoryTransport(hub);
        const others: Client[] = [];
        const inChannel = new Set<number>();
        for (const [i, userId] of OTHERS.entries()) {
          const client = createClient({ transport, clock });
          await client.login({ userId, token: hub.issueToken(userId) });
          others.push(client);
          if (initially.includes(i)) {
            await client.createChannel('lobby').join();
            inChannel.add(i);
          }
        }
        const log: Entry[] = [];
        const count = (): number => inChannel.size + 1;
        const alice = createClient({ transport, clock });
        await alice.login({ userId: 'alice', token: hub.issueToken('alice') });
        const lobby = alice.createChannel('lobby');
        lobby.memberCount$.subscribe((n) => log.push({ kind: 'emitted', at: clock.now(), count: n }));
        log.push({ kind: 'count', at: clock.now(), count: count() });
        const joinedAt = clock.now();
        await lobby.join();
        await settle();
        let lastChange = clock.now();
        for (const action of actions) {
          if ('toggle' in action) {
            const member = others[action.toggle] as Client;
            const channel = member.createChannel('lobby');
            // Logged before the change: an emission it causes comes after it in the log.
            if (inChannel.delete(action.toggle)) {
              log.push({ kind: 'count', at: clock.now(), count: count() });
              await channel.leave();
            } else {
              inChannel.add(action.toggle);
              log.push({ kind: 'count', at: clock.now(), count: count() });
              await channel.join();
            }
            lastChange = clock.now();
          } else {
            clock.advance(action.advance);
          }
          await settle();
          const emitted = log.filter((entry) => entry.kind === 'emitted');
          if (clock.now() - lastChange >= SECOND) expect(emitted.at(-1)?.count).toBe(count());
        }
        clock.advance(SECOND);
        await settle();
        const emitted = log.filter((entry) => entry.kind === 'emitted');
        expect(emitted[0]).toEqual({ kind: 'emitted', at: joinedAt, count: initially.length + 1 });
        expect(emitted.at(-1)?.count).toBe(count());
        for (let i = 1; i < emitted.length; i++) {
          const [before, after] = [emitted[i - 1] as Entry, emitted[i] as Entry];
          expect(after.at - before.at).toBeGreaterThanOrEqual(SECOND);
          expect(after.count).not.toBe(before.count);
        }
        let current = 0;
        for (const entry of log) {
          if (entry.kind === 'count') current = entry.count;
          else expect(entry.count).toBe(current);
        }
        hub.close();
      }),
      fcOptions(150),
    );
  }, 60_000);
});
