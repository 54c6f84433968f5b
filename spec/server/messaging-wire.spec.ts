/**
 * The messaging calls of issue 15 on both wires, raw (decision 103): the shape of each answer, a send
 * without a message ID still taken (the hub picks one) and a send with one answered the same twice; a
 * client reading an answer without `state` (an older server) as RECEIVED; and hostile input (not arrays,
 * 10,000 IDs, long and control-character IDs, `__proto__` as an ID or a key, bodies that are not objects,
 * bad query parameters and fields) answered with the documented failure and status, never a crash: the
 * server serves on after every case.
 */
import type { AddressInfo } from 'node:net';
import { WebSocketServer } from 'ws';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { type Client, createClient, textMessage } from '../../src/index.js';
import { nodeFetch } from '../../src/platform/node-fetch.js';
import type { FerryServer } from '../../src/server/server.js';
import { httpTransport } from '../../transports/http.js';
import type { Transport } from '../../transports/transport.js';
import { wsTransport } from '../../transports/ws.js';
import { until } from './failover-support.js';
import { bearer, type Reply, send, start } from './http-support.js';
import { type Raw, type RawFrame, rawLoggedIn, stillServing } from './ws-raw.js';

const MESSAGE = { messageType: 'TEXT', text: 'hi' } as const;
/** The four ID-list calls, by their WebSocket op, with their HTTP path under the session and field. */
const LIST_CALLS = {
  channelMemberCounts: { path: '/channel-member-counts', field: 'channelIds' },
  queryPresence: { path: '/presence', field: 'peerIds' },
  subscribePresence: { path: '/presence/subscribe', field: 'peerIds' },
  unsubscribePresence: { path: '/presence/unsubscribe', field: 'peerIds' },
} as const;
type ListCall = keyof typeof LIST_CALLS;

/** Hostile ID lists, the same on both wires: what is sent, the HTTP status and the failure. */
const HOSTILE_LISTS: readonly (readonly [string, ListCall, unknown, number, string])[] = [
  ['a string for the channel IDs', 'channelMemberCounts', 'room', 400, 'InvalidArgument'],
  ['no channel IDs', 'channelMemberCounts', [], 400, 'InvalidArgument'],
  ['10,000 channel IDs', 'channelMemberCounts', Array<string>(10_000).fill('a'), 429, 'LimitExceeded'],
  ['a channel ID of 65 characters', 'channelMemberCounts', ['c'.repeat(65)], 400, 'InvalidArgument'],
  ['a number among the channel IDs', 'channelMemberCounts', ['room', 7], 400, 'InvalidArgument'],
  ['an array-like object for the peer IDs', 'queryPresence', { 0: 'bob', length: 1 }, 400, 'InvalidArgument'],
  ['257 peer IDs to query', 'queryPresence', Array<string>(257).fill('a'), 400, 'InvalidArgument'],
  ['10,000 peer IDs to query', 'queryPresence', Array<string>(10_000).fill('a'), 400, 'InvalidArgument'],
  ['a peer ID with a control character', 'queryPresence', ['bo\u0000b'], 400, 'InvalidArgument'],
  ['a peer ID of blanks', 'queryPresence', ['   '], 400, 'InvalidArgument'],
  ['null for the peer IDs', 'subscribePresence', null, 400, 'InvalidArgument'],
  ['513 peer IDs to subscribe', 'subscribePresence', Array.from({ length: 513 }, (_, i) => `p${i}`), 429, 'LimitExceeded'],
  ['10,000 peer IDs to unsubscribe', 'unsubscribePresence', Array<string>(10_000).fill('a'), 400, 'InvalidArgument'],
  ['nested arrays', 'unsubscribePresence', [['bob']], 400, 'InvalidArgument'],
];

let server: FerryServer;
beforeAll(async () => {
  // Every case logs in afresh: the login rate (2 per second per user) is not what this spec tests.
  server = await start({ limits: { loginRate: { limit: Infinity, windowMs: 1_000 } } }, { keep: true });
});
afterAll(() => server.close());

const clients: Client[] = [];
afterEach(async () => {
  await Promise.allSettled(clients.splice(0).map((client) => client.logout()));
});
const loggedIn = async (userId: string, transport: Transport): Promise<Client> => {
  const client = createClient({ transport });
  clients.push(client);
  await client.login({ userId, token: server.issueToken(userId) });
  return client;
};

describe('over HTTP', () => {
  /** A session opened with a plain request (no event stream): its URL and its user's token. */
  const session = async (userId: string): Promise<{ readonly url: string; readonly token: string }> => {
    const token = server.issueToken(userId);
    const reply = await send(`${server.url}/v1/sessions`, { method: 'POST', headers: json(token), body: Buffer.from(JSON.stringify({ userId })) });
    expect(reply.status).toBe(201);
    const { sessionId } = JSON.parse(reply.body.toString('utf8')) as { sessionId: string };
    return { url: `${server.url}/v1/sessions/${encodeURIComponent(sessionId)}`, token };
  };
  const json = (token: string): Record<string, string> => ({ ...bearer(token), 'Content-Type': 'application/json' });
  const post = (url: string, token: string, body: unknown, raw = false): Promise<Reply> =>
    send(url, { method: 'POST', headers: json(token), body: Buffer.from(raw ? String(body) : JSON.stringify(body)) });
  const bodyOf = (reply: Reply): unknown => JSON.parse(reply.body.toString('utf8'));

  afterEach(async () => {
    // Still serving: a message and an answer after every case.
    const { url, token } = await session('healthy');
    expect((await post(`${url}/peers/healthy/messages`, token, MESSAGE)).status).toBe(200);
  });

  it('answers a peer send with its state and message ID, the same again for the same ID, and takes one without an ID', async () => {
    const alice = await session('alice');
    await session('bob');
    const first = await post(`${alice.url}/peers/bob/messages?messageId=photo-1`, alice.token, MESSAGE);
    expect(first.status).toBe(200);
    expect(bodyOf(first)).toEqual({ serverReceivedTs: expect.any(Number), state: 'RECEIVED', messageId: 'photo-1' });
    const again = await post(`${alice.url}/peers/bob/messages?messageId=photo-1`, alice.token, textMessage('not this'));
    expect(bodyOf(again)).toEqual(bodyOf(first));
    const unnamed = await post(`${alice.url}/peers/bob/messages`, alice.token, MESSAGE);
    expect(bodyOf(unnamed)).toMatchObject({ state: 'RECEIVED', messageId: expect.stringMatching(/^[\w-]{22}$/) });
    const kept = await post(`${alice.url}/peers/nobody/messages?enableOfflineMessaging=true`, alice.token, MESSAGE);
    expect(bodyOf(kept)).toMatchObject({ state: 'CACHED_BY_SERVER' });
    const refused = await post(`${alice.url}/peers/nobody/messages?enableOfflineMessaging=false`, alice.token, MESSAGE);
    expect([refused.status, refused.failure()._tag]).toEqual([404, 'PeerUnreachable']);
    expect((await send(`${alice.url}/channels/room`, { method: 'PUT', headers: bearer(alice.token) })).status).toBe(204);
    const toRoom = await post(`${alice.url}/channels/room/messages?messageId=room-1`, alice.token, MESSAGE);
    expect(bodyOf(toRoom)).toEqual({ serverReceivedTs: expect.any(Number), messageId: 'room-1' });
  });

  it('answers member counts, online statuses and (un)subscriptions with the documented shapes', async () => {
    const carol = await session('carol');
    await session('dave');
    expect((await send(`${carol.url}/channels/http-lounge`, { method: 'PUT', headers: bearer(carol.token) })).status).toBe(204);
    const counts = await post(`${carol.url}/channel-member-counts`, carol.token, { channelIds: ['http-lounge', 'empty'] });
    expect([counts.status, bodyOf(counts)]).toEqual([200, { counts: { 'http-lounge': 1, empty: 0 } }]);
    const peers = await post(`${carol.url}/presence`, carol.token, { peerIds: ['dave', 'nobody'] });
    expect([peers.status, bodyOf(peers)]).toEqual([200, { peers: { dave: 'ONLINE', nobody: 'OFFLINE' } }]);
    for (const path of ['/presence/subscribe', '/presence/unsubscribe']) {
      const reply = await post(`${carol.url}${path}`, carol.token, { peerIds: ['dave'] });
      expect([reply.status, reply.body.length]).toEqual([204, 0]);
    }
  });

  it.each(HOSTILE_LISTS)('answers %s to %s with its status and failure', async (_, call, ids, status, tag) => {
    const { url, token } = await session('mallory');
    const { path, field } = LIST_CALLS[call];
    const reply = await post(`${url}${path}`, token, { [field]: ids });
    expect([reply.status, reply.failure()._tag]).toEqual([status, tag]);
  });

  it('answers bodies that are not JSON objects, too big, or not JSON, and methods other than POST', async () => {
    const { url, token } = await session('mallory');
    const cases: [string, string, number, string][] = [
      ['/channel-member-counts', '{not json', 400, 'body'],
      ['/channel-member-counts', '["room"]', 400, 'body'],
      ['/presence', 'null', 400, 'body'],
      ['/presence', '"bob"', 400, 'body'],
      // An own key named __proto__ is a key like any other: the field is missing.
      ['/presence/subscribe', '{"__proto__":{"peerIds":["bob"]}}', 400, 'peerIds'],
      ['/presence/subscribe', JSON.stringify({ peerIds: ['x'.repeat(70_000)] }), 413, 'body'],
    ];
    for (const [path, body, status, argument] of cases) {
      const reply = await post(`${url}${path}`, token, body, true);
      expect([path, body.slice(0, 40), reply.status], reply.body.toString('utf8').slice(0, 200)).toEqual([path, body.slice(0, 40), status]);
      expect(reply.failure()).toMatchObject({ _tag: 'InvalidArgument', argument });
    }
    const typed = await send(`${url}/presence`, { method: 'POST', headers: { ...bearer(token), 'Content-Type': 'text/plain' }, body: Buffer.from('{"peerIds":["bob"]}') });
    expect(typed.status).toBe(415);
    for (const path of ['/presence', '/presence/subscribe', '/channel-member-counts']) {
      const reply = await send(`${url}${path}`, { headers: bearer(token) });
      expect([reply.status, reply.headers.allow]).toEqual([405, 'POST']);
    }
    expect((await post(`${url}/presence/elsewhere`, token, { peerIds: ['bob'] })).status).toBe(404);
  });

  it.each([
    ['an empty message ID', '?messageId=', 'messageId'],
    ['a message ID that is not printable ASCII', `?messageId=${encodeURIComponent('é')}`, 'messageId'],
    ['a message ID of 65 characters', `?messageId=${'m'.repeat(65)}`, 'messageId'],
    ['a message ID given twice', '?messageId=a&messageId=b', 'messageId'],
    ['enableOfflineMessaging other than true or false', '?enableOfflineMessaging=yes', 'enableOfflineMessaging'],
    ['enableOfflineMessaging given twice', '?enableOfflineMessaging=true&enableOfflineMessaging=true', 'enableOfflineMessaging'],
  ])('answers a peer send with %s with 400 InvalidArgument, delivering nothing', async (_, query, argument) => {
    const { url, token } = await session('mallory');
    const reply = await post(`${url}/peers/mallory/messages${query}`, token, MESSAGE);
    expect(reply.status).toBe(400);
    expect(reply.failure()).toMatchObject({ _tag: 'InvalidArgument', argument });
  });

  it('takes __proto__ as the ID it is, in answers too', async () => {
    const { url, token } = await session('trent');
    const counts = await post(`${url}/channel-member-counts`, token, { channelIds: ['__proto__', 'constructor'] });
    expect(counts.body.toString('utf8')).toBe('{"counts":{"__proto__":0,"constructor":0}}');
    const peers = await post(`${url}/presence`, token, { peerIds: ['__proto__', 'toString'] });
    expect(peers.body.toString('utf8')).toBe('{"peers":{"__proto__":"OFFLINE","toString":"OFFLINE"}}');
    expect((await post(`${url}/presence/subscribe`, token, { peerIds: ['__proto__'] })).status).toBe(204);
  });

  it('answers a second member-count query within the second with 429 TooOften and Retry-After', async () => {
    const { url, token } = await session('trudy');
    expect((await post(`${url}/channel-member-counts`, token, { channelIds: ['room'] })).status).toBe(200);
    const reply = await post(`${url}/channel-member-counts`, token, { channelIds: ['room'] });
    expect(reply.status).toBe(429);
    expect(reply.failure()).toMatchObject({ _tag: 'TooOften', limit: 1, windowMs: 1_000 });
    expect(reply.headers['retry-after']).toBe('1');
  });

  it('reads an answer without state, as a server before offline messages gives, as RECEIVED', async () => {
    // The server's answers with `state` and `messageId` taken out: what an older server says.
    const older: typeof globalThis.fetch = async (input, init) => {
      const response = await nodeFetch(String(input), init);
      if (!String(input).includes('/messages') || response.status !== 200) return response;
      const { serverReceivedTs } = (await response.json()) as { serverReceivedTs: number };
      return new Response(JSON.stringify({ serverReceivedTs }), { status: 200, headers: { 'Content-Type': 'application/json' } });
    };
    const alice = await loggedIn('alice-old', httpTransport({ url: server.url, fetch: older }));
    await loggedIn('bob-old', httpTransport({ url: server.url }));
    expect(await alice.sendMessageToPeer('bob-old', textMessage('hi'), { messageId: 'old-1' })).toEqual({ state: 'RECEIVED', messageId: 'old-1' });
  });
});

describe('over WebSocket', () => {
  let id = 0;
  /** Sends a call on a raw socket and resolves with its answer (`result` or `error`). */
  const ask = async (socket: Raw, body: Readonly<Record<string, unknown>>): Promise<RawFrame> => {
    const callId = ++id;
    socket.ws.send(JSON.stringify({ type: 'call', id: callId, ...body }));
    let answer: RawFrame | undefined;
    await until(() => {
      const at = socket.frames.findIndex((frame) => frame.id === callId && (frame.type === 'result' || frame.type === 'error'));
      if (at >= 0) answer = socket.frames.splice(at, 1)[0];
      return answer !== undefined;
    }, 5_000, `the answer to call ${callId}`);
    return answer as RawFrame;
  };
  const login = (userId: string): Promise<Raw> => rawLoggedIn(server.wsUrl, userId, server.issueToken(userId));
  const sockets: Raw[] = [];
  const socket = async (userId: string): Promise<Raw> => {
    const opened = await login(userId);
    sockets.push(opened);
    return opened;
  };
  afterEach(async () => {
    for (const opened of sockets.splice(0)) opened.ws.close();
    await stillServing(server.wsUrl, (userId) => server.issueToken(userId));
  });

  // Users of their own: the rates per user (member counts: 1 per second) are not shared with the HTTP cases.
  it('answers a peer send with its state and message ID, the same again for the same ID, and takes one without an ID', async () => {
    const alice = await socket('alice-ws');
    await socket('bob-ws');
    const first = await ask(alice, { op: 'sendToPeer', peerId: 'bob-ws', message: MESSAGE, messageId: 'photo-1' });
    expect(first).toMatchObject({ type: 'result', value: { serverReceivedTs: expect.any(Number), state: 'RECEIVED', messageId: 'photo-1' } });
    const again = await ask(alice, { op: 'sendToPeer', peerId: 'bob-ws', message: MESSAGE, messageId: 'photo-1' });
    expect(again.value).toEqual(first.value);
    const unnamed = await ask(alice, { op: 'sendToPeer', peerId: 'bob-ws', message: MESSAGE });
    expect(unnamed.value).toMatchObject({ state: 'RECEIVED', messageId: expect.stringMatching(/^[\w-]{22}$/) });
    const kept = await ask(alice, { op: 'sendToPeer', peerId: 'nobody', message: MESSAGE, enableOfflineMessaging: true });
    expect(kept.value).toMatchObject({ state: 'CACHED_BY_SERVER' });
    expect(await ask(alice, { op: 'sendToPeer', peerId: 'nobody', message: MESSAGE })).toMatchObject({ type: 'error', failure: { _tag: 'PeerUnreachable' } });
    await ask(alice, { op: 'join', channelId: 'room' });
    const toRoom = await ask(alice, { op: 'sendToChannel', channelId: 'room', message: MESSAGE, messageId: 'room-1' });
    expect(toRoom.value).toEqual({ serverReceivedTs: expect.any(Number), messageId: 'room-1' });
  });

  it('answers member counts, online statuses and (un)subscriptions with the documented shapes', async () => {
    const carol = await socket('carol-ws');
    await socket('dave-ws');
    await ask(carol, { op: 'join', channelId: 'ws-lounge' });
    expect((await ask(carol, { op: 'channelMemberCounts', channelIds: ['ws-lounge', 'empty'] })).value).toEqual({ counts: { 'ws-lounge': 1, empty: 0 } });
    expect((await ask(carol, { op: 'queryPresence', peerIds: ['dave-ws', 'nobody'] })).value).toEqual({ peers: { 'dave-ws': 'ONLINE', nobody: 'OFFLINE' } });
    expect(await ask(carol, { op: 'subscribePresence', peerIds: ['dave-ws'] })).toMatchObject({ type: 'result', value: null });
    expect(await carol.next('event')).toMatchObject({ event: { type: 'presence', userId: 'dave-ws', state: 'ONLINE' } });
    expect(await ask(carol, { op: 'unsubscribePresence', peerIds: ['dave-ws'] })).toMatchObject({ type: 'result', value: null });
  });

  it.each(HOSTILE_LISTS)('answers %s to %s with an error frame and its failure', async (_, op, ids, _status, tag) => {
    const mallory = await socket('mallory-ws');
    const { field } = LIST_CALLS[op];
    expect(await ask(mallory, { op, [field]: ids })).toMatchObject({ type: 'error', failure: { _tag: tag } });
  });

  it('answers an ID-list call with its field missing or under __proto__ with InvalidArgument', async () => {
    const mallory = await socket('mallory-ws');
    expect(await ask(mallory, { op: 'queryPresence' })).toMatchObject({ type: 'error', failure: { _tag: 'InvalidArgument' } });
    mallory.ws.send('{"type":"call","id":9000,"op":"subscribePresence","__proto__":{"peerIds":["bob"]}}');
    await until(() => mallory.frames.some((frame) => frame.id === 9000), 5_000, 'the answer to call 9000');
    expect(mallory.frames.find((frame) => frame.id === 9000)).toMatchObject({ type: 'error', failure: { _tag: 'InvalidArgument' } });
  });

  it.each([
    ['a number for the message ID', { messageId: 7 }, 'messageId'],
    ['an empty message ID', { messageId: '' }, 'messageId'],
    ['a message ID of 65 characters', { messageId: 'm'.repeat(65) }, 'messageId'],
    ['an object for the message ID', { messageId: { toString: 'x' } }, 'messageId'],
    ['enableOfflineMessaging as text', { enableOfflineMessaging: 'true' }, 'enableOfflineMessaging'],
  ])('answers a peer send with %s with InvalidArgument', async (_, fields, argument) => {
    const mallory = await socket('mallory-ws');
    expect(await ask(mallory, { op: 'sendToPeer', peerId: 'mallory-ws', message: MESSAGE, ...fields })).toMatchObject({
      type: 'error',
      failure: { _tag: 'InvalidArgument', argument },
    });
  });

  it('takes __proto__ as the ID it is, in answers too', async () => {
    const trent = await socket('trent-ws');
    const counts = await ask(trent, { op: 'channelMemberCounts', channelIds: ['__proto__'] });
    expect(Object.getOwnPropertyDescriptor((counts.value as { counts: object }).counts, '__proto__')?.value).toBe(0);
    const peers = await ask(trent, { op: 'queryPresence', peerIds: ['__proto__'] });
    expect(Object.getOwnPropertyDescriptor((peers.value as { peers: object }).peers, '__proto__')?.value).toBe('OFFLINE');
  });

  it('answers a second member-count query within the second with TooOften and its retryAfterMs', async () => {
    const trudy = await socket('trudy-ws');
    expect(await ask(trudy, { op: 'channelMemberCounts', channelIds: ['room'] })).toMatchObject({ type: 'result' });
    const refused = await ask(trudy, { op: 'channelMemberCounts', channelIds: ['room'] });
    expect(refused).toMatchObject({ type: 'error', failure: { _tag: 'TooOften', limit: 1, windowMs: 1_000 } });
    expect((refused.failure as unknown as { retryAfterMs: number }).retryAfterMs).toBeGreaterThan(0);
  });

  it('reads an answer without state, from a server before offline messages, as RECEIVED', async () => {
    // A server of protocol version 1 before issue 15: it answers a peer send with its time alone.
    const older = new WebSocketServer({ port: 0, host: '127.0.0.1' });
    await new Promise((resolve) => older.once('listening', resolve));
    older.on('connection', (ws) => {
      ws.on('message', (data) => {
        const parsed = JSON.parse(String(data)) as RawFrame | RawFrame[];
        for (const frame of Array.isArray(parsed) ? parsed : [parsed]) {
          if (frame.type === 'hello') ws.send(JSON.stringify({ type: 'welcome', sessionId: 's', resumed: false, chunkSize: 65_536, window: 4_194_304 }));
          if (frame.type === 'call') ws.send(JSON.stringify({ type: 'result', id: frame.id, value: frame['op'] === 'sendToPeer' ? { serverReceivedTs: 1 } : null }));
        }
      });
    });
    try {
      const url = `ws://127.0.0.1:${(older.address() as AddressInfo).port}/v1/ws`;
      const alice = await loggedIn('alice-old', wsTransport({ url }));
      expect(await alice.sendMessageToPeer('bob-ws', textMessage('hi'), { messageId: 'old-1' })).toEqual({ state: 'RECEIVED', messageId: 'old-1' });
    } finally {
      for (const ws of older.clients) ws.terminate();
      await new Promise((resolve) => older.close(resolve));
    }
  });
});

describe('through the client, on both transports', () => {
  it.each([
    ['HTTP', () => httpTransport({ url: server.url })],
    ['WebSocket', () => wsTransport({ url: server.wsUrl })],
  ])('hands __proto__ back as an own key over %s', async (name, transport) => {
    const client = await loggedIn(`proto-${name}`, transport());
    const counts = await client.getChannelMemberCount(['__proto__']);
    expect(Object.hasOwn(counts, '__proto__')).toBe(true);
    expect(Object.getPrototypeOf(counts)).toBe(Object.prototype);
    expect(Object.getOwnPropertyDescriptor(counts, '__proto__')?.value).toBe(0);
    const peers = await client.queryPeersOnlineStatus(['__proto__', 'constructor']);
    expect(Object.getOwnPropertyDescriptor(peers, '__proto__')?.value).toBe('OFFLINE');
    expect(Object.getOwnPropertyDescriptor(peers, 'constructor')?.value).toBe('OFFLINE');
  });
});
