/**
 * Offline messages reach a client over the real wires in paced batches (decision 98): 200 messages of
 * 32 KiB kept for bob (8.8 MiB on the wire, base64 included) all arrive, in the order sent and marked
 * offline, at a login whose server keeps a replay of 1 MiB per session, the default, which would have
 * dropped the oldest had they all been delivered at the opening. Over HTTP and WebSocket, and through a
 * reader that takes its events slowly.
 */
import { filter, firstValueFrom, take, toArray } from 'rxjs';
import { afterEach, describe, expect, it } from 'vitest';
import { type Client, createClient, MAX_MESSAGE_SIZE, OFFLINE_MESSAGES_PER_RECEIVER, type PeerMessageEvent, rawMessage } from '../../src/index.js';
import { httpTransport } from '../../transports/http.js';
import type { Transport } from '../../transports/transport.js';
import { wsTransport } from '../../transports/ws.js';
import { start } from './http-support.js';

const transports: readonly (readonly [string, (server: { url: string; wsUrl: string }) => Transport])[] = [
  ['HTTP', (server) => httpTransport({ url: server.url })],
  ['WebSocket', (server) => wsTransport({ url: server.wsUrl })],
];

/** A message of exactly 32 KiB whose first four bytes number it. */
const numbered = (i: number): ReturnType<typeof rawMessage> => {
  const bytes = new Uint8Array(MAX_MESSAGE_SIZE);
  new DataView(bytes.buffer).setUint32(0, i);
  return rawMessage(bytes);
};
const numberOf = (event: PeerMessageEvent): number =>
  event.message.messageType === 'RAW' ? new DataView(event.message.rawMessage.buffer, event.message.rawMessage.byteOffset).getUint32(0) : -1;

describe.each(transports)('offline messages in batches over %s', (_name, transportOf) => {
  const clients: Client[] = [];
  afterEach(async () => {
    await Promise.allSettled(clients.splice(0).map((client) => client.logout()));
  });

  it(`delivers ${OFFLINE_MESSAGES_PER_RECEIVER} kept messages of 32 KiB, in order, through a 1 MiB replay`, async () => {
    const server = await start({ limits: { messageRate: { limit: Infinity, windowMs: 1 } } });
    expect(server.hub.limits).toBeDefined();
    const alice = createClient({ transport: transportOf(server) });
    clients.push(alice);
    await alice.login({ userId: 'alice', token: server.issueToken('alice') });
    for (let i = 0; i < OFFLINE_MESSAGES_PER_RECEIVER; i++) {
      expect((await alice.sendMessageToPeer('bob', numbered(i), { enableOfflineMessaging: true })).state).toBe('CACHED_BY_SERVER');
    }
    const bob = createClient({ transport: transportOf(server) });
    clients.push(bob);
    const received = firstValueFrom(
      bob.peerMessages$.pipe(
        filter((event) => event.isOfflineMessage),
        take(OFFLINE_MESSAGES_PER_RECEIVER),
        toArray(),
      ),
    );
    await bob.login({ userId: 'bob', token: server.issueToken('bob') });
    // A live message sent meanwhile arrives too, unmarked.
    expect((await alice.sendMessageToPeer('bob', numbered(9_999))).state).toBe('RECEIVED');
    const events = await received;
    expect(events.map(numberOf)).toEqual(Array.from({ length: OFFLINE_MESSAGES_PER_RECEIVER }, (_, i) => i));
    expect(events.every((event) => event.peerId === 'alice' && event.message.messageType === 'RAW' && event.message.rawMessage.length === MAX_MESSAGE_SIZE)).toBe(true);
  }, 30_000);
});
