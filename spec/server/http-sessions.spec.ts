/**
 * Sessions and messaging over HTTP, by raw requests: bad input gets a clear 4xx with the failure as
 * JSON and the server keeps serving; the event stream replays from `Last-Event-ID`.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { FerryServer } from '../../src/server/server.js';
import { bearer, login as loginAt, send, start, tus } from './http-support.js';

const json = (token: string) => ({ ...bearer(token), 'Content-Type': 'application/json' });

describe('sessions over HTTP: bad input', () => {
  let server: FerryServer;
  let token: string;
  let sessionUrl: string;
  beforeAll(async () => {
    server = await start({}, { keep: true });
    token = server.issueToken('alice');
    const created = await send(`${server.url}/v1/sessions`, { method: 'POST', headers: json(token), body: Buffer.from('{"userId":"alice"}') });
    expect(created.status).toBe(201);
    sessionUrl = `${server.url}/v1/sessions/${(JSON.parse(created.body.toString()) as { sessionId: string }).sessionId}`;
  });
  afterAll(() => server.close());

  it.each([
    ['a login for another user than the token’s', 401, 'InvalidToken', () => send(`${server.url}/v1/sessions`, { method: 'POST', headers: json(token), body: Buffer.from('{"userId":"bob"}') })],
    ['a login without a token', 401, 'NotLoggedIn', () => send(`${server.url}/v1/sessions`, { method: 'POST', headers: { 'Content-Type': 'application/json' }, body: Buffer.from('{"userId":"alice"}') })],
    ['a body that is not JSON', 400, 'InvalidArgument', () => send(`${sessionUrl}/peers/alice/messages`, { method: 'POST', headers: json(token), body: Buffer.from('{not json') })],
    ['a body of the wrong type', 415, 'InvalidArgument', () => send(`${sessionUrl}/peers/alice/messages`, { method: 'POST', headers: bearer(token), body: Buffer.from('hi') })],
    ['an oversized JSON body', 413, 'InvalidArgument', () => send(`${sessionUrl}/peers/alice/messages`, { method: 'POST', headers: json(token), body: Buffer.from(JSON.stringify({ messageType: 'TEXT', text: 'a'.repeat(70_000) })) })],
    ['a message over 32 KiB', 400, 'InvalidMessage', () => send(`${sessionUrl}/peers/alice/messages`, { method: 'POST', headers: json(token), body: Buffer.from(JSON.stringify({ messageType: 'TEXT', text: 'a'.repeat(32_769) })) })],
    ['a malformed message', 400, 'InvalidMessage', () => send(`${sessionUrl}/peers/alice/messages`, { method: 'POST', headers: json(token), body: Buffer.from('{"messageType":"TEXT"}') })],
    ['an offline peer', 404, 'PeerUnreachable', () => send(`${sessionUrl}/peers/nobody/messages`, { method: 'POST', headers: json(token), body: Buffer.from('{"messageType":"TEXT","text":"x"}') })],
    ['an unknown session', 401, 'NotLoggedIn', () => send(`${server.url}/v1/sessions/nope/events`, { headers: bearer(token) })],
    ['someone else’s session', 401, 'NotLoggedIn', () => send(`${sessionUrl}/events`, { headers: bearer(server.issueToken('mallory')) })],
    ['sending to a channel not joined', 409, 'NotInChannel', () => send(`${sessionUrl}/channels/room/messages`, { method: 'POST', headers: json(token), body: Buffer.from('{"messageType":"TEXT","text":"x"}') })],
  ] as const)('answers %s with %i and %s, and keeps serving', async (_what, status, tag, request) => {
    const reply = await request();
    expect(reply.status).toBe(status);
    expect(reply.failure()._tag).toBe(tag);
    const members = await send(`${sessionUrl}/channels/lobby`, { method: 'PUT', headers: bearer(token) });
    expect([204, 409]).toContain(members.status);
  });

  it('replays the events after Last-Event-ID to a reconnecting stream', async () => {
    for (const text of ['one', 'two', 'three']) {
      const sent = await send(`${sessionUrl}/peers/alice/messages`, { method: 'POST', headers: json(token), body: Buffer.from(JSON.stringify({ messageType: 'TEXT', text })) });
      expect(sent.status).toBe(200);
    }
    const controller = new AbortController();
    const response = await fetch(`${sessionUrl}/events`, { headers: { ...bearer(token), 'Last-Event-ID': '1' }, signal: controller.signal });
    const reader = (response.body as ReadableStream<Uint8Array>).pipeThrough(new TextDecoderStream() as unknown as ReadableWritablePair<string, Uint8Array>).getReader();
    let text = '';
    while (!text.includes('three')) text += (await reader.read()).value ?? '';
    controller.abort();
    expect(text).not.toContain('"one"');
    expect(text).toMatch(/id: 2\nevent: peerMessage\n.*"two"/);
    expect(text).toMatch(/id: 3\nevent: peerMessage\n.*"three"/);
  });
});

describe('the session guard of transfers on one server (decision 139)', () => {
  let server: FerryServer;
  beforeAll(async () => {
    server = await start({}, { keep: true });
  });
  afterAll(() => server.close());

  const login = (userId: string, token: string): Promise<string> => loginAt(server, userId, token);
  const createUpload = (token: string, session: string) => send(server.uploadsUrl, { method: 'POST', headers: tus(token, { 'Upload-Length': '3', 'Ferry-Session': session }) });

  it('lets a live session’s transfers through', async () => {
    const token = server.issueToken('dora');
    expect((await createUpload(token, await login('dora', token))).status).toBe(201);
  });

  it.each([
    ['logged out', 'erin', async (_user: string, token: string, session: string) => expect((await send(`${server.url}/v1/sessions/${session}`, { method: 'DELETE', headers: bearer(token) })).status).toBe(204)],
    ['ended by a login elsewhere', 'finn', async (user: string, token: string) => void (await login(user, token))],
  ] as const)('refuses the transfers of a session %s', async (_how, user, end) => {
    const token = server.issueToken(user);
    const session = await login(user, token);
    await end(user, token, session);
    const refused = await createUpload(token, session);
    expect(refused.status).toBe(401);
    expect(refused.failure()._tag).toBe('Interrupted');
  });

  it('refuses a session ID its secret did not sign for the user', async () => {
    const gwen = server.issueToken('gwen');
    const session = await login('gwen', gwen);
    expect((await createUpload(gwen, `${session}x`)).status).toBe(401);
    // Another user's session, with that user's own token.
    expect((await createUpload(server.issueToken('hank'), session)).status).toBe(401);
  });
});
