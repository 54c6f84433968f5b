/**
 * Every request has a deadline on the injected clock: a login, a message, a channel operation and the
 * cleanup after a cancel all end with TIMEOUT instead of hanging when the other side never answers.
 */
import { describe, expect, it } from 'vitest';
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
});
