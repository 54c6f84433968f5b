/**
 * Issue 15, member counts: `getChannelMemberCount` counts 1 to 32 channels without joining (code 5 over
 * 32, code 2 for an invalid list, code 3 more than once a second, 102 logged out); `channel.memberCount$`
 * after a join emits the count, then its changes, at most once a second on the client's (virtual) clock,
 * the latest winning. The property of the throttle is `spec/properties/member-counts.spec.ts`.
 */
import * as E from 'fp-ts/lib/Either.js';
import { describe, expect, it } from 'vitest';
import { type Channel, type Client, MAX_MEMBER_COUNT_CHANNELS } from '../../src/index.js';
import { flush, rejectsWith, world, type World } from './support.js';

/** Logs `userIds` in and joins each to `channelId`. */
const members = async (w: World, channelId: string, userIds: readonly string[]): Promise<Client[]> => {
  const clients: Client[] = [];
  for (const userId of userIds) {
    const client = await w.loggedIn(userId);
    await client.createChannel(channelId).join();
    clients.push(client);
  }
  return clients;
};

const channels = (count: number): string[] => Array.from({ length: count }, (_, i) => `channel${i}`);

describe('getChannelMemberCount', () => {
  it('counts the members of channels the asker is not in, 0 for an empty or unknown one', async () => {
    const w = world();
    await members(w, 'lobby', ['bob', 'carol', 'dave']);
    const [erin] = await members(w, 'quiet', ['erin']);
    const alice = await w.loggedIn('alice');
    expect(await alice.getChannelMemberCount(['lobby', 'quiet', 'empty', 'lobby'])).toEqual({ lobby: 3, quiet: 1, empty: 0 });
    await erin?.logout();
    w.clock.advance(1_000);
    expect(await alice.getChannelMemberCount(['lobby', 'quiet'])).toEqual({ lobby: 3, quiet: 0 });
  });

  it('takes 32 channels and refuses 33 with code 5, at the client and at the hub', async () => {
    const w = world();
    const alice = await w.loggedIn('alice');
    expect(MAX_MEMBER_COUNT_CHANNELS).toBe(32);
    expect(Object.keys(await alice.getChannelMemberCount(channels(32)))).toHaveLength(32);
    w.clock.advance(1_000);
    const refused = await rejectsWith(alice.getChannelMemberCount(channels(33)), { name: 'GetChannelMemberCountError', code: 5 });
    expect(refused.failure._tag).toBe('LimitExceeded');
    const session = await w.hub.login('bob', w.hub.issueToken('bob'));
    if (E.isLeft(session)) throw new Error(session.left._tag);
    const answer = await w.hub.channelMemberCounts(session.right, channels(33));
    expect(E.isLeft(answer) && answer.left._tag).toBe('LimitExceeded');
  });

  it('refuses an empty list or an invalid channel ID with code 2, spending nothing of the rate', async () => {
    const w = world();
    const alice = await w.loggedIn('alice');
    for (const bad of [[], ['lobby', ''], [' '], ['x'.repeat(65)], ['café'], 'lobby' as unknown as string[]]) {
      await rejectsWith(alice.getChannelMemberCount(bad), { name: 'GetChannelMemberCountError', code: 2 });
    }
    expect(await alice.getChannelMemberCount(['lobby'])).toEqual({ lobby: 0 });
  });

  it('answers once a second per user: code 3 until a second after the last answer', async () => {
    const w = world();
    const alice = await w.loggedIn('alice');
    await alice.getChannelMemberCount(['lobby']);
    const refused = await rejectsWith(alice.getChannelMemberCount(['lobby']), { name: 'GetChannelMemberCountError', code: 3 });
    expect(refused.failure._tag).toBe('TooOften');
    // Another user has its own second.
    expect(await (await w.loggedIn('bob')).getChannelMemberCount(['lobby'])).toEqual({ lobby: 0 });
    w.clock.advance(999);
    await rejectsWith(alice.getChannelMemberCount(['lobby']), { name: 'GetChannelMemberCountError', code: 3 });
    w.clock.advance(1);
    expect(await alice.getChannelMemberCount(['lobby'])).toEqual({ lobby: 0 });
  });

  it('is code 102 when not logged in', async () => {
    const w = world();
    const alice = await w.loggedIn('alice');
    await alice.logout();
    await rejectsWith(alice.getChannelMemberCount(['lobby']), { name: 'GetChannelMemberCountError', code: 102 });
  });
});

describe('channel.memberCount$', () => {
  /** Joins `userId` to `channelId` and records its `memberCount$` with the virtual time of each value. */
  const joined = async (w: World, userId: string, channelId: string): Promise<{ readonly counts: [number, number][]; readonly channel: Channel }> => {
    const client = await w.loggedIn(userId);
    const channel = client.createChannel(channelId);
    const counts: [number, number][] = [];
    channel.memberCount$.subscribe((count) => counts.push([w.clock.now() - start(w), count]));
    await channel.join();
    await flush(2);
    return { counts, channel };
  };
  const starts = new WeakMap<World, number>();
  const start = (w: World): number => starts.get(w) ?? 0;
  const begin = (): World => {
    const w = world();
    starts.set(w, w.clock.now());
    return w;
  };

  it('emits the count at once after the join, the joiner included', async () => {
    const w = begin();
    await members(w, 'lobby', ['bob', 'carol']);
    const { counts } = await joined(w, 'alice', 'lobby');
    expect(counts).toEqual([[0, 3]]);
  });

  it('then emits changes at most once a second, the latest of each second winning', async () => {
    const w = begin();
    const { counts } = await joined(w, 'alice', 'lobby');
    const [bob, carol] = await members(w, 'lobby', ['bob', 'carol']);
    w.clock.advance(500);
    await bob?.createChannel('lobby').leave();
    await flush(2);
    // Within the second of the first emission: nothing yet.
    expect(counts).toEqual([[0, 1]]);
    w.clock.advance(499);
    expect(counts).toEqual([[0, 1]]);
    w.clock.advance(1);
    expect(counts).toEqual([[0, 1], [1_000, 2]]);
    await members(w, 'lobby', ['dave']);
    await carol?.logout();
    await flush(2);
    w.clock.advance(1_000);
    // 3 then 2 within the second: 2 equals the last emitted, so nothing is emitted at its end.
    expect(counts).toEqual([[0, 1], [1_000, 2]]);
    w.clock.advance(5_000);
    await members(w, 'lobby', ['erin']);
    await flush(2);
    // A change after a quiet second is emitted at once.
    expect(counts).toEqual([[0, 1], [1_000, 2], [7_000, 3]]);
  });

  it('emits nothing while the channel is left, and the count again when it is joined again', async () => {
    const w = begin();
    const { counts, channel } = await joined(w, 'alice', 'lobby');
    await channel.leave();
    await members(w, 'lobby', ['bob']);
    w.clock.advance(2_000);
    await flush(2);
    expect(counts).toEqual([[0, 1]]);
    await channel.join();
    await flush(2);
    expect(counts).toEqual([[0, 1], [2_000, 2]]);
  });
});
