/**
 * The cases of upload claims, for every implementation of `UploadStates`: appends to one upload from two
 * hubs sharing one media store and one upload-state store, as two server processes would. Whatever the
 * interleaving (fast-check's scheduler orders every chunk and the answer of every call to the shared
 * state), exactly one append wins and the other is refused with `Conflict`; the media holds the winner's
 * bytes and only them. Also with a state store that never saw the upload (a restart), and on virtual
 * time, a claim that runs out while its request stalls passes to another request.
 * `upload-claims.spec.ts` runs them on `memoryUploadStates`, `spec/cluster/redis-upload-states.spec.ts`
 * on Redis.
 */
import fc from 'fast-check';
import { expect, it } from 'vitest';
import { createHub, failureOf, type Hub, memoryStore, type UploadStates, type VirtualClock, virtualClock } from '../../src/index.js';
import { fcOptions, nodeSha256, settle } from './support.js';

const UPLOADER = 'alice';

/** Upload states whose every call is ordered by the scheduler, as calls to a Redis would interleave. */
const scheduledStates = (states: UploadStates, s: fc.Scheduler): UploadStates => ({
  get: s.scheduleFunction(states.get.bind(states)),
  create: s.scheduleFunction(states.create.bind(states)),
  compareAndSetOffset: s.scheduleFunction(states.compareAndSetOffset.bind(states)),
  delete: s.scheduleFunction(states.delete.bind(states)),
});

/** `count` chunks of `size` bytes filled with `fill`, each let through by the scheduler. */
async function* scheduledChunks(s: fc.Scheduler, fill: number, count: number, size: number): AsyncIterable<Uint8Array> {
  for (let i = 0; i < count; i++) {
    await s.schedule(Promise.resolve(), `chunk ${fill}.${i}`);
    yield new Uint8Array(size).fill(fill);
  }
}

const bytesOf = async (hub: Hub, mediaId: string): Promise<Uint8Array> => {
  const parts: Uint8Array[] = [];
  for await (const chunk of hub.readMedia(mediaId, 0)) parts.push(chunk);
  return Buffer.concat(parts);
};

const sha256 = (bytes: Uint8Array): string => {
  const hasher = nodeSha256();
  hasher.update(bytes);
  return hasher.digest();
};

/** Where the cases get the upload states two hubs share: a fresh view on `clock`, shared by both. */
export type StatesFor = (clock: VirtualClock) => UploadStates;

/**
 * Declares the cases (call inside a `describe`). `runs` is the property's number of runs.
 * @example describe('memory', () => uploadClaimCases((clock) => memoryUploadStates({ clock }), 200))
 */
export const uploadClaimCases = (statesFor: StatesFor, runs: number): void => {
  it('exactly one of two concurrent appends wins, whatever the interleaving; the other gets Conflict', async () => {
    const seen = { a: 0, b: 0 };
    await fc.assert(
      fc.asyncProperty(
        fc.scheduler(),
        fc.integer({ min: 1, max: 4 }),
        fc.integer({ min: 1, max: 4 }),
        fc.boolean(),
        async (s, chunksA, chunksB, restarted) => {
          const clock = virtualClock(1_000);
          const store = memoryStore();
          const shared = statesFor(clock);
          const size = 12;
          // After a restart the shared state knows nothing of the upload: each hub rebuilds it from the store.
          const creator = createHub({ clock, store, ...(restarted ? {} : { uploads: shared }) });
          const { uploadId } = await creator.createUpload(UPLOADER, { size, fileName: 'f' });
          const uploads = scheduledStates(shared, s);
          const [a, b] = [createHub({ clock, store, uploads }), createHub({ clock, store, uploads })];
          const appendA = settle(a.appendUpload(UPLOADER, uploadId, 0, scheduledChunks(s, 0xa, chunksA, size / chunksA)));
          const appendB = settle(b.appendUpload(UPLOADER, uploadId, 0, scheduledChunks(s, 0xb, chunksB, size / chunksB)));
          const [ra, rb] = await s.waitFor(Promise.all([appendA, appendB]));
          const won = [ra, rb].filter((r) => r.ok);
          expect(won).toHaveLength(1);
          const lost = [ra, rb].find((r) => !r.ok);
          expect(lost && !lost.ok && failureOf(lost.error)._tag).toBe('Conflict');
          const fill = ra.ok ? 0xa : 0xb;
          seen[ra.ok ? 'a' : 'b']++;
          expect(won[0]?.ok && won[0].value).toMatchObject({ uploadId, offset: size, complete: true });
          const expected = new Uint8Array(size).fill(fill);
          expect(Buffer.compare(await bytesOf(a, uploadId), expected)).toBe(0);
          expect((await b.mediaInfo(uploadId)).sha256).toBe(sha256(expected));
          // Nothing is left claimed or pending: the state of a complete upload is gone.
          expect(await shared.get(uploadId)).toBeUndefined();
          for (const hub of [creator, a, b]) hub.close();
        },
      ),
      fcOptions(runs),
    );
    // Both hubs won in some interleavings.
    expect(seen.a).toBeGreaterThan(0);
    expect(seen.b).toBeGreaterThan(0);
  }, 120_000);

  it('a request that stalls past its claim loses the upload to the next one, and none of its later bytes land', async () => {
    const clock = virtualClock(1_000);
    const store = memoryStore();
    const uploads = statesFor(clock);
    const [a, b] = [createHub({ clock, store, uploads }), createHub({ clock, store, uploads })];
    const { uploadId } = await a.createUpload(UPLOADER, { size: 30, fileName: 'f' });
    let resume: () => void = () => undefined;
    const stalled = new Promise<void>((resolve) => (resume = resolve));
    let stalledAt: () => void = () => undefined;
    const firstChunkIn = new Promise<void>((resolve) => (stalledAt = resolve));
    const first = settle(
      a.appendUpload(
        UPLOADER,
        uploadId,
        0,
        (async function* () {
          yield new Uint8Array(10).fill(1);
          stalledAt();
          await stalled;
          yield new Uint8Array(20).fill(1);
        })(),
      ),
    );
    await firstChunkIn;
    // While the claim holds, a second request is refused.
    await expect(b.appendUpload(UPLOADER, uploadId, 10, (async function* () {})())).rejects.toMatchObject({
      failure: { _tag: 'Conflict', detail: expect.stringMatching(/from another request/) },
    });
    clock.advance(60_000);
    const second = await b.appendUpload(UPLOADER, uploadId, 10, (async function* () {
      yield new Uint8Array(20).fill(2);
    })());
    expect(second).toMatchObject({ offset: 30, complete: true });
    resume();
    const late = await first;
    expect(!late.ok && failureOf(late.error)._tag).toBe('Conflict');
    expect([...(await bytesOf(b, uploadId))]).toEqual([...new Uint8Array(10).fill(1), ...new Uint8Array(20).fill(2)]);
    a.close();
    b.close();
  });

  it('a partial append releases its claim at the offset it reached, and the next append continues from there', async () => {
    const clock = virtualClock(1_000);
    const store = memoryStore();
    const uploads = statesFor(clock);
    const [a, b] = [createHub({ clock, store, uploads }), createHub({ clock, store, uploads })];
    const { uploadId } = await a.createUpload(UPLOADER, { size: 8, fileName: 'f' });
    expect(await a.appendUpload(UPLOADER, uploadId, 0, (async function* () { yield new Uint8Array(3); })())).toMatchObject({ offset: 3, complete: false });
    expect(await uploads.get(uploadId)).toMatchObject({ offset: 3, claim: null, owner: UPLOADER, size: 8 });
    expect(await b.appendUpload(UPLOADER, uploadId, 3, (async function* () { yield new Uint8Array(5); })())).toMatchObject({ offset: 8, complete: true });
    a.close();
    b.close();
  });
};
