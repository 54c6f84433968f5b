/**
 * `redisUploadStates` (decision 91) against the test Redis: the upload-claim cases and the restart case
 * that `memoryUploadStates` passes, and what only a shared Redis shows: of two appends racing on two hubs
 * with two connections (two processes) exactly one claims the upload; a claim held by a node that died
 * runs out and the upload resumes elsewhere; expiry is the hub's clock, Redis's TTL only a backstop.
 */
import { CLAIM_TTL_MS } from '../../src/hub/upload-claim.js';
import { describe, expect, it } from 'vitest';
import { createHub, failureOf, memoryStore, memoryUsage, virtualClock } from '../../src/index.js';
import type { Clock, TimerHandle } from '../../src/core/clock.js';
import { redisUploadStates, UPLOAD_STATE_GC_MARGIN_MS } from '../../src/cluster/redis-upload-states.js';
import { uploadClaimCases } from '../properties/upload-claims-cases.js';
import { settle } from '../properties/support.js';
import { restartCases } from '../server/file-store-upload-states-cases.js';
import { describeWithServices } from './services.js';
import { redisScope } from './state-support.js';

async function* bytes(size: number, fill: number): AsyncIterable<Uint8Array> {
  yield new Uint8Array(size).fill(fill);
}

describeWithServices('upload states in Redis', ['redis'], ({ redisUrl }) => {
  const scope = redisScope(redisUrl);
  const redis = scope.connect();
  const keyPrefix = scope.prefix;

  describe('the upload-claim cases', () => {
    uploadClaimCases((clock) => redisUploadStates({ redis, keyPrefix, clock }), 200);
  });

  describe('the restart case, each start with its own connection', () => {
    restartCases((clock) => redisUploadStates({ redis: scope.connect(), keyPrefix, clock }));
  });

  it('of two appends racing on two hubs with two connections, exactly one claims the upload, every time', async () => {
    const clock = virtualClock(1_000);
    const store = memoryStore();
    // One ledger for both hubs, as they share the store: whichever completes an upload releases it.
    const usage = memoryUsage(store);
    const [a, b] = [0, 1].map(() => createHub({ clock, store, usage, uploads: redisUploadStates({ redis: scope.connect(), keyPrefix, clock }) })) as [ReturnType<typeof createHub>, ReturnType<typeof createHub>];
    const wins = { a: 0, b: 0 };
    for (let round = 0; round < 40; round++) {
      const { uploadId } = await a.createUpload('alice', { size: 16, fileName: 'f' });
      const [ra, rb] = await Promise.all([settle(a.appendUpload('alice', uploadId, 0, bytes(16, 0xa))), settle(b.appendUpload('alice', uploadId, 0, bytes(16, 0xb)))]);
      expect([ra, rb].filter((r) => r.ok)).toHaveLength(1);
      const lost = ra.ok ? rb : ra;
      expect(!lost.ok && failureOf(lost.error)._tag).toBe('Conflict');
      wins[ra.ok ? 'a' : 'b']++;
      const parts: Uint8Array[] = [];
      for await (const chunk of a.readMedia(uploadId, 0)) parts.push(chunk);
      expect([...Buffer.concat(parts)]).toEqual([...new Uint8Array(16).fill(ra.ok ? 0xa : 0xb)]);
    }
    console.log(`two-connection race: hub a won ${wins.a}, hub b won ${wins.b} of 40`);
    a.close();
    b.close();
  });

  it('of two compare-and-sets from two connections expecting the same word, exactly one succeeds', async () => {
    const clock = virtualClock(5_000);
    const [one, two] = [redisUploadStates({ redis: scope.connect(), keyPrefix, clock }), redisUploadStates({ redis: scope.connect(), keyPrefix, clock })];
    for (let round = 0; round < 100; round++) {
      const uploadId = `race-${round}`;
      expect(await one.create({ uploadId, owner: 'alice', size: 10, offset: 0, claim: null, expiresAt: 10_000 })).toBe(true);
      const expected = { offset: 0, claim: null };
      const claim = (by: string) => ({ offset: 0, claim: { by, until: 65_000 }, expiresAt: 10_000 });
      const results = await Promise.all([one.compareAndSetOffset(uploadId, expected, claim('one')), two.compareAndSetOffset(uploadId, expected, claim('two'))]);
      expect(results.filter(Boolean)).toHaveLength(1);
      expect((await one.get(uploadId))?.claim?.by).toBe(results[0] ? 'one' : 'two');
      await one.delete(uploadId);
    }
  });

  it('a claim held by a node that died runs out, then the upload resumes through another node at the stored offset', async () => {
    const clock = virtualClock(1_000);
    const store = memoryStore();
    // The node that dies reads the same time but runs no timer any more (its claim is never renewed).
    const dead: Clock = { now: () => clock.now(), setTimeout: (): TimerHandle => undefined, clearTimeout: () => undefined };
    const dying = redisUploadStates({ redis: scope.connect(), keyPrefix, clock: dead });
    const a = createHub({ clock: dead, store, uploads: dying });
    const { uploadId } = await a.createUpload('alice', { size: 20, fileName: 'f' });
    let sent: () => void = () => undefined;
    const firstSent = new Promise<void>((resolve) => (sent = resolve));
    // The append of the node that dies: 8 bytes, then nothing more, ever (no release).
    void a.appendUpload('alice', uploadId, 0, (async function* () {
      yield new Uint8Array(8).fill(1);
      sent();
      await new Promise<never>(() => undefined);
    })());
    await firstSent;
    const b = createHub({ clock, store, uploads: redisUploadStates({ redis: scope.connect(), keyPrefix, clock }) });
    await expect(b.appendUpload('alice', uploadId, 8, bytes(12, 2))).rejects.toMatchObject({ failure: { _tag: 'Conflict' } });
    clock.advance(CLAIM_TTL_MS - 1);
    await expect(b.appendUpload('alice', uploadId, 8, bytes(12, 2))).rejects.toMatchObject({ failure: { _tag: 'Conflict' } });
    clock.advance(1);
    expect(await b.appendUpload('alice', uploadId, 8, bytes(12, 2))).toMatchObject({ offset: 20, complete: true });
    a.close();
    b.close();
  });

  it('expires a state by the hub clock it is given, however far from real time, with a Redis TTL only as a backstop', async () => {
    // Year 2200 on the hub's clock: Redis's own clock would call every state long expired or far away.
    const start = Date.UTC(2200, 0, 1);
    const clock = virtualClock(start);
    const states = redisUploadStates({ redis, keyPrefix, clock });
    const uploadId = 'far-future';
    const state = { uploadId, owner: 'alice', size: 10, offset: 0, claim: null, expiresAt: start + 1_000 };
    expect(await states.create(state)).toBe(true);
    expect(await states.get(uploadId)).toEqual(state);
    const ttl = await redis.pttl(`${keyPrefix}upload:${uploadId}`);
    expect(ttl).toBeGreaterThan(UPLOAD_STATE_GC_MARGIN_MS);
    expect(ttl).toBeLessThanOrEqual(1_000 + UPLOAD_STATE_GC_MARGIN_MS);
    // Still there for a new create while live, at 999 ms; gone for every call at 1,000 ms.
    clock.advance(999);
    expect(await states.create(state)).toBe(false);
    expect(await states.compareAndSetOffset(uploadId, { offset: 0, claim: null }, { offset: 0, claim: { by: 'x', until: start + 60_999 }, expiresAt: start + 1_999 })).toBe(true);
    expect(await states.get(uploadId)).toMatchObject({ claim: { by: 'x', until: start + 60_999 }, expiresAt: start + 1_999 });
    clock.advance(1_000);
    expect(await states.get(uploadId)).toBeUndefined();
    expect(await states.compareAndSetOffset(uploadId, { offset: 0, claim: { by: 'x', until: 0 } }, { offset: 5, claim: null, expiresAt: start + 9_999 })).toBe(false);
    expect(await states.create({ ...state, offset: 3, expiresAt: start + 5_000 })).toBe(true);
    expect(await states.get(uploadId)).toMatchObject({ offset: 3, claim: null });
    await states.delete(uploadId);
    expect(await redis.exists(`${keyPrefix}upload:${uploadId}`)).toBe(0);
  });

  it('compares the offset and the claim holder, not the claim\'s end, so a holder renews by compare-and-set', async () => {
    const clock = virtualClock(1_000);
    const states = redisUploadStates({ redis, keyPrefix, clock });
    const uploadId = 'compare';
    await states.create({ uploadId, owner: 'alice', size: 10, offset: 0, claim: null, expiresAt: 100_000 });
    const held = { offset: 0, claim: { by: 'h', until: 61_000 } };
    expect(await states.compareAndSetOffset(uploadId, { offset: 0, claim: null }, { ...held, expiresAt: 100_000 })).toBe(true);
    expect(await states.compareAndSetOffset(uploadId, { offset: 1, claim: { by: 'h', until: 61_000 } }, { ...held, expiresAt: 100_000 })).toBe(false);
    expect(await states.compareAndSetOffset(uploadId, { offset: 0, claim: { by: 'other', until: 61_000 } }, { ...held, expiresAt: 100_000 })).toBe(false);
    expect(await states.compareAndSetOffset(uploadId, { offset: 0, claim: null }, { ...held, expiresAt: 100_000 })).toBe(false);
    expect(await states.compareAndSetOffset(uploadId, { offset: 0, claim: { by: 'h', until: 1 } }, { offset: 7, claim: null, expiresAt: 90_000 })).toBe(true);
    expect(await states.get(uploadId)).toEqual({ uploadId, owner: 'alice', size: 10, offset: 7, claim: null, expiresAt: 90_000 });
    expect(await states.compareAndSetOffset('never-created', { offset: 0, claim: null }, { offset: 1, claim: null, expiresAt: 90_000 })).toBe(false);
  });

  it('reads a state Redis holds malformed as a typed failure naming the field, never as a state', async () => {
    const states = redisUploadStates({ redis, keyPrefix, clock: virtualClock(0) });
    await redis.hset(`${keyPrefix}upload:broken`, { owner: 'alice', size: 'ten', offset: '0', by: '', until: '0', expiresAt: '5' });
    const error = await states.get('broken').catch((thrown: unknown) => thrown);
    expect(failureOf(error)).toMatchObject({ _tag: 'Unknown', detail: expect.stringMatching(/upload broken .*malformed.*size/) });
  });
});
