/**
 * The WebSocket endpoint's heartbeat and hello deadline (decision 119: one ping timer for every socket of
 * an endpoint, the hello timer dropped once a session is held): a peer that answers no ping is cut within
 * two periods, one that answers stays, and a logged-in socket outlives the hello deadline.
 */
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { WebSocket } from 'ws';
import { startServer, type FerryServer } from '../../src/server/server.js';

const PING_MS = 100;
const AUTH_MS = 150;

/** A raw socket logged in as `userId`; `autoPong: false` makes a peer that never answers a ping. */
const loggedIn = async (server: FerryServer, userId: string, autoPong: boolean): Promise<{ ws: WebSocket; closed: Promise<{ code: number; at: number }> }> => {
  const ws = new WebSocket(server.wsUrl, { autoPong });
  ws.on('error', () => undefined);
  const closed = new Promise<{ code: number; at: number }>((resolve) => ws.on('close', (code) => resolve({ code, at: performance.now() })));
  await new Promise((resolve) => ws.once('open', resolve));
  const welcome = new Promise<string>((resolve) => ws.once('message', (data) => resolve(String(data))));
  ws.send(JSON.stringify({ type: 'hello', version: 2, userId, token: server.issueToken(userId) }));
  expect(JSON.parse(await welcome)).toMatchObject({ type: 'welcome', resumed: false });
  return { ws, closed };
};

const sleep = (ms: number): Promise<void> => new Promise((done) => setTimeout(done, ms));

describe('the WebSocket heartbeat', () => {
  let server: FerryServer;
  beforeEach(async () => {
    server = await startServer({ port: 0, wsPingIntervalMs: PING_MS, wsAuthTimeoutMs: AUTH_MS });
  });
  afterEach(async () => {
    await server.close();
  });

  it('cuts a peer that answers no ping within two periods, and keeps one that does', async () => {
    const silent = await loggedIn(server, 'silent', false);
    const live = await loggedIn(server, 'live', true);
    const from = performance.now();
    const cut = await silent.closed;
    // Terminated, not closed: no close frame reaches the peer (1006).
    expect(cut.code).toBe(1006);
    // Pinged at the first tick (at most one period in), cut at the next: two periods and scheduling slack.
    expect(cut.at - from).toBeLessThan(2 * PING_MS + 400);
    // Well past the hello deadline and several periods: the live peer is still served.
    await sleep(Math.max(4 * PING_MS, 2 * AUTH_MS));
    expect(live.ws.readyState).toBe(WebSocket.OPEN);
    const pong = new Promise<string>((resolve) => live.ws.once('message', (data) => resolve(String(data))));
    live.ws.send(JSON.stringify({ type: 'ping' }));
    expect(JSON.parse(await pong)).toEqual({ type: 'pong' });
    live.ws.close();
    expect((await live.closed).code).toBe(1005);
  });

  it('cuts many silent peers at once and none of the live ones', async () => {
    const silent = await Promise.all(Array.from({ length: 5 }, (_, i) => loggedIn(server, `silent${i}`, false)));
    const live = await Promise.all(Array.from({ length: 5 }, (_, i) => loggedIn(server, `live${i}`, true)));
    const cuts = await Promise.all(silent.map(({ closed }) => closed));
    expect(cuts.map(({ code }) => code)).toEqual([1006, 1006, 1006, 1006, 1006]);
    await sleep(3 * PING_MS);
    expect(live.map(({ ws }) => ws.readyState)).toEqual(live.map(() => WebSocket.OPEN));
    for (const { ws } of live) ws.close();
    await Promise.all(live.map(({ closed }) => closed));
  });
});
