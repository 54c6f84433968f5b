/**
 * Every request has a deadline on the injected clock: a login, a message, a channel operation and the
 * cleanup after a cancel all end with TIMEOUT instead of hanging when the other side never answers.
 */
import { describe, expect, it } from 'vitest';
import { SHARED_CALLS, withDeadline } from '../../src/client/deadline.js';
import { createClient, createHub, type FerryError, memoryTransport, textMessage, type Transport, virtualClock } from '../../src/index.js';
import { bytes, flush } from './support.js';

/** A promise that settles only when the signal aborts, as a well-behaved transport call that never gets an answer. */
const silent = (signal: AbortSignal): Promise<never> =>
  new Promise((_, reject) => signal.addEventListener('abort', () => reject(signal.reason), { once: true }));

const outcome = (promise: Promise<unknown>): Promise<FerryError | 'ok'> => promise.then(() => 'ok' as const, (e: FerryError) => e);

describe('deadlines', () => {
  it('a login that gets no answer fails with login code 9 after requestTimeoutMs, and the client is DISCONNECTED', async () => {
    const clock = virtualClock(0);
    const transport: Transport = { connect: (_credentials, { signal }) => silent(signal) };
    const client = createClient({ transport, clock, requestTimeoutMs: 5_000 });
    const states: string[] = [];
    client.connectionState$.subscribe((s) => states.push(s));
    const login = outcome(client.login({ userId: 'alice', token: 'token' }));
    await flush();
    clock.advance(4_999);
    await flush();
    expect(states.at(-1)).toBe('CONNECTING');
    clock.advance(1);
    expect(await login).toMatchObject({ name: 'LoginError', code: 9 });
    expect(states.at(-1)).toBe('DISCONNECTED');
  });

  it('a peer message and a channel message without an answer fail with SENT_TIMEOUT (2)', async () => {
    const clock = virtualClock(0);
    const hub = createHub({ clock });
    const inner = memoryTransport(hub);
    const transport: Transport = {
      async connect(credentials, options) {
        const session = await inner.connect(credentials, options);
        return {
          ...session,
          sendToPeer: (_peer, _message, { signal }) => silent(signal),
          sendToChannel: (_channel, _message, { signal }) => silent(signal),
        };
      },
    };
    const client = createClient({ transport, clock, requestTimeoutMs: 3_000 });
    await client.login({ userId: 'alice', token: hub.issueToken('alice') });
    const room = client.createChannel('room');
    await room.join();
    const toPeer = outcome(client.sendMessageToPeer('bob', textMessage('hello?')));
    const toRoom = outcome(room.sendMessage(textMessage('hello?')));
    await flush();
    clock.advance(3_000);
    expect(await toPeer).toMatchObject({ name: 'PeerMessageError', code: 2 });
    expect(await toRoom).toMatchObject({ name: 'ChannelMessageError', code: 2 });
    hub.close();
  });

  it('a cleanup that never finishes cannot hold a cancelled task: its result rejects with 6 at the deadline, the timeout in its cause', async () => {
    const clock = virtualClock(0);
    const hub = createHub({ clock });
    const inner = memoryTransport(hub, { gate: () => new Promise<void>(() => undefined) });
    const transport: Transport = {
      async connect(credentials, options) {
        const session = await inner.connect(credentials, options);
        return { ...session, terminateUpload: (_id, { signal }) => silent(signal) };
      },
    };
    const client = createClient({ transport, clock, requestTimeoutMs: 2_000 });
    await client.login({ userId: 'alice', token: hub.issueToken('alice') });
    const task = client.createFileMessageByUploading(bytes(100_000));
    await flush();
    await task.cancel();
    const result = outcome(task.result);
    await flush();
    clock.advance(2_000);
    const error = await result;
    expect(error).toMatchObject({ name: 'UploadError', code: 6 });
    expect(String((error as FerryError).cause)).toMatch(/no answer within 2000 ms/);
    hub.close();
  });

  describe('calls started together share a signal and a timer, never a deadline they would not have had alone', () => {
    /** A call that records its signal and settles only when told (or rejects when its signal aborts). */
    const held = () => {
      const calls: { signal: AbortSignal; answer: (value: string) => void }[] = [];
      const run = (signal: AbortSignal): Promise<string> =>
        new Promise<string>((resolve, reject) => {
          calls.push({ signal, answer: resolve });
          signal.addEventListener('abort', () => reject(new Error('the transport saw the abort')), { once: true });
        });
      return { calls, run };
    };

    it(`at most ${SHARED_CALLS} calls started at one clock reading share a signal; each settles by its own answer or at its deadline with Timeout`, async () => {
      const clock = virtualClock(0);
      const { calls, run } = held();
      const results = Array.from({ length: SHARED_CALLS + 1 }, () => withDeadline(clock, 1_000, run).then((v) => v, (e: Error) => e));
      expect(new Set(calls.map((c) => c.signal)).size).toBe(2);
      expect(calls.slice(0, SHARED_CALLS).every((c) => c.signal === calls[0]?.signal)).toBe(true);
      calls[0]?.answer('first');
      await flush();
      expect(calls[0]?.signal.aborted).toBe(false);
      clock.advance(999);
      await flush();
      expect(calls.some((c) => c.signal.aborted)).toBe(false);
      clock.advance(1);
      const settled = await Promise.all(results);
      expect(settled[0]).toBe('first');
      for (const outcome of settled.slice(1)) expect(String((outcome as Error).message)).toMatch(/no answer within 1000 ms/);
      expect(calls.every((c) => c.signal.aborted)).toBe(true);
      expect(clock.pendingTimers).toBe(0);
    });

    it('a call started 1 ms later gets its own signal and its own deadline; timers are cleared once all answered', async () => {
      const clock = virtualClock(0);
      const { calls, run } = held();
      const first = withDeadline(clock, 1_000, run).catch((e: Error) => e);
      clock.advance(1);
      const second = withDeadline(clock, 1_000, run);
      expect(calls[1]?.signal).not.toBe(calls[0]?.signal);
      clock.advance(999);
      expect(String(await first)).toMatch(/no answer within 1000 ms/);
      expect(calls[1]?.signal.aborted).toBe(false);
      calls[1]?.answer('second');
      expect(await second).toBe('second');
      expect(clock.pendingTimers).toBe(0);
    });

    it('a call with a parent signal has a signal of its own, aborted with the parent', async () => {
      const clock = virtualClock(0);
      const { calls, run } = held();
      const parent = new AbortController();
      const shared = withDeadline(clock, 1_000, run);
      const chained = withDeadline(clock, 1_000, run, parent.signal).catch((e: Error) => e);
      expect(calls[1]?.signal).not.toBe(calls[0]?.signal);
      parent.abort(new Error('stop'));
      expect(String(await chained)).toBe('Error: the transport saw the abort');
      expect(calls[0]?.signal.aborted).toBe(false);
      calls[0]?.answer('shared');
      expect(await shared).toBe('shared');
      expect(clock.pendingTimers).toBe(0);
    });
  });
});
