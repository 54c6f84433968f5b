/**
 * A message the server took whose answer the link lost (issue 15, decision 103): the transport sends it
 * again, the same call frame or the same request with its message ID, and the peer receives it once while
 * the send resolves. Over WebSocket (the link resends its call: answered from the kept answer when the
 * session resumed, and by the hub's memory of message IDs after a fresh login) and over HTTP (the request
 * resent once its connection died, and after a fresh login). Real sockets through a proxy that holds the
 * answer and then cuts; the server on a virtual clock, so a session's grace passes when the spec says.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { type Client, createClient, textMessage, virtualClock, type VirtualClock } from '../../src/index.js';
import type { FerryServer } from '../../src/server/server.js';
import { httpTransport } from '../../transports/http.js';
import type { Transport } from '../../transports/transport.js';
import { wsTransport } from '../../transports/ws.js';
import { callsOf, type Exchange, nodeProxy, type NodeProxy, recordingFetch, recordingWebSocket, type SocketLog, until, wsOf } from './failover-support.js';
import { delay, start } from './http-support.js';

/** The server's default grace of a session without a connection, over both wires. */
const GRACE_MS = 60_000;
const reconnectDelays = [0, 50];

const clients: Client[] = [];
const proxies: NodeProxy[] = [];
afterEach(async () => {
  for (const proxy of proxies) {
    proxy.release('down');
    proxy.setDown(false);
  }
  await Promise.allSettled(clients.splice(0).map((client) => client.logout()));
  await Promise.allSettled(proxies.splice(0).map((proxy) => proxy.close()));
});

interface World {
  readonly clock: VirtualClock;
  readonly server: FerryServer;
  readonly proxy: NodeProxy;
  /** Texts bob received from peers, in order. */
  readonly texts: string[];
  /** Alice's online status as bob, who watches her, is told it. */
  readonly statuses: string[];
  login(userId: string, transport: Transport): Promise<Client>;
}

const world = async (): Promise<World> => {
  const clock = virtualClock(Date.UTC(2026, 11, 1));
  const server = await start({ clock });
  const proxy = await nodeProxy(server.url);
  proxies.push(proxy);
  const login = async (userId: string, transport: Transport): Promise<Client> => {
    const client = createClient({ transport, requestTimeoutMs: 10_000 });
    clients.push(client);
    await client.login({ userId, token: server.issueToken(userId) });
    return client;
  };
  return { clock, server, proxy, texts: [], statuses: [], login };
};

/** Bob, logged in straight at the server, recording the texts he receives. */
const bobAt = async (w: World, transport: Transport): Promise<Client> => {
  const bob = await w.login('bob', transport);
  bob.peerMessages$.subscribe(({ message }) => w.texts.push(message.messageType === 'TEXT' ? message.text : message.messageType));
  bob.peersOnlineStatus$.subscribe((status) => w.statuses.push(status['alice'] ?? '?'));
  await bob.subscribePeersOnlineStatus(['alice']);
  return bob;
};

/**
 * Sends from alice while the proxy holds what the server answers her; once bob has the message (the server
 * took it), lets answers pass again and cuts her connections, so the answer is lost with them. With
 * `forgotten`, her link stays down until her session's grace passed on the server's clock.
 */
const sendAndLoseTheAnswer = async (w: World, alice: Client, forgotten: boolean) => {
  await w.proxy.holdAfter(0, 'down');
  const sent = alice.sendMessageToPeer('bob', textMessage('once'), { messageId: 'resend-1' });
  await until(() => w.texts.length === 1, 5_000, 'the message at bob');
  w.proxy.release('down');
  if (forgotten) w.proxy.setDown(true);
  w.proxy.cutAll();
  if (forgotten) {
    // Once the server saw her connection go (she is UNREACHABLE), her grace runs on its clock.
    await until(() => w.statuses.at(-1) === 'UNREACHABLE', 5_000, 'alice unreachable');
    w.clock.advance(GRACE_MS + 1);
    await delay(50);
    w.proxy.setDown(false);
  }
  return sent;
};

describe('a message whose answer a dropped WebSocket lost', () => {
  const welcomed = (log: readonly SocketLog[]) => log.filter((socket) => socket.received.some((frame) => frame.type === 'welcome'));

  it.each([
    ['the session resumed: the kept answer', false, true],
    ['the session was forgotten: a fresh login, the hub’s memory of message IDs', true, false],
  ])('is resent as the same call frame and delivered once when %s', async (_, forgotten, resumed) => {
    const w = await world();
    const log: SocketLog[] = [];
    const alice = await w.login('alice', wsTransport({ url: wsOf(w.proxy.url), WebSocket: recordingWebSocket(log), reconnectDelays }));
    await bobAt(w, wsTransport({ url: w.server.wsUrl }));
    const sent = sendAndLoseTheAnswer(w, alice, forgotten);
    expect(await sent).toEqual({ state: 'RECEIVED', messageId: 'resend-1' });
    const sockets = welcomed(log);
    expect(sockets).toHaveLength(2);
    expect(sockets[1]?.received.find((frame) => frame.type === 'welcome')).toMatchObject({ resumed });
    const [first, again] = sockets.map((socket) => callsOf(socket, 'sendToPeer'));
    expect(first).toHaveLength(1);
    expect(again).toEqual(first);
    expect(first?.[0]).toMatchObject({ messageId: 'resend-1', message: { messageType: 'TEXT', text: 'once' } });
    await alice.sendMessageToPeer('bob', textMessage('next'));
    await until(() => w.texts.length === 2, 5_000, '"next" at bob');
    expect(w.texts).toEqual(['once', 'next']);
  }, 30_000);
});

describe('a message whose answer a dropped HTTP connection lost', () => {
  it.each([
    ['its session lived on', false],
    ['its session was forgotten and logged in afresh', true],
  ])('is resent with the same query and body and delivered once when %s', async (_, forgotten) => {
    const w = await world();
    const log: Exchange[] = [];
    const alice = await w.login('alice', httpTransport({ url: w.proxy.url, fetch: recordingFetch(log), reconnectDelays }));
    await bobAt(w, httpTransport({ url: w.server.url }));
    const sent = sendAndLoseTheAnswer(w, alice, forgotten);
    expect(await sent).toEqual({ state: 'RECEIVED', messageId: 'resend-1' });
    const posts = log.filter((exchange) => exchange.method === 'POST' && exchange.path.endsWith('/peers/bob/messages'));
    const answered = posts.filter((post) => post.status === 200);
    expect(answered).toHaveLength(1);
    const [first] = posts;
    expect(first?.failed).toBe(true);
    expect(first?.search).toBe('?messageId=resend-1');
    for (const post of posts) expect([post.search, post.body]).toEqual([first?.search, first?.body]);
    // A fresh login made a new session: the resend went to it.
    expect(answered[0]?.path === first?.path).toBe(!forgotten);
    await alice.sendMessageToPeer('bob', textMessage('next'));
    await until(() => w.texts.length === 2, 5_000, '"next" at bob');
    expect(w.texts).toEqual(['once', 'next']);
  }, 30_000);
});
