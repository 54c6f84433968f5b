/**
 * Sends that arrive once (issue 15), with fc.scheduler(): the sender's transport loses requests (the hub
 * never sees them), loses answers (the hub took the send, the caller gets a `Network` failure) or answers
 * too late (the caller's deadline passes on the virtual clock first: `Timeout`), as fast-check chooses,
 * and the app retries every failed send with the same `messageId` until it resolves; fast-check also
 * orders every request and answer among the app's concurrent sends. Whatever happens, each receiver gets
 * every message exactly once, online or (kept for it) at its next login. Also a send retried with the same ID by a new client (an app restart):
 * not delivered again within 24 hours, delivered again after.
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import {
  type Client,
  createClient,
  createHub,
  FerryError,
  Failure,
  fault,
  type Hub,
  MESSAGE_ID_TTL_MS,
  memoryTransport,
  textMessage,
  virtualClock,
  type VirtualClock,
} from '../../src/index.js';
import { DEFAULT_REQUEST_TIMEOUT_MS } from '../../src/core/limits.js';
import type { Session, Transport } from '../../transports/transport.js';
import { fcOptions } from './support.js';

const DAY = 24 * 3600_000;

/** What happens to one send on the sender's link. */
type Fault = 'deliver' | 'loseRequest' | 'loseAnswer' | 'late';
const faultArb: fc.Arbitrary<Fault> = fc.constantFrom('deliver', 'loseRequest', 'loseAnswer', 'late');

/** What the faults did, over every run: each kind must really have been met by a retry. */
const seen = { reachedTwice: 0, lost: 0, late: 0 };

/**
 * The memory transport with a link that fails sends as `faults` says, one per send in the order they
 * start (then `deliver` once they run out), each request and answer ordered by the scheduler.
 */
const faultyTransport = (hub: Hub, s: fc.Scheduler, clock: VirtualClock, faults: readonly Fault[]): Transport => {
  const inner = memoryTransport(hub);
  let next = 0;
  /** The message IDs the hub answered at least once. */
  const reached = new Set<string>();
  const send = async <T>(messageId: string, run: () => Promise<T>): Promise<T> => {
    const what = faults[next++] ?? 'deliver';
    await s.schedule(Promise.resolve(), `request ${messageId} (${what})`);
    if (what === 'loseRequest') {
      seen.lost++;
      throw fault(Failure.network('the request was lost'));
    }
    const answer = await run();
    if (reached.has(messageId)) seen.reachedTwice++;
    reached.add(messageId);
    await s.schedule(Promise.resolve(), `answer ${messageId}`);
    if (what === 'loseAnswer') {
      seen.lost++;
      throw fault(Failure.network('the answer was lost'));
    }
    if (what === 'late') {
      // The caller's deadline passes before the answer comes: it fails with Timeout and ignores this.
      seen.late++;
      clock.advance(DEFAULT_REQUEST_TIMEOUT_MS);
    }
    return answer;
  };
  return {
    async connect(credentials, options) {
      const session = await inner.connect(credentials, options);
      const faulty: Session = {
        ...session,
        sendToPeer: (peerId, message, callOptions) => send(callOptions.messageId, () => session.sendToPeer(peerId, message, callOptions)),
        sendToChannel: (channelId, message, callOptions) =>
          send(callOptions.messageId, () => session.sendToChannel(channelId, message, callOptions)),
      };
      return faulty;
    },
  };
};

/** Retries `send` until it resolves, as an app would; every failure must be one a retry is for. */
const untilSent = async <T>(send: () => Promise<T>): Promise<T> => {
  for (let attempt = 0; attempt < 100; attempt++) {
    try {
      return await send();
    } catch (error) {
      // 1: the link failed (Network, or a call cut by a shared deadline); 2: no answer in time.
      if (!(error instanceof FerryError && (error.code === 1 || error.code === 2))) throw error;
    }
  }
  throw new Error('a send never resolved');
};

const idOf = (i: number): string => `app-message-${i}`;

/** A hub on a virtual clock, a receiver per name logged in over a faultless link. */
const scene = async (receivers: readonly string[]) => {
  const clock = virtualClock(1_000_000);
  const hub = createHub({ clock });
  const plain = memoryTransport(hub);
  const received = new Map<string, { messageId: string; text: string }[]>();
  const clients = new Map<string, Client>();
  for (const name of receivers) {
    const client = createClient({ transport: plain, clock });
    await client.login({ userId: name, token: hub.issueToken(name, 30 * DAY) });
    clients.set(name, client);
    received.set(name, []);
    const log = received.get(name) as { messageId: string; text: string }[];
    client.peerMessages$.subscribe(({ messageId, message }) => log.push({ messageId, text: message.messageType === 'TEXT' ? message.text : '?' }));
  }
  return { clock, hub, clients, received };
};

/** Each message arrived exactly once, with its own text. */
const expectOnce = (log: readonly { messageId: string; text: string }[], count: number): void => {
  expect([...log].sort((a, b) => a.messageId.localeCompare(b.messageId))).toEqual(
    Array.from({ length: count }, (_, i) => ({ messageId: idOf(i), text: `message ${i}` })).sort((a, b) => a.messageId.localeCompare(b.messageId)),
  );
};

describe('sends that arrive once, whatever the link does', () => {
  it('peer messages: every message once, each messageId once, under lost requests, lost answers and late answers', async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.scheduler(),
        fc.integer({ min: 1, max: 5 }),
        fc.array(faultArb, { maxLength: 16 }),
        fc.boolean(),
        async (s, count, faults, offline) => {
          const { clock, hub, clients, received } = await scene(['bob']);
          const bob = clients.get('bob') as Client;
          // Offline, the messages are kept for bob's next login: a retry must not keep one twice.
          if (offline) await bob.logout();
          const alice = createClient({ transport: faultyTransport(hub, s, clock, faults), clock });
          await alice.login({ userId: 'alice', token: hub.issueToken('alice', 30 * DAY) });
          const sends = Array.from({ length: count }, (_, i) =>
            untilSent(() => alice.sendMessageToPeer('bob', textMessage(`message ${i}`), { messageId: idOf(i), enableOfflineMessaging: offline })),
          );
          const results = await s.waitFor(Promise.all(sends));
          const state = offline ? 'CACHED_BY_SERVER' : 'RECEIVED';
          expect(results).toEqual(Array.from({ length: count }, (_, i) => ({ state, messageId: idOf(i) })));
          if (offline) await bob.login({ userId: 'bob', token: hub.issueToken('bob', 30 * DAY) });
          expectOnce(received.get('bob') ?? [], count);
          hub.close();
        },
      ),
      fcOptions(150),
    );
    expect(seen.reachedTwice).toBeGreaterThan(0);
    expect(seen.lost).toBeGreaterThan(0);
    expect(seen.late).toBeGreaterThan(0);
  }, 60_000);

  it('channel messages: every member gets every message once under the same faults', async () => {
    const before = seen.reachedTwice;
    await fc.assert(
      fc.asyncProperty(fc.scheduler(), fc.integer({ min: 1, max: 5 }), fc.array(faultArb, { maxLength: 16 }), async (s, count, faults) => {
        const { clock, hub, clients } = await scene(['bob', 'carol']);
        const alice = createClient({ transport: faultyTransport(hub, s, clock, faults), clock });
        await alice.login({ userId: 'alice', token: hub.issueToken('alice', 30 * DAY) });
        const logs = new Map<string, { messageId: string; text: string }[]>();
        for (const [name, client] of clients) {
          const channel = client.createChannel('room');
          await channel.join();
          const log: { messageId: string; text: string }[] = [];
          logs.set(name, log);
          channel.messages$.subscribe(({ messageId, message }) => log.push({ messageId, text: message.messageType === 'TEXT' ? message.text : '?' }));
        }
        const room = alice.createChannel('room');
        await room.join();
        const sends = Array.from({ length: count }, (_, i) => untilSent(() => room.sendMessage(textMessage(`message ${i}`), { messageId: idOf(i) })));
        const results = await s.waitFor(Promise.all(sends));
        expect(results).toEqual(Array.from({ length: count }, (_, i) => ({ messageId: idOf(i) })));
        for (const name of ['bob', 'carol']) expectOnce(logs.get(name) ?? [], count);
        hub.close();
      }),
      fcOptions(150),
    );
    expect(seen.reachedTwice).toBeGreaterThan(before);
  }, 60_000);

  it('a send retried by a new client (an app restart) is not delivered again within 24 hours, and is after', async () => {
    const seenBoth = { again: 0, once: 0 };
    await fc.assert(
      fc.asyncProperty(
        fc.oneof(fc.integer({ min: 0, max: 2 * MESSAGE_ID_TTL_MS }), fc.constantFrom(MESSAGE_ID_TTL_MS - 1, MESSAGE_ID_TTL_MS)),
        fc.boolean(),
        async (later, channel) => {
          const { clock, hub, clients, received } = await scene(['bob']);
          const bob = clients.get('bob') as Client;
          const bobRoom = bob.createChannel('room');
          const inRoom: string[] = [];
          bobRoom.messages$.subscribe(({ messageId }) => inRoom.push(messageId));
          await bobRoom.join();
          const send = async (app: Client): Promise<unknown> => {
            if (!channel) return app.sendMessageToPeer('bob', textMessage('message 0'), { messageId: idOf(0) });
            const room = app.createChannel('room');
            await room.join();
            return room.sendMessage(textMessage('message 0'), { messageId: idOf(0) });
          };
          const first = createClient({ transport: memoryTransport(hub), clock });
          await first.login({ userId: 'alice', token: hub.issueToken('alice') });
          const answer = await send(first);
          clock.advance(later);
          // The app restarts: a new client, a new login (which ends the old session), the same message ID.
          const second = createClient({ transport: memoryTransport(hub), clock });
          await second.login({ userId: 'alice', token: hub.issueToken('alice') });
          expect(await send(second)).toEqual(answer);
          const deliveries = channel ? inRoom : (received.get('bob') ?? []).map(({ messageId }) => messageId);
          const again = later >= MESSAGE_ID_TTL_MS;
          expect(deliveries).toEqual(again ? [idOf(0), idOf(0)] : [idOf(0)]);
          seenBoth[again ? 'again' : 'once']++;
          hub.close();
        },
      ),
      fcOptions(100),
    );
    expect(seenBoth.again).toBeGreaterThan(0);
    expect(seenBoth.once).toBeGreaterThan(0);
  }, 60_000);
});
