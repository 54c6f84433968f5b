/**
 * `redisUsage` (decision 92) against the test Redis: a user's quotas (unfinished uploads, stored bytes)
 * count across hubs on two connections (two processes) sharing one media store, one after the other and
 * at once, and as a model says over random commands spread over both hubs. The ledger persists (a new
 * node lists nothing), and is rebuilt from the store's listing when Redis lost it, or on demand.
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { createHub, failureOf, type Hub, type MediaStore, memoryStore, memoryUsage } from '../../src/index.js';
import { redisUsage } from '../../src/cluster/redis-usage.js';
import { fcOptions } from '../properties/support.js';
import { describeWithServices } from './services.js';
import { redisScope } from './state-support.js';

async function* bytes(size: number): AsyncIterable<Uint8Array> {
  yield new Uint8Array(size);
}

const outcomeOf = (promise: Promise<unknown>): Promise<string> => promise.then(() => 'ok', (error: unknown) => failureOf(error)._tag);

/** A store that counts its listings (a node that lists the store at start would show here). */
const listingsOf = (store: MediaStore): { readonly store: MediaStore; listings: number } => {
  const view = { listings: 0, store: { ...store, list: () => (view.listings++, store.list()) } };
  return view;
};

describeWithServices('the usage ledger in Redis', ['redis'], ({ redisUrl }) => {
  const scope = redisScope(redisUrl);
  // One connection per node, as one per process.
  const [nodeA, nodeB] = [scope.connect(), scope.connect()];
  let ledgers = 0;
  /** Two nodes sharing a store and a fresh ledger: each hub with its own connection. */
  const twoNodes = (limits: { unfinishedUploads?: number; storedBytes?: number }) => {
    const store = memoryStore();
    const keyPrefix = `${scope.prefix}ledger-${++ledgers}:`;
    const [a, b] = [nodeA, nodeB].map((redis) => createHub({ store, limits, usage: redisUsage({ redis, store, keyPrefix }) })) as [Hub, Hub];
    return { store, keyPrefix, a, b };
  };

  it('counts a user\'s unfinished uploads across hubs: the limit is for the cluster, not for each hub', async () => {
    const { a, b } = twoNodes({ unfinishedUploads: 3 });
    const first = await a.createUpload('alice', { size: 10, fileName: '1' });
    await b.createUpload('alice', { size: 10, fileName: '2' });
    await a.createUpload('alice', { size: 10, fileName: '3' });
    expect(await outcomeOf(b.createUpload('alice', { size: 10, fileName: '4' }))).toBe('LimitExceeded');
    expect(await outcomeOf(a.createUpload('alice', { size: 10, fileName: '4' }))).toBe('LimitExceeded');
    // Another user is not concerned; a completion on one hub frees a slot on the other.
    expect(await outcomeOf(b.createUpload('bob', { size: 10, fileName: 'b' }))).toBe('ok');
    await b.appendUpload('alice', first.uploadId, 0, bytes(10));
    expect(await outcomeOf(a.createUpload('alice', { size: 10, fileName: '4' }))).toBe('ok');
    for (const hub of [a, b]) hub.close();
  });

  it('counts a user\'s stored bytes across hubs, and a deletion on one hub frees them on the other', async () => {
    const { a, b } = twoNodes({ storedBytes: 1_000 });
    const kept = await a.createUpload('alice', { size: 600, fileName: 'a' });
    await a.appendUpload('alice', kept.uploadId, 0, bytes(600));
    await b.createUpload('alice', { size: 400, fileName: 'declared, not sent' });
    const refused = await b.createUpload('alice', { size: 1, fileName: 'one byte more' }).catch((error: unknown) => failureOf(error));
    expect(refused).toMatchObject({ _tag: 'QuotaExceeded', used: 1_000, requested: 1, quota: 1_000 });
    await b.terminateUpload('alice', kept.uploadId);
    expect(await outcomeOf(a.createUpload('alice', { size: 600, fileName: 'again' }))).toBe('ok');
    for (const hub of [a, b]) hub.close();
  });

  it('of creates at the same moment on two hubs, exactly as many as the quotas allow succeed', async () => {
    const byCount = twoNodes({ unfinishedUploads: 4 });
    const counted = await Promise.all(Array.from({ length: 12 }, (_, i) => outcomeOf((i % 2 ? byCount.a : byCount.b).createUpload('alice', { size: 10, fileName: 'f' }))));
    expect(counted.filter((o) => o === 'ok')).toHaveLength(4);
    expect(new Set(counted.filter((o) => o !== 'ok'))).toEqual(new Set(['LimitExceeded']));
    const byBytes = twoNodes({ storedBytes: 1_000 });
    const sized = await Promise.all(Array.from({ length: 12 }, (_, i) => outcomeOf((i % 2 ? byBytes.a : byBytes.b).createUpload('alice', { size: 300, fileName: 'f' }))));
    expect(sized.filter((o) => o === 'ok')).toHaveLength(3);
    expect(new Set(sized.filter((o) => o !== 'ok'))).toEqual(new Set(['QuotaExceeded']));
    for (const hub of [byCount.a, byCount.b, byBytes.a, byBytes.b]) hub.close();
  });

  it('refuses an upload exactly when a model of bytes and unfinished uploads per user says so, commands spread over two hubs', async () => {
    const users = ['alice', 'bob'] as const;
    const command = fc.oneof(
      fc.record({ op: fc.constant('create' as const), hub: fc.nat(1), user: fc.constantFrom(...users), size: fc.integer({ min: 1, max: 400 }) }),
      fc.record({ op: fc.constant('complete' as const), hub: fc.nat(1), pick: fc.nat() }),
      fc.record({ op: fc.constant('terminate' as const), hub: fc.nat(1), pick: fc.nat() }),
    );
    await fc.assert(
      fc.asyncProperty(fc.array(command, { minLength: 10, maxLength: 40 }), async (commands) => {
        const limits = { storedBytes: 1_000, unfinishedUploads: 3 };
        const { a, b, store, keyPrefix } = twoNodes(limits);
        const hubs = [a, b] as const;
        const uploads: { id: string; user: string; size: number; complete: boolean }[] = [];
        const held = (user: string) => uploads.filter((u) => u.user === user);
        for (const c of commands) {
          const hub = hubs[c.hub] as Hub;
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
              await hub.appendUpload(target.user, target.id, 0, bytes(target.size));
              target.complete = true;
            }
          }
        }
        // The Redis ledger and a memory ledger built from the store's listing agree, user by user.
        const ledger = redisUsage({ redis: nodeA, store, keyPrefix });
        const listed = memoryUsage(store);
        await listed.ready();
        for (const user of users) expect(await ledger.of(user)).toEqual(await listed.of(user));
        for (const hub of hubs) hub.close();
      }),
      fcOptions(60),
    );
  }, 60_000);

  it('persists: a node that starts later lists nothing and enforces what the cluster already holds', async () => {
    const { a, store, keyPrefix } = twoNodes({ unfinishedUploads: 2 });
    await a.createUpload('alice', { size: 10, fileName: '1' });
    await a.createUpload('alice', { size: 10, fileName: '2' });
    const later = listingsOf(store);
    const c = createHub({ store: later.store, limits: { unfinishedUploads: 2 }, usage: redisUsage({ redis: scope.connect(), store: later.store, keyPrefix }) });
    expect(await outcomeOf(c.createUpload('alice', { size: 10, fileName: '3' }))).toBe('LimitExceeded');
    expect(later.listings).toBe(0);
    a.close();
    c.close();
  });

  it('rebuilds from the store\'s listing when Redis lost the ledger, once, and counts right after', async () => {
    const { a, b, store, keyPrefix } = twoNodes({ unfinishedUploads: 3, storedBytes: 1_000 });
    const done = await a.createUpload('alice', { size: 100, fileName: 'done' });
    await a.appendUpload('alice', done.uploadId, 0, bytes(100));
    await b.createUpload('alice', { size: 200, fileName: 'open' });
    await b.createUpload('bob', { size: 50, fileName: 'bob' });
    // Redis lost the ledger (only this ledger's keys: the test Redis is shared).
    const redis = scope.connect();
    const ledgerKeys = ['built', 'bytes', 'unfinished', 'unfinished-bytes'].map((name) => `${keyPrefix}usage:${name}`);
    expect(await redis.del(...ledgerKeys)).toBe(4);
    const watched = listingsOf(store);
    const c = createHub({ store: watched.store, limits: { unfinishedUploads: 3, storedBytes: 1_000 }, usage: redisUsage({ redis: scope.connect(), store: watched.store, keyPrefix }) });
    // Alice holds 300 bytes (one unfinished): 700 more fit, then nothing.
    const refused = await c.createUpload('alice', { size: 701, fileName: 'too big' }).catch((error: unknown) => failureOf(error));
    expect(refused).toMatchObject({ _tag: 'QuotaExceeded', used: 300 });
    expect(watched.listings).toBe(1);
    expect(await outcomeOf(a.createUpload('alice', { size: 700, fileName: 'fits' }))).toBe('ok');
    expect(await redisUsage({ redis, store, keyPrefix }).of('alice')).toEqual({ bytes: 1_000, unfinished: 2 });
    expect(await redisUsage({ redis, store, keyPrefix }).of('bob')).toEqual({ bytes: 50, unfinished: 1 });
    expect(watched.listings).toBe(1);
    // No staging key is left behind.
    expect(await redis.keys(`${keyPrefix}usage:staging:*`)).toEqual([]);
    for (const hub of [a, b, c]) hub.close();
  });

  it('a completion or deletion that finds the ledger lost rebuilds it, counting the change through the store', async () => {
    const { a, store, keyPrefix } = twoNodes({ unfinishedUploads: 3 });
    const upload = await a.createUpload('alice', { size: 10, fileName: 'f' });
    const redis = scope.connect();
    await redis.del(...['built', 'bytes', 'unfinished', 'unfinished-bytes'].map((name) => `${keyPrefix}usage:${name}`));
    await a.appendUpload('alice', upload.uploadId, 0, bytes(10));
    expect(await redis.exists(`${keyPrefix}usage:built`)).toBe(1);
    expect(await redisUsage({ redis, store, keyPrefix }).of('alice')).toEqual({ bytes: 10, unfinished: 0 });
    a.close();
  });

  it('rebuild() replaces a ledger that drifted with the store\'s count', async () => {
    const { a, store, keyPrefix } = twoNodes({});
    await a.createUpload('alice', { size: 10, fileName: 'f' });
    const redis = scope.connect();
    await redis.hset(`${keyPrefix}usage:bytes`, 'alice', '999', 'ghost', '5');
    const ledger = redisUsage({ redis, store, keyPrefix });
    expect(await ledger.of('alice')).toEqual({ bytes: 999, unfinished: 1 });
    await ledger.rebuild();
    expect(await ledger.of('alice')).toEqual({ bytes: 10, unfinished: 1 });
    expect(await ledger.of('ghost')).toEqual({ bytes: 0, unfinished: 0 });
    expect(await ledger.reserve('alice', 5, { unfinishedUploads: 10, storedBytes: 100 })).toEqual({ reserved: true, unfinishedBytes: 15 });
    a.close();
  });

  describe('reservation answers, the same as the memory ledger\'s', () => {
    it('refuses by count before bytes, says what the user held, and counts everyone\'s unfinished bytes', async () => {
      const store = memoryStore();
      const ledger = redisUsage({ redis: scope.connect(), store, keyPrefix: `${scope.prefix}answers:` });
      const memory = memoryUsage(store);
      for (const usage of [ledger, memory]) {
        await usage.ready();
        const quota = { unfinishedUploads: 2, storedBytes: 100 };
        expect(await usage.reserve('alice', 60, quota)).toEqual({ reserved: true, unfinishedBytes: 60 });
        expect(await usage.reserve('bob', 10, quota)).toEqual({ reserved: true, unfinishedBytes: 70 });
        expect(await usage.reserve('alice', 41, quota)).toEqual({ reserved: false, over: 'storedBytes', held: { bytes: 60, unfinished: 1 } });
        expect(await usage.reserve('alice', 40, quota)).toEqual({ reserved: true, unfinishedBytes: 110 });
        expect(await usage.reserve('alice', 1, { ...quota, storedBytes: 1_000 })).toEqual({ reserved: false, over: 'unfinishedUploads', held: { bytes: 100, unfinished: 2 } });
        await usage.completed('alice', 60);
        await usage.released('alice', 40, 'partial');
        await usage.released('bob', 10, 'partial');
        expect(await usage.of('alice')).toEqual({ bytes: 60, unfinished: 0 });
        expect(await usage.of('bob')).toEqual({ bytes: 0, unfinished: 0 });
        await usage.released('alice', 60, 'complete');
        expect(await usage.reserve('carol', 1, quota)).toEqual({ reserved: true, unfinishedBytes: 1 });
      }
      // Users holding nothing are forgotten: the hashes hold only carol.
      expect(await scope.connect().hkeys(`${scope.prefix}answers:usage:bytes`)).toEqual(['carol']);
    });
  });
});
