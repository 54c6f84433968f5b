/**
 * An append's outcome is its own, whatever releasing its claim does afterwards (decision 91): a release
 * that fails (the upload states' store is unreachable) is reported through `onStateError`, never thrown
 * over the append's answer, and the claim simply runs out after `CLAIM_TTL_MS` on the hub's clock. A
 * usage ledger that fails to record a completion does not undo it either.
 */
import { describe, expect, it } from 'vitest';
import { createHub, failureOf, fault, Failure, memoryStore, memoryUploadStates, memoryUsage, type Usage, type UploadStates, virtualClock } from '../../src/index.js';
import { CLAIM_TTL_MS } from '../../src/hub/upload-claim.js';

async function* chunk(size: number, fill = 7): AsyncIterable<Uint8Array> {
  yield new Uint8Array(size).fill(fill);
}

/** Upload states whose releases (a compare-and-set to no claim, a delete) fail while `failing` is set. */
const flakyReleases = (states: UploadStates): UploadStates & { failing: boolean } => {
  const unreachable = () => fault(Failure.network('the upload states are unreachable'));
  const flaky = {
    failing: true,
    get: (id: string) => states.get(id),
    create: (state: Parameters<UploadStates['create']>[0]) => states.create(state),
    compareAndSetOffset: async (...args: Parameters<UploadStates['compareAndSetOffset']>) => {
      if (flaky.failing && args[2].claim === null) throw unreachable();
      return states.compareAndSetOffset(...args);
    },
    delete: async (id: string) => {
      if (flaky.failing) throw unreachable();
      return states.delete(id);
    },
  };
  return flaky;
};

const setup = (usage?: (store: ReturnType<typeof memoryStore>) => Usage) => {
  const clock = virtualClock(1_000);
  const store = memoryStore();
  const uploads = flakyReleases(memoryUploadStates({ clock }));
  const reported: unknown[] = [];
  const hub = createHub({ clock, store, uploads, onStateError: (error) => reported.push(error), ...(usage ? { usage: usage(store) } : {}) });
  return { clock, store, uploads, reported, hub };
};

describe('releasing an append\'s claim', () => {
  it('a complete append stays complete when its release fails: the failure is reported, not thrown', async () => {
    const { hub, reported } = setup();
    const { uploadId } = await hub.createUpload('alice', { size: 10, fileName: 'f' });
    expect(await hub.appendUpload('alice', uploadId, 0, chunk(10))).toMatchObject({ uploadId, offset: 10, complete: true });
    expect((await hub.mediaInfo(uploadId)).size).toBe(10);
    expect(reported).toHaveLength(1);
    expect(failureOf(reported[0])).toMatchObject({ _tag: 'Unknown', detail: expect.stringMatching(new RegExp(`releasing the claim on upload ${uploadId} failed`)) });
    expect(failureOf((reported[0] as Error).cause)._tag).toBe('Network');
    hub.close();
  });

  it('a partial append answers its offset when its release fails, and the claim runs out after its TTL on the hub\'s clock', async () => {
    const { hub, reported, clock, uploads } = setup();
    const { uploadId } = await hub.createUpload('alice', { size: 10, fileName: 'f' });
    expect(await hub.appendUpload('alice', uploadId, 0, chunk(4))).toMatchObject({ offset: 4, complete: false });
    expect(reported).toHaveLength(1);
    uploads.failing = false;
    // The claim was not released: the next request is refused until it runs out, then continues at 4.
    await expect(hub.appendUpload('alice', uploadId, 4, chunk(6))).rejects.toMatchObject({ failure: { _tag: 'Conflict' } });
    clock.advance(CLAIM_TTL_MS - 1);
    await expect(hub.appendUpload('alice', uploadId, 4, chunk(6))).rejects.toMatchObject({ failure: { _tag: 'Conflict' } });
    clock.advance(1);
    expect(await hub.appendUpload('alice', uploadId, 4, chunk(6))).toMatchObject({ offset: 10, complete: true });
    expect(reported).toHaveLength(1);
    hub.close();
  });

  it('a failed append rejects with its own failure when its release fails too, and the failure of the release is reported', async () => {
    const { hub, reported } = setup();
    const { uploadId } = await hub.createUpload('alice', { size: 10, fileName: 'f' });
    const own = new Error('the client went away');
    const failing = (async function* () {
      yield new Uint8Array(3);
      throw own;
    })();
    const error = await hub.appendUpload('alice', uploadId, 0, failing).catch((thrown: unknown) => thrown);
    expect(error).toBe(own);
    expect(reported).toHaveLength(1);
    expect(await hub.uploadStatus('alice', uploadId)).toMatchObject({ offset: 3, complete: false });
    hub.close();
  });

  it('a complete append stays complete when the usage ledger fails to record it: reported, not thrown', async () => {
    const { hub, reported, uploads } = setup((store) => {
      const usage = memoryUsage(store);
      return { ...usage, completed: async () => Promise.reject(fault(Failure.network('the ledger is unreachable'))) };
    });
    uploads.failing = false;
    const { uploadId } = await hub.createUpload('alice', { size: 10, fileName: 'f' });
    expect(await hub.appendUpload('alice', uploadId, 0, chunk(10))).toMatchObject({ offset: 10, complete: true });
    expect(reported.map((error) => failureOf(error)._tag)).toEqual(['Network']);
    // The claim was released: nothing holds the upload's state any more.
    expect(await uploads.get(uploadId)).toBeUndefined();
    hub.close();
  });
});
