/**
 * Issue 12, "Limits a real deployment needs": what one user may consume of a hub, each at its boundary
 * (the last allowed, the first refused, with its documented code and a message naming the limit), and
 * each as a fast-check property against a model, on virtual time. The hub decides every limit, so the
 * memory transport here meets exactly what HTTP and WebSocket clients meet (spec/server/limits.spec.ts).
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { createHub, type HubSession, memoryStore, textMessage } from '../../src/index.js';
import { DEFAULT_HUB_LIMITS, RateLimiter, SlidingWindow } from '../../src/hub/hub-limits.js';
import { failureOf } from '../../src/core/failure.js';
import * as E from 'fp-ts/lib/Either.js';
import { fcOptions } from '../properties/support.js';
import { bytes, rejectsWith, world } from './support.js';

describe('limits, at their boundaries', () => {
  it('has the documented defaults (Agora where it has a number)', () => {
    expect(DEFAULT_HUB_LIMITS).toEqual({
      unfinishedUploads: 20,
      storedBytes: 2 * 1024 ** 3,
      diskReserve: 1024 ** 3,
      messageRate: { limit: 180, windowMs: 3_000 },
      loginRate: { limit: 2, windowMs: 1_000 },
      channels: 20,
      joinRate: { limit: 50, windowMs: 3_000 },
      offlineMessages: 1_000,
      presenceQueryRate: { limit: 10, windowMs: 5_000 },
      presenceSubscribeRate: { limit: 10, windowMs: 5_000 },
      memberCountRate: { limit: 1, windowMs: 1_000 },
    });
  });

  it('takes a 20th unfinished upload and refuses the 21st with upload code 5 naming the limit', async () => {
    const w = world();
    const alice = await w.loggedIn('alice');
    for (let i = 0; i < 19; i++) await w.hub.createUpload('alice', { size: 10, fileName: `f${i}` });
    // The 20th, through the client: it completes, so it is no longer unfinished.
    expect((await alice.createFileMessageByUploading(bytes(10)).result).size).toBe(10);
    await w.hub.createUpload('alice', { size: 10, fileName: 'f19' });
    await rejectsWith(alice.createFileMessageByUploading(bytes(10)).result, { name: 'UploadError', code: 5, mentions: /at most 20 unfinished uploads per user/ });
    // Other users are not concerned.
    expect((await (await w.loggedIn('bob')).createFileMessageByUploading(bytes(10)).result).size).toBe(10);
  });

  it('frees an unfinished upload slot when one is terminated', async () => {
    const w = world({ hub: { limits: { unfinishedUploads: 2 } } });
    const alice = await w.loggedIn('alice');
    const first = await w.hub.createUpload('alice', { size: 10, fileName: 'a' });
    await w.hub.createUpload('alice', { size: 10, fileName: 'b' });
    await rejectsWith(alice.createFileMessageByUploading(bytes(10)).result, { name: 'UploadError', code: 5 });
    await w.hub.terminateUpload('alice', first.uploadId);
    expect((await alice.createFileMessageByUploading(bytes(10)).result).size).toBe(10);
  });

  it('stores up to the byte quota exactly and refuses one byte more with upload code 4 naming the quota', async () => {
    const w = world({ hub: { limits: { storedBytes: 1_000 } } });
    const alice = await w.loggedIn('alice');
    const first = await alice.createFileMessageByUploading(bytes(600)).result;
    await w.hub.createUpload('alice', { size: 400, fileName: 'declared, not sent' });
    await rejectsWith(alice.createFileMessageByUploading(bytes(1)).result, { name: 'UploadError', code: 4, mentions: /quota/ });
    // Expired media no longer counts once it is gone.
    w.clock.advance(w.hub.retentionMs);
    await w.hub.sweep();
    await rejectsWith(alice.downloadMediaToMemory(first.mediaId).result, { name: 'DownloadError', code: 4 });
    expect((await alice.createFileMessageByUploading(bytes(500)).result).size).toBe(500);
  });

  it('releases expired media once however many ask for it at the same time (the quota cannot be inflated)', async () => {
    const w = world({ hub: { limits: { storedBytes: 300 } } });
    const alice = await w.loggedIn('alice');
    const expiring = await alice.createFileMessageByUploading(bytes(100)).result;
    w.clock.advance(w.hub.retentionMs / 2);
    await alice.createFileMessageByUploading(bytes(100)).result;
    w.clock.advance(w.hub.retentionMs / 2);
    // Five recipients ask for the expired media at once: each finds it expired and deletes it.
    await Promise.allSettled(Array.from({ length: 5 }, () => w.hub.mediaInfo(expiring.mediaId)));
    // Alice now holds 100 bytes: 200 more fit, not one byte beyond.
    expect((await alice.createFileMessageByUploading(bytes(100)).result).size).toBe(100);
    expect((await alice.createFileMessageByUploading(bytes(100)).result).size).toBe(100);
    await rejectsWith(alice.createFileMessageByUploading(bytes(1)).result, { name: 'UploadError', code: 4 });
  });

  it('checks uploads created at the same moment one after the other, the free space too', async () => {
    const store = { ...memoryStore(), freeBytes: async () => 1_000_000 };
    const hub = createHub({ store, limits: { unfinishedUploads: 3, storedBytes: 1_000, diskReserve: 999_000 } });
    const outcomes = await Promise.all(
      Array.from({ length: 10 }, () => hub.createUpload('alice', { size: 300, fileName: 'f' }).then(() => 'ok', (error: unknown) => failureOf(error)._tag)),
    );
    // 3 × 300 fit the quota and the count; the reserve leaves 1,000 bytes for all unfinished uploads.
    expect(outcomes.filter((o) => o === 'ok')).toHaveLength(3);
    expect(new Set(outcomes.filter((o) => o !== 'ok'))).toEqual(new Set(['LimitExceeded']));
    hub.close();
  });

  it('keeps a free-space reserve on a store that can tell its free space: refused with upload code 1, out of space', async () => {
    let free = 10_000;
    const store = { ...memoryStore(), freeBytes: async () => free };
    const w = world({ hub: { store, limits: { diskReserve: 5_000 } } });
    const alice = await w.loggedIn('alice');
    expect((await alice.createFileMessageByUploading(bytes(5_000)).result).size).toBe(5_000);
    free = 9_999;
    const refused = await rejectsWith(alice.createFileMessageByUploading(bytes(5_000)).result, { name: 'UploadError', code: 1, mentions: /out of space/ });
    expect(refused.failure._tag).toBe('InsufficientStorage');
  });

  it('lets 180 peer and channel messages through in 3 s and refuses the 181st: peer code 5, channel code 3', async () => {
    const w = world();
    const alice = await w.loggedIn('alice');
    await w.loggedIn('bob');
    const channel = alice.createChannel('room');
    await channel.join();
    for (let i = 0; i < 90; i++) await alice.sendMessageToPeer('bob', textMessage(`${i}`));
    for (let i = 0; i < 90; i++) await channel.sendMessage(textMessage(`${i}`));
    await rejectsWith(alice.sendMessageToPeer('bob', textMessage('one too many')), { name: 'PeerMessageError', code: 5, mentions: /180 per 3 s/ });
    await rejectsWith(channel.sendMessage(textMessage('one too many')), { name: 'ChannelMessageError', code: 3 });
    // The window slides: 3 s after the first message, one more is allowed.
    w.clock.advance(3_000);
    await expect(alice.sendMessageToPeer('bob', textMessage('later'))).resolves.toMatchObject({ state: 'RECEIVED' });
  });

  it('logs a user in twice in a second and refuses the third with login code 10', async () => {
    const w = world();
    const client = w.client();
    await client.login({ userId: 'alice', token: w.hub.issueToken('alice') });
    await client.logout();
    await client.login({ userId: 'alice', token: w.hub.issueToken('alice') });
    await client.logout();
    await rejectsWith(client.login({ userId: 'alice', token: w.hub.issueToken('alice') }), { name: 'LoginError', code: 10, mentions: /2 per 1 s/ });
    w.clock.advance(1_000);
    await expect(client.login({ userId: 'alice', token: w.hub.issueToken('alice') })).resolves.toBeUndefined();
  });

  it('lets a session be in 20 channels at once and refuses the 21st with join code 5', async () => {
    const w = world();
    const alice = await w.loggedIn('alice');
    for (let i = 0; i < 20; i++) await alice.createChannel(`c${i}`).join();
    await rejectsWith(alice.createChannel('c20').join(), { name: 'JoinChannelError', code: 5, mentions: /at most 20 channels/ });
    await alice.createChannel('c0').leave();
    await expect(alice.createChannel('c20').join()).resolves.toBeUndefined();
  });

  it('takes 50 joins in 3 s and refuses the 51st with join code 7', async () => {
    const w = world();
    const alice = await w.loggedIn('alice');
    const channel = alice.createChannel('door');
    for (let i = 0; i < 50; i++) {
      await channel.join();
      await channel.leave();
    }
    await rejectsWith(channel.join(), { name: 'JoinChannelError', code: 7, mentions: /50 per 3 s/ });
    w.clock.advance(3_000);
    await expect(channel.join()).resolves.toBeUndefined();
  });

  it('refuses limits out of range when the hub is created, naming them', () => {
    expect(() => createHub({ limits: { unfinishedUploads: -1 } })).toThrow(/unfinishedUploads/);
    expect(() => createHub({ limits: { messageRate: { limit: 0, windowMs: 3_000 } } })).toThrow(/messageRate/);
    expect(() => createHub({ limits: { joinRate: { limit: 10_000_000, windowMs: 3_000 } } })).toThrow(/joinRate/);
  });
});

describe('limits, as properties (virtual time)', () => {
  it('a sliding window allows exactly what a model of "at most limit events in any window" allows', () => {
    const step = fc.oneof(fc.record({ take: fc.constant(true as const) }), fc.record({ advance: fc.integer({ min: 0, max: 2_000 }) }));
    fc.assert(
      fc.property(fc.integer({ min: 1, max: 8 }), fc.integer({ min: 1, max: 3_000 }), fc.array(step, { maxLength: 200 }), (limit, windowMs, steps) => {
        const window = new SlidingWindow({ limit, windowMs });
        const accepted: number[] = [];
        let now = 0;
        for (const s of steps) {
          if ('advance' in s) {
            now += s.advance;
            continue;
          }
          const inWindow = accepted.filter((at) => at > now - windowMs);
          const wait = window.take(now);
          if (inWindow.length < limit) {
            expect(wait).toBe(0);
            accepted.push(now);
          } else {
            // Refused, and told exactly when the oldest event in the window leaves it.
            expect(wait).toBe((inWindow[0] as number) + windowMs - now);
          }
        }
      }),
      fcOptions(300),
    );
  });

  it('a rate limiter forgets users whose events all left the window, so it holds only recent ones', () => {
    const limiter = new RateLimiter({ limit: 2, windowMs: 1_000 });
    for (let i = 0; i < 5_000; i++) limiter.take(`user${i}`, i);
    // Pruned as it went: the users of the last window (1,000) and those since the last prune remain.
    expect(limiter.size).toBeLessThan(2_100);
    expect(limiter.size).toBeGreaterThanOrEqual(1_000);
  });

  it('the hub refuses an upload exactly when a model of bytes and unfinished uploads per user says so', async () => {
    const users = ['alice', 'bob'] as const;
    const command = fc.oneof(
      fc.record({ op: fc.constant('create' as const), user: fc.constantFrom(...users), size: fc.integer({ min: 1, max: 400 }) }),
      fc.record({ op: fc.constant('complete' as const), pick: fc.nat() }),
      fc.record({ op: fc.constant('terminate' as const), pick: fc.nat() }),
    );
    await fc.assert(
      fc.asyncProperty(fc.array(command, { maxLength: 40 }), async (commands) => {
        const limits = { storedBytes: 1_000, unfinishedUploads: 3 };
        const hub = createHub({ limits });
        const uploads: { id: string; user: string; size: number; complete: boolean }[] = [];
        const held = (user: string) => uploads.filter((u) => u.user === user);
        for (const c of commands) {
          if (c.op === 'create') {
            const mine = held(c.user);
            const bytesHeld = mine.reduce((sum, u) => sum + u.size, 0);
            const unfinished = mine.filter((u) => !u.complete).length;
            const expected = unfinished >= limits.unfinishedUploads ? 'LimitExceeded' : bytesHeld + c.size > limits.storedBytes ? 'QuotaExceeded' : 'ok';
            const outcome = await hub.createUpload(c.user, { size: c.size, fileName: 'f' }).then(
              (status) => {
                uploads.push({ id: status.uploadId, user: c.user, size: c.size, complete: false });
                return 'ok';
              },
              (error: unknown) => failureOf(error)._tag,
            );
            expect(outcome).toBe(expected);
          } else if (uploads.length > 0) {
            const target = uploads[c.pick % uploads.length] as (typeof uploads)[number];
            if (c.op === 'terminate') {
              await hub.terminateUpload(target.user, target.id);
              uploads.splice(uploads.indexOf(target), 1);
            } else if (!target.complete) {
              await hub.appendUpload(target.user, target.id, 0, (async function* () {
                yield bytes(target.size);
              })());
              target.complete = true;
            }
          }
        }
        hub.close();
      }),
      fcOptions(100),
    );
  });

  it('the hub refuses a join exactly when a model of channels held and joins per window says so', async () => {
    const step = fc.oneof(
      fc.record({ join: fc.integer({ min: 0, max: 5 }) }),
      fc.record({ leave: fc.integer({ min: 0, max: 5 }) }),
      fc.record({ advance: fc.integer({ min: 1, max: 2_000 }) }),
    );
    await fc.assert(
      fc.asyncProperty(fc.array(step, { maxLength: 80 }), async (steps) => {
        const limits = { channels: 3, joinRate: { limit: 4, windowMs: 3_000 } };
        const w = world({ hub: { limits } });
        const login = await w.hub.login('alice', w.hub.issueToken('alice'));
        if (E.isLeft(login)) throw new Error('login failed');
        const joined = new Set<number>();
        const joins: number[] = [];
        for (const s of steps) {
          if ('advance' in s) w.clock.advance(s.advance);
          else if ('leave' in s) {
            await w.hub.leaveChannel(login.right, `c${s.leave}`);
            joined.delete(s.leave);
          } else {
            const now = w.clock.now();
            // The hub's order: already in it (free: it spends nothing), channels held, then the join rate.
            const expected = joined.has(s.join)
              ? 'AlreadyInChannel'
              : joined.size >= limits.channels
                ? 'LimitExceeded'
                : joins.filter((at) => at > now - 3_000).length >= limits.joinRate.limit
                  ? 'TooOften'
                  : 'ok';
            const result = await w.hub.joinChannel(login.right, `c${s.join}`);
            expect(E.isRight(result) ? 'ok' : result.left._tag).toBe(expected);
            if (expected === 'ok') joins.push(now);
            if (expected === 'ok') joined.add(s.join);
          }
        }
        w.hub.close();
      }),
      fcOptions(200),
    );
  });

  it('the hub refuses a login exactly when a model of logins per user per window says so', async () => {
    await fc.assert(
      fc.asyncProperty(fc.array(fc.oneof(fc.constantFrom('alice', 'bob'), fc.integer({ min: 1, max: 800 })), { maxLength: 60 }), async (steps) => {
        const w = world();
        const logins = new Map<string, number[]>();
        for (const s of steps) {
          if (typeof s === 'number') {
            w.clock.advance(s);
            continue;
          }
          const now = w.clock.now();
          const mine = logins.get(s) ?? [];
          const allowed = mine.filter((at) => at > now - 1_000).length < 2;
          const result = await w.hub.login(s, w.hub.issueToken(s));
          expect(E.isRight(result) ? 'ok' : result.left._tag).toBe(allowed ? 'ok' : 'TooOften');
          if (allowed) logins.set(s, [...mine, now]);
        }
        w.hub.close();
      }),
      fcOptions(200),
    );
  });

  it('the hub counts each message against its sender, peer and channel alike, per window', async () => {
    await fc.assert(
      fc.asyncProperty(fc.array(fc.oneof(fc.constant('peer' as const), fc.constant('channel' as const), fc.integer({ min: 1, max: 1_500 })), { maxLength: 60 }), async (steps) => {
        const w = world({ hub: { limits: { messageRate: { limit: 5, windowMs: 3_000 } } } });
        const alice = await w.hub.login('alice', w.hub.issueToken('alice'));
        const bob = await w.hub.login('bob', w.hub.issueToken('bob'));
        if (E.isLeft(alice) || E.isLeft(bob)) throw new Error('login failed');
        const session: HubSession = alice.right;
        await w.hub.joinChannel(session, 'room');
        const sent: number[] = [];
        for (const s of steps) {
          if (typeof s === 'number') {
            w.clock.advance(s);
            continue;
          }
          const now = w.clock.now();
          const allowed = sent.filter((at) => at > now - 3_000).length < 5;
          const result = s === 'peer' ? await w.hub.sendToPeer(session, 'bob', { messageType: 'TEXT', text: 'x' }) : await w.hub.sendToChannel(session, 'room', { messageType: 'TEXT', text: 'x' });
          expect(E.isRight(result) ? 'ok' : result.left._tag).toBe(allowed ? 'ok' : 'TooOften');
          if (allowed) sent.push(now);
        }
        w.hub.close();
      }),
      fcOptions(200),
    );
  });
});
