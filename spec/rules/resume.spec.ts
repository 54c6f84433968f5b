/**
 * Resumption after a dropped link, on the memory transport wrapped to drop at chosen moments: a
 * transient failure is retried from the hub's offset, an upload whose last acknowledgement was lost
 * finishes `done` (not failed, and its media is kept), and a link that stays down ends with TIMEOUT.
 */
import { describe, expect, it } from 'vitest';
import { createClient, createHub, Failure, fault, memoryStore, memoryTransport, type Transport, virtualClock } from '../../src/index.js';
import { advanceUntil, bytes, expectSameBytes, flush } from './support.js';

/** Wraps a transport so that `appendUpload` fails with `Network` the first `drops` times, after doing its work. */
const droppingAcks = (inner: Transport, drops: number): Transport => ({
  async connect(credentials, options) {
    const session = await inner.connect(credentials, options);
    let left = drops;
    return {
      ...session,
      async appendUpload(uploadId, offset, source, opts) {
        const state = await session.appendUpload(uploadId, offset, source, opts);
        if (left-- > 0) throw fault(Failure.network('the acknowledgement was lost'));
        return state;
      },
    };
  },
});

/** Wraps a transport so that `appendUpload` always fails with `Network` before sending anything. */
const downLink = (inner: Transport): Transport => ({
  async connect(credentials, options) {
    const session = await inner.connect(credentials, options);
    return { ...session, appendUpload: async () => Promise.reject(fault(Failure.network('no route to host'))) };
  },
});

describe('resume after a dropped link', () => {
  it('an upload whose final acknowledgement was lost ends done with its media ID, and the media is kept', async () => {
    const clock = virtualClock(0);
    const store = memoryStore();
    const hub = createHub({ clock, store });
    const client = createClient({ transport: droppingAcks(memoryTransport(hub), 1), clock });
    await client.login({ userId: 'alice', token: hub.issueToken('alice') });
    const sent = bytes(150_000);
    const task = client.createFileMessageByUploading(sent);
    await advanceUntil(clock, () => store.bytesHeld === 150_000, 'the bytes to arrive');
    await flush();
    const message = await task.result;
    expectSameBytes(await client.downloadMediaToMemory(message.mediaId).result, sent);
    hub.close();
  });

  it('a link that stays down is retried until the idle timeout, then fails with 3 and leaves nothing', async () => {
    const clock = virtualClock(0);
    const store = memoryStore();
    const hub = createHub({ clock, store });
    const client = createClient({ transport: downLink(memoryTransport(hub)), clock, idleTimeoutMs: 30_000 });
    await client.login({ userId: 'alice', token: hub.issueToken('alice') });
    const task = client.createFileMessageByUploading(bytes(10_000));
    let settled = false;
    const outcome = task.result.then(
      () => undefined,
      (e: { code: number }) => e.code,
    );
    void outcome.then(() => {
      settled = true;
    });
    await advanceUntil(clock, () => settled, 'the idle timeout', 1_000, 10_000);
    expect(await outcome).toBe(3);
    expect(clock.now()).toBeGreaterThanOrEqual(30_000);
    let entries = 0;
    for await (const _ of store.list()) entries++;
    expect(entries).toBe(0);
    hub.close();
  });
});
