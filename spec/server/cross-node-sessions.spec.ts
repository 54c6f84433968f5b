/**
 * A session resumed through another server (issue 14, decision 95): two real servers in one process
 * share one `memoryBus` and one secret, as the nodes of a cluster share Redis and `FERRY_SECRET`. A
 * client whose server closed comes back through the other with the same session ID and the last event
 * number it saw (HTTP: the event stream's `Last-Event-ID`; WebSocket: the hello's `resume`) and gets
 * what was sent meanwhile once, in order, numbered as before; a forged ID is refused; the server it left
 * does not end it at its grace; a session that ended meanwhile says so. Raw HTTP and raw WebSocket
 * frames, on a virtual hub clock (the grace) with real sockets.
 */
import { type IncomingMessage, request } from 'node:http';
import { describe, expect, it } from 'vitest';
import { fromBase64Url, toBase64Url } from '../../src/core/bytes.js';
import { type VirtualClock, virtualClock } from '../../src/core/clock.js';
import { memoryBus, type MessageBus } from '../../src/hub/message-bus.js';
import type { FerryServer } from '../../src/server/server.js';
import { bearer, delay, eventually, login, send, start, tus } from './http-support.js';
import { raw, type Raw, type RawFrame } from './ws-raw.js';

const SECRET = 'one secret for every node of the cluster';
const GRACE_MS = 60_000;

/** Two servers sharing a bus and a secret, on one virtual hub clock; `a` is closed by the spec or after it. */
const cluster = async (): Promise<{ a: FerryServer; b: FerryServer; bus: MessageBus; clock: VirtualClock }> => {
  const bus = memoryBus({ replayLimit: 1_000 });
  const clock = virtualClock(Date.now());
  const a = await start({ shared: { bus }, secret: SECRET, clock });
  const b = await start({ shared: { bus }, secret: SECRET, clock });
  return { a, b, bus, clock };
};

const text = (words: string) => ({ messageType: 'TEXT', text: words });
const json = { 'Content-Type': 'application/json' };

// ---- HTTP ----

/** Sends a TEXT message to a peer in session `sessionId` through `server`: the reply. */
const say = (server: FerryServer, sessionId: string, token: string, peerId: string, words: string) =>
  send(`${server.url}/v1/sessions/${sessionId}/peers/${peerId}/messages`, { method: 'POST', headers: { ...bearer(token), ...json }, body: Buffer.from(JSON.stringify(text(words))) });

interface SseEvent {
  readonly id: string | undefined;
  readonly type: string;
  readonly data: { readonly type: string; readonly message?: { readonly text?: string }; readonly cause?: string };
}

/** An event stream as a spec reads it. */
interface Stream {
  readonly status: number;
  readonly events: SseEvent[];
  /** Settles when the server ends (or cuts) the stream. */
  readonly ended: Promise<void>;
  /** Resolves once `count` events came. */
  until(count: number): Promise<void>;
  close(): void;
}

/** Opens the event stream of `sessionId` at `server`, resuming after `lastEventId` when given. */
const openStream = (server: FerryServer, sessionId: string, token: string, lastEventId?: number): Promise<Stream> =>
  new Promise((resolve, reject) => {
    const headers = { ...bearer(token), Accept: 'text/event-stream', ...(lastEventId === undefined ? {} : { 'Last-Event-ID': String(lastEventId) }) };
    const req = request(`${server.url}/v1/sessions/${sessionId}/events`, { headers, agent: false }, (res: IncomingMessage) => {
      const events: SseEvent[] = [];
      let buffered = '';
      let ended = (): void => undefined;
      const endedPromise = new Promise<void>((done) => (ended = done));
      res.on('data', (chunk: Buffer) => {
        buffered += chunk.toString('utf8');
        for (let cut = buffered.indexOf('\n\n'); cut >= 0; cut = buffered.indexOf('\n\n')) {
          const block = buffered.slice(0, cut);
          buffered = buffered.slice(cut + 2);
          const fields = new Map(block.split('\n').flatMap((line) => (line.startsWith(':') || !line.includes(': ') ? [] : [[line.slice(0, line.indexOf(': ')), line.slice(line.indexOf(': ') + 2)] as const])));
          const data = fields.get('data');
          if (data !== undefined) events.push({ id: fields.get('id'), type: fields.get('event') ?? 'message', data: JSON.parse(data) as SseEvent['data'] });
        }
      });
      res.on('end', ended);
      res.on('close', ended);
      res.on('error', () => undefined);
      resolve({
        status: res.statusCode ?? 0,
        events,
        ended: endedPromise,
        until: (count) => eventually(() => events.length >= count),
        close: () => req.destroy(),
      });
    });
    req.on('error', reject);
    req.end();
  });

const idsOf = (stream: Stream): (string | undefined)[] => stream.events.map((event) => event.id);
const textsOf = (stream: Stream): (string | undefined)[] => stream.events.map((event) => event.data.message?.text);

describe('an HTTP session resumed through another server sharing the bus', () => {
  it('gets what was sent while its server was closed once, in order, numbered as before, after its Last-Event-ID; then what comes live', async () => {
    const { a, b, bus } = await cluster();
    const aliceToken = a.issueToken('alice');
    const bobToken = b.issueToken('bob');
    const alice = await login(a, 'alice', aliceToken);
    const bob = await login(b, 'bob', bobToken);
    const first = await openStream(a, alice, aliceToken);
    expect((await say(b, bob, bobToken, 'alice', 'm1')).status).toBe(200);
    await first.until(1);
    expect(idsOf(first)).toEqual(['1']);
    await a.close();
    await first.ended;
    // Handed over, not logged out: the bus still has alice, so bob's messages are acknowledged.
    expect(await bus.isOnline('alice')).toBe(true);
    for (const words of ['m2', 'm3', 'm4', 'm5']) expect((await say(b, bob, bobToken, 'alice', words)).status).toBe(200);
    const second = await openStream(b, alice, aliceToken, 1);
    expect(second.status).toBe(200);
    await second.until(4);
    await say(b, bob, bobToken, 'alice', 'm6');
    await second.until(5);
    await delay(50);
    expect(idsOf(second)).toEqual(['2', '3', '4', '5', '6']);
    expect(textsOf(second)).toEqual(['m2', 'm3', 'm4', 'm5', 'm6']);
    // The session is served there now: its own requests, with the same ID.
    expect((await say(b, alice, aliceToken, 'bob', 'back')).status).toBe(200);
    second.close();
  });

  it('refuses a forged, unsigned or another user\'s session ID (401), and leaves the session where it was', async () => {
    const { a, b } = await cluster();
    const aliceToken = a.issueToken('alice');
    const alice = await login(a, 'alice', aliceToken);
    const bob = await login(b, 'bob', b.issueToken('bob'));
    const stream = await openStream(a, alice, aliceToken);
    const [id, user, nonce, mac] = alice.split('.') as [string, string, string, string];
    const flipped = fromBase64Url(mac) as Uint8Array;
    flipped[3] = (flipped[3] ?? 0) ^ 0x10;
    for (const forged of [`${id}.${user}.${nonce}`, `${id}.${user}.${nonce}.${toBase64Url(flipped)}`, `${Number(id) + 7}.${user}.${nonce}.${mac}`, bob]) {
      const reply = await send(`${b.url}/v1/sessions/${forged}/events`, { headers: { ...bearer(aliceToken), 'Last-Event-ID': '0' } });
      expect(reply.status, forged).toBe(401);
      expect(reply.failure()).toEqual({ _tag: 'NotLoggedIn' });
    }
    // A server with the same secret but a bus of its own takes over nothing: the session is unknown there.
    const apart = await start({ secret: SECRET });
    expect((await send(`${apart.url}/v1/sessions/${alice}/events`, { headers: bearer(aliceToken) })).status).toBe(401);
    // Still alice's, at a: a message reaches her stream there.
    expect((await say(b, bob, b.issueToken('bob'), 'alice', 'still at a')).status).toBe(200);
    await stream.until(1);
    expect(textsOf(stream)).toEqual(['still at a']);
    stream.close();
  });

  it('is not ended by the grace of the server its client left', async () => {
    const { a, b, bus, clock } = await cluster();
    const aliceToken = a.issueToken('alice');
    const bobToken = b.issueToken('bob');
    const alice = await login(a, 'alice', aliceToken);
    const bob = await login(b, 'bob', bobToken);
    const bobStream = await openStream(b, bob, bobToken);
    const atA = await openStream(a, alice, aliceToken);
    await say(b, bob, bobToken, 'alice', 'm1');
    await atA.until(1);
    // The link to a drops (a keeps running); the client comes back through b.
    atA.close();
    const atB = await openStream(b, alice, aliceToken, 1);
    expect(atB.status).toBe(200);
    clock.advance(GRACE_MS + 1);
    await delay(20);
    expect(await bus.isOnline('alice')).toBe(true);
    expect((await say(b, bob, bobToken, 'alice', 'm2')).status).toBe(200);
    await atB.until(1);
    expect(idsOf(atB)).toEqual(['2']);
    // Its requests at a are those of a session a does not hold: a sends them on to the stream (503).
    const there = await say(a, alice, aliceToken, 'bob', 'via a');
    expect(there.status).toBe(503);
    expect(there.headers['retry-after']).toBe('1');
    atB.close();
    bobStream.close();
  });

  it('moves back and forth between two running servers: each closes the stream it no longer serves, and the numbers go on', async () => {
    const { a, b } = await cluster();
    const aliceToken = a.issueToken('alice');
    const bobToken = b.issueToken('bob');
    const alice = await login(a, 'alice', aliceToken);
    const bob = await login(b, 'bob', bobToken);
    const bobStream = await openStream(b, bob, bobToken);
    const seen: (string | undefined)[] = [];
    let server = a;
    let stream = await openStream(server, alice, aliceToken);
    for (let round = 1; round <= 4; round++) {
      expect((await say(b, bob, bobToken, 'alice', `r${round}`)).status).toBe(200);
      await stream.until(1);
      seen.push(...idsOf(stream));
      // The client takes the other server while its stream here is still open (a half-open link).
      const stale = stream;
      server = server === a ? b : a;
      stream = await openStream(server, alice, aliceToken, Number(seen.at(-1)));
      expect(stream.status).toBe(200);
      await stale.ended;
    }
    expect(seen).toEqual(['1', '2', '3', '4']);
    expect((await say(b, bob, bobToken, 'alice', 'r5')).status).toBe(200);
    await stream.until(1);
    expect(idsOf(stream)).toEqual(['5']);
    stream.close();
    bobStream.close();
  });

  it('tells a client whose session ended while its server was closed why, at the other server: its aborted event, then the end', async () => {
    const { a, b } = await cluster();
    const oldToken = a.issueToken('alice');
    const alice = await login(a, 'alice', oldToken);
    await a.close();
    // The same user logs in elsewhere meanwhile: the old session is aborted (REMOTE_LOGIN).
    await login(b, 'alice', b.issueToken('alice'));
    const told = await openStream(b, alice, oldToken, 0);
    expect(told.status).toBe(200);
    await told.ended;
    expect(told.events.map((event) => [event.type, event.data.cause])).toEqual([['aborted', 'REMOTE_LOGIN']]);
    // Remembered there now: its other requests are refused as those of an ended session.
    expect((await say(b, alice, oldToken, 'bob', 'late')).status).toBe(401);
    const again = await openStream(b, alice, oldToken, 0);
    await again.ended;
    expect(again.events.map((event) => event.data.cause)).toEqual(['REMOTE_LOGIN']);
  });

  it('answers a session held elsewhere 503 until its stream moves it, and lets its transfers through meanwhile', async () => {
    const { a, b } = await cluster();
    const token = a.issueToken('alice');
    const alice = await login(a, 'alice', token);
    await login(b, 'bob', b.issueToken('bob'));
    await a.drain({ timeoutMs: 1_000 });
    const early = await say(b, alice, token, 'bob', 'too early');
    expect(early.status).toBe(503);
    expect(early.failure()).toMatchObject({ _tag: 'Interrupted' });
    // An upload of the session's client is not refused by the session guard.
    const created = await send(b.uploadsUrl, { method: 'POST', headers: tus(token, { 'Upload-Length': '3', 'Ferry-Session': alice }) });
    expect(created.status).toBe(201);
    // A forged session header still is.
    const forged = await send(b.uploadsUrl, { method: 'POST', headers: tus(token, { 'Upload-Length': '3', 'Ferry-Session': `${alice}x` }) });
    expect(forged.status).toBe(401);
    const stream = await openStream(b, alice, token, 0);
    expect(stream.status).toBe(200);
    expect((await say(b, alice, token, 'bob', 'now')).status).toBe(200);
    stream.close();
  });
});

// ---- WebSocket ----

/** A raw socket with its hello answered: its welcome. */
const hello = async (server: FerryServer, userId: string, token: string, resume?: { sessionId: string; lastSeq: number }): Promise<{ socket: Raw; welcome: RawFrame }> => {
  const socket = await raw(server.wsUrl);
  socket.ws.send(JSON.stringify({ type: 'hello', version: 1, userId, token, ...(resume ? { resume } : {}) }));
  return { socket, welcome: await socket.next('welcome') };
};

let calls = 0;
/** Sends a TEXT message to `peerId` on a logged-in raw socket and waits for its result. */
const wsSay = async (socket: Raw, peerId: string, words: string): Promise<RawFrame> => {
  const id = ++calls;
  socket.ws.send(JSON.stringify({ type: 'call', id, op: 'sendToPeer', peerId, message: text(words) }));
  return socket.next('result');
};

/** The next `count` event frames of a socket. */
const nextEvents = async (socket: Raw, count: number): Promise<RawFrame[]> => {
  const events: RawFrame[] = [];
  for (let i = 0; i < count; i++) events.push(await socket.next('event'));
  return events;
};
const seqsOf = (events: RawFrame[]): unknown[] => events.map((frame) => frame.seq);
const wsTextsOf = (events: RawFrame[]): unknown[] => events.map((frame) => (frame.event as SseEvent['data']).message?.text);

describe('a WebSocket session resumed through another server sharing the bus', () => {
  it('gets what was sent while its server was closed once, in order, numbered as before, after its lastSeq; then what comes live', async () => {
    const { a, b } = await cluster();
    const aliceToken = a.issueToken('alice');
    const bob = (await hello(b, 'bob', b.issueToken('bob'))).socket;
    const { socket: first, welcome } = await hello(a, 'alice', aliceToken);
    const sessionId = welcome.sessionId as string;
    await wsSay(bob, 'alice', 'm1');
    expect(seqsOf(await nextEvents(first, 1))).toEqual([1]);
    await a.close();
    expect((await first.closed).code).toBe(1001);
    for (const words of ['m2', 'm3', 'm4', 'm5']) expect(await wsSay(bob, 'alice', words)).toMatchObject({ type: 'result' });
    const { socket: second, welcome: resumed } = await hello(b, 'alice', aliceToken, { sessionId, lastSeq: 1 });
    expect(resumed).toMatchObject({ sessionId, resumed: true });
    const replayed = await nextEvents(second, 4);
    await wsSay(bob, 'alice', 'm6');
    const live = await nextEvents(second, 1);
    await delay(50);
    expect(seqsOf([...replayed, ...live])).toEqual([2, 3, 4, 5, 6]);
    expect(wsTextsOf([...replayed, ...live])).toEqual(['m2', 'm3', 'm4', 'm5', 'm6']);
    expect(second.frames.filter((frame) => frame.type === 'event')).toEqual([]);
    // Served there now: its calls are answered.
    expect(await wsSay(second, 'bob', 'back')).toMatchObject({ type: 'result' });
    second.ws.close();
    bob.ws.close();
  });

  it('refuses a forged session ID: the hello logs in afresh, with a session of its own', async () => {
    const { a, b } = await cluster();
    const aliceToken = a.issueToken('alice');
    const { welcome } = await hello(a, 'alice', aliceToken);
    const sessionId = welcome.sessionId as string;
    const [id, user, nonce] = sessionId.split('.') as [string, string, string, string];
    const { socket, welcome: fresh } = await hello(b, 'alice', aliceToken, { sessionId: `${id}.${user}.${nonce}.${toBase64Url(new Uint8Array(32))}`, lastSeq: 0 });
    expect(fresh.resumed).toBe(false);
    expect(fresh.sessionId).not.toBe(sessionId);
    expect(String(fresh.sessionId).split('.')[0]).not.toBe(id);
    socket.ws.close();
  });

  it('is not ended by the grace of the server its client left', async () => {
    const { a, b, bus, clock } = await cluster();
    const aliceToken = a.issueToken('alice');
    const bob = (await hello(b, 'bob', b.issueToken('bob'))).socket;
    const { socket: atA, welcome } = await hello(a, 'alice', aliceToken);
    const sessionId = welcome.sessionId as string;
    await wsSay(bob, 'alice', 'm1');
    await nextEvents(atA, 1);
    atA.ws.close();
    await atA.closed;
    const { socket: atB, welcome: resumed } = await hello(b, 'alice', aliceToken, { sessionId, lastSeq: 1 });
    expect(resumed.resumed).toBe(true);
    clock.advance(GRACE_MS + 1);
    await delay(20);
    expect(await bus.isOnline('alice')).toBe(true);
    await wsSay(bob, 'alice', 'm2');
    expect(seqsOf(await nextEvents(atB, 1))).toEqual([2]);
    atB.ws.close();
    bob.ws.close();
  });

  it('tells a client whose session ended while its server was closed why, at the other server: its aborted event with its number, then close 4000', async () => {
    const { a, b } = await cluster();
    const oldToken = a.issueToken('alice');
    const bob = (await hello(b, 'bob', b.issueToken('bob'))).socket;
    const { socket: first, welcome } = await hello(a, 'alice', oldToken);
    const sessionId = welcome.sessionId as string;
    await wsSay(bob, 'alice', 'seen');
    await nextEvents(first, 1);
    await a.close();
    const elsewhere = (await hello(b, 'alice', b.issueToken('alice'))).socket;
    const { socket: late, welcome: told } = await hello(b, 'alice', oldToken, { sessionId, lastSeq: 1 });
    expect(told).toMatchObject({ sessionId, resumed: true });
    expect(await late.next('event')).toMatchObject({ seq: 2, event: { type: 'aborted', cause: 'REMOTE_LOGIN' } });
    expect((await late.closed).code).toBe(4000);
    elsewhere.ws.close();
    bob.ws.close();
  });
});
