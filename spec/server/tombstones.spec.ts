/**
 * A client back after its session was taken and forgotten (a laptop that slept through the grace while
 * the user logged in on a phone) learns REMOTE_LOGIN, over HTTP and WebSocket, instead of logging in
 * afresh and taking the session back from the phone. The memory of ended sessions is bounded.
 */
import { describe, expect, it } from 'vitest';
import { virtualClock } from '../../src/index.js';
import { Tombstones } from '../../src/server/tombstones.js';
import { bearer, delay, send, start } from './http-support.js';
import { raw } from './ws-raw.js';

const json = { 'Content-Type': 'application/json' } as const;

describe('sessions taken while their client was away', () => {
  it('over HTTP: the forgotten session’s event stream says REMOTE_LOGIN, so the client does not log in afresh', async () => {
    const clock = virtualClock(Date.now());
    const server = await start({ clock });
    const login = async (): Promise<string> => {
      const reply = await send(`${server.url}/v1/sessions`, { method: 'POST', headers: { ...bearer(server.issueToken('alice', 3_600_000)), ...json }, body: Buffer.from('{"userId":"alice"}') });
      return (JSON.parse(reply.body.toString()) as { sessionId: string }).sessionId;
    };
    const laptop = await login();
    await login(); // the phone
    // The laptop sleeps past the grace: its session is forgotten.
    clock.advance(61_000);
    const back = await send(`${server.url}/v1/sessions/${laptop}/events`, { headers: bearer(server.issueToken('alice', 3_600_000)) });
    expect(back.status).toBe(200);
    expect(back.body.toString()).toMatch(/event: aborted\ndata: \{[^\n]*"cause":"REMOTE_LOGIN"/);
    // Another user holding the ID learns nothing.
    expect((await send(`${server.url}/v1/sessions/${laptop}/events`, { headers: bearer(server.issueToken('mallory')) })).status).toBe(401);
  });

  it('over WebSocket: resuming the forgotten session gets its aborted event and close 4000, not a fresh login', async () => {
    const server = await start({ wsGraceMs: 100 });
    const hello = (resume?: { sessionId: string; lastSeq: number }) =>
      JSON.stringify({ type: 'hello', version: 1, userId: 'alice', token: server.issueToken('alice'), ...(resume ? { resume } : {}) });
    const laptop = await raw(server.wsUrl);
    laptop.ws.send(hello());
    const { sessionId } = (await laptop.next('welcome')) as unknown as { sessionId: string };
    const phone = await raw(server.wsUrl);
    phone.ws.send(hello());
    await phone.next('welcome');
    expect((await laptop.closed).code).toBe(4000);
    await delay(300);
    const back = await raw(server.wsUrl);
    back.ws.send(hello({ sessionId, lastSeq: 0 }));
    expect(await back.next('welcome')).toMatchObject({ resumed: true, sessionId });
    expect(await back.next('event')).toMatchObject({ event: { type: 'aborted', cause: 'REMOTE_LOGIN' } });
    expect((await back.closed).code).toBe(4000);
    // The phone was not kicked.
    phone.ws.send(JSON.stringify({ type: 'ping' }));
    await phone.next('pong');
    phone.ws.close();
  });
});

describe('the memory of ended sessions', () => {
  it('keeps at most `max`, the oldest forgotten first, each for `ttlMs`, and tells only their own user', () => {
    let now = 0;
    const tombstones = new Tombstones({ max: 3, ttlMs: 1_000, now: () => now });
    const event = { type: 'aborted', reason: 'elsewhere', cause: 'REMOTE_LOGIN' } as const;
    for (const id of ['a', 'b', 'c', 'd']) tombstones.add(id, { userId: 'alice', event });
    expect(tombstones.size).toBe(3);
    expect(tombstones.get('a', 'alice')).toBeUndefined();
    expect(tombstones.get('d', 'alice')?.event).toEqual(event);
    expect(tombstones.get('d', 'bob')).toBeUndefined();
    now = 1_000;
    expect(tombstones.get('d', 'alice')).toBeUndefined();
  });

  it("keeps at most `perUser` of one user, so one account cannot push out everyone else's", () => {
    const tombstones = new Tombstones({ max: 100, perUser: 2 });
    const event = { type: 'aborted', reason: 'elsewhere', cause: 'REMOTE_LOGIN' } as const;
    tombstones.add('bob-1', { userId: 'bob', event });
    for (let i = 0; i < 50; i++) tombstones.add(`mallory-${i}`, { userId: 'mallory', event });
    expect(tombstones.size).toBe(3);
    expect(tombstones.get('bob-1', 'bob')).toBeDefined();
    expect(tombstones.get('mallory-48', 'mallory')).toBeDefined();
    expect(tombstones.get('mallory-47', 'mallory')).toBeUndefined();
  });
});
