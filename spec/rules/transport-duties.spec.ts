/**
 * The duties every transport has, written once in `transports/transport-duties.ts` (decision 78) and
 * tested once here, against the memory transport: a call whose signal already aborted starts nothing;
 * after the session ended (closed by us, or by the hub) every call but cleanup says NotLoggedIn; an
 * aborted creation rejects at once and leaves no record; terminating what is gone is fine.
 */
import { firstValueFrom, toArray } from 'rxjs';
import { afterEach, describe, expect, it } from 'vitest';
import {
  type ByteSource,
  createHub,
  Failure,
  fault,
  type Hub,
  type MediaStore,
  memoryStore,
  memoryTransport,
  type Session,
  type SessionEvent,
  textMessage,
  virtualClock,
} from '../../src/index.js';
import { withMediaDuties } from '../../transports/transport-duties.js';
import { bytes, flush, reason, until } from './support.js';

const UNKNOWN = 'AAAAAAAAAAAAAAAAAAAAAA';
const live = (): AbortSignal => new AbortController().signal;
const aborted = (): AbortSignal => {
  const controller = new AbortController();
  controller.abort(reason());
  return controller.signal;
};
const sourceOf = (data: Uint8Array): ByteSource => ({
  size: data.length,
  async *chunks(offset) {
    yield data.subarray(offset);
  },
});
const entriesOf = async (store: MediaStore): Promise<unknown[]> => {
  const all: unknown[] = [];
  for await (const entry of store.list()) all.push(entry);
  return all;
};
/** The failure tag a call rejects with, or `resolved`. */
const outcome = (call: Promise<unknown>): Promise<string> => call.then(() => 'resolved', (error: { failure?: { _tag: string } }) => error.failure?._tag ?? String(error));
const drain = async (media: AsyncIterable<Uint8Array>): Promise<void> => {
  for await (const chunk of media) void chunk;
};

/** Every call of a session but `terminateUpload` and `close`, with the signal given. */
const everyCall = (session: Session, signal: AbortSignal): Record<string, Promise<unknown>> => ({
  renewToken: session.renewToken?.('t', { signal }) ?? Promise.reject(new Error('no renewToken')),
  createUpload: session.createUpload({ size: 10, fileName: 'x' }, { signal }),
  getUpload: session.getUpload(UNKNOWN, { signal }),
  appendUpload: session.appendUpload(UNKNOWN, 0, sourceOf(bytes(10)), { signal, onProgress: () => undefined }),
  getMedia: session.getMedia(UNKNOWN, { signal }),
  readMedia: drain(session.readMedia(UNKNOWN, 0, { signal })),
  sendToPeer: session.sendToPeer('bob', textMessage('x'), { signal, messageId: 'm-1' }),
  joinChannel: session.joinChannel('room', { signal }),
  leaveChannel: session.leaveChannel('room', { signal }),
  sendToChannel: session.sendToChannel('room', textMessage('x'), { signal, messageId: 'm-2' }),
  channelMembers: session.channelMembers('room', { signal }),
  channelMemberCounts: session.channelMemberCounts(['room'], { signal }),
  queryPresence: session.queryPresence(['bob'], { signal }),
  subscribePresence: session.subscribePresence(['bob'], { signal }),
  unsubscribePresence: session.unsubscribePresence(['bob'], { signal }),
});

describe('the duties of every transport (through the memory transport)', () => {
  let hub: Hub;
  let store: MediaStore;
  afterEach(() => hub.close());
  const connect = (userId: string): Promise<Session> => memoryTransport(hub).connect({ userId, token: hub.issueToken(userId) }, { signal: live() });
  const fresh = (): void => {
    store = memoryStore();
    hub = createHub({ clock: virtualClock(0), store });
  };

  it('rejects every call whose signal already aborted with Interrupted, the reason as cause, and starts nothing', async () => {
    fresh();
    const alice = await connect('alice');
    const bob = await connect('bob');
    const received = firstValueFrom(bob.events$.pipe(toArray()));
    const signal = aborted();
    const calls = { ...everyCall(alice, signal), terminateUpload: alice.terminateUpload(UNKNOWN, { signal }) };
    for (const [name, call] of Object.entries(calls)) {
      await expect(call, name).rejects.toMatchObject({ failure: { _tag: 'Interrupted' }, cause: signal.reason });
    }
    await expect(memoryTransport(hub).connect({ userId: 'carol', token: hub.issueToken('carol') }, { signal })).rejects.toMatchObject({
      failure: { _tag: 'Interrupted' },
    });
    expect(await entriesOf(store)).toEqual([]);
    expect(await alice.channelMembers('room', { signal: live() }).catch((e: { failure: { _tag: string } }) => e.failure._tag)).toBe('NotInChannel');
    await bob.close({ signal: live() });
    expect(await received).toEqual([]);
  });

  it('rejects every call after close with NotLoggedIn, completes the events at once, and still cleans up', async () => {
    fresh();
    const alice = await connect('alice');
    const { uploadId } = await alice.createUpload({ size: 10, fileName: 'x' }, { signal: live() });
    const events = firstValueFrom(alice.events$.pipe(toArray()));
    const closing = alice.close({ signal: live() });
    // Over for its caller from the moment close is called, before the logout is done.
    for (const [name, call] of Object.entries(everyCall(alice, live()))) expect(await outcome(call), name).toBe('NotLoggedIn');
    await closing;
    expect(await events).toEqual([]);
    // Cleanup still works after the end, and terminating what is gone is not an error.
    await alice.terminateUpload(uploadId, { signal: live() });
    await alice.terminateUpload(uploadId, { signal: live() });
    await alice.terminateUpload(UNKNOWN, { signal: live() });
    expect(await entriesOf(store)).toEqual([]);
    await alice.close({ signal: live() });
  });

  it('rejects every call with NotLoggedIn once the hub ended the session, after the aborted event', async () => {
    fresh();
    const first = await connect('alice');
    const events: SessionEvent[] = [];
    const completed = new Promise<void>((resolve) => first.events$.subscribe({ next: (event) => events.push(event), complete: resolve }));
    const second = await connect('alice');
    await completed;
    expect(events).toEqual([expect.objectContaining({ type: 'aborted', cause: 'REMOTE_LOGIN' })]);
    for (const [name, call] of Object.entries(everyCall(first, live()))) expect(await outcome(call), name).toBe('NotLoggedIn');
    await second.close({ signal: live() });
  });

  it('rejects a creation aborted while the hub creates at once, and terminates the upload the hub created anyway', async () => {
    const inner = memoryStore();
    let release = (): void => undefined;
    const held = new Promise<void>((resolve) => (release = resolve));
    let creating = false;
    store = {
      ...inner,
      create: async (meta, now) => {
        creating = true;
        await inner.create(meta, now);
        await held;
      },
    };
    hub = createHub({ clock: virtualClock(0), store });
    const alice = await connect('alice');
    const controller = new AbortController();
    const creation = alice.createUpload({ size: 10, fileName: 'x' }, { signal: controller.signal });
    await until(() => creating, 'the hub creating the upload');
    const why = reason();
    controller.abort(why);
    // Rejected while the hub is still creating: the caller does not wait for it.
    await expect(creation).rejects.toMatchObject({ failure: { _tag: 'Interrupted' }, cause: why });
    expect(await entriesOf(inner)).toHaveLength(1);
    release();
    await flush();
    expect(await entriesOf(inner)).toEqual([]);
    await alice.close({ signal: live() });
  });

  it('keeps the events of a session from connect until the first subscriber, in order', async () => {
    fresh();
    const alice = await connect('alice');
    const bob = await connect('bob');
    await bob.sendToPeer('alice', textMessage('one'), { signal: live(), messageId: 'one' });
    await bob.sendToPeer('alice', textMessage('two'), { signal: live(), messageId: 'two' });
    const events = firstValueFrom(alice.events$.pipe(toArray()));
    await alice.close({ signal: live() });
    expect((await events).map((event) => (event.type === 'peerMessage' && event.message.messageType === 'TEXT' ? event.message.text : event.type))).toEqual(['one', 'two']);
    await bob.close({ signal: live() });
  });

  it('gives a bare media client the same creation and termination duties (withMediaDuties)', async () => {
    let created = 0;
    let terminated: string[] = [];
    let answer = (): void => undefined;
    const media = withMediaDuties({
      createUpload: async (request: { readonly size: number; readonly fileName: string }, { signal }: { readonly signal: AbortSignal }) => {
        // The duty hands the transport a signal that never aborts: creation is never cut halfway.
        expect(signal.aborted).toBe(false);
        await new Promise<void>((resolve) => (answer = resolve));
        created += 1;
        return { uploadId: `u${created}`, size: request.size, offset: 0, complete: false };
      },
      terminateUpload: async (uploadId: string, _options: { readonly signal: AbortSignal }) => {
        terminated = [...terminated, uploadId];
        throw fault(Failure.notExist(uploadId));
      },
    });
    const controller = new AbortController();
    const creation = media.createUpload({ size: 5, fileName: '' }, { signal: controller.signal });
    controller.abort(reason());
    expect(await outcome(creation)).toBe('Interrupted');
    answer();
    await flush(2);
    expect(terminated).toEqual(['u1']);
    await expect(media.terminateUpload('u1', { signal: live() })).resolves.toBeUndefined();
    expect(await outcome(media.createUpload({ size: 5, fileName: '' }, { signal: aborted() }))).toBe('Interrupted');
    expect(created).toBe(1);
  });
});
