/**
 * Bad input to the HTTP server: each request gets a clear 4xx with a JSON failure, and the same server
 * keeps serving afterwards (checked after every spec).
 */
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { virtualClock } from '../../src/core/clock.js';
import type { FerryServer } from '../../src/server/server.js';
import { b64, bearer, bytesOf, create, mediaUrl, OFFSET_STREAM, patch, send, start, tus, upload } from './http-support.js';

const clock = virtualClock(Date.now());
let server: FerryServer;
let alice: string;
beforeAll(async () => {
  server = await start({ clock, retentionMs: 60_000 }, { keep: true });
  alice = server.issueToken('alice');
});
afterAll(() => server.close());
afterEach(async () => {
  // Still serving: a whole upload and download round trip after every piece of bad input.
  const mediaId = await upload(server, alice, bytesOf(10));
  expect((await send(mediaUrl(server, mediaId), { headers: bearer(alice) })).body).toEqual(Buffer.from(bytesOf(10)));
});

const post = (headers: Readonly<Record<string, string>>, body?: Uint8Array) =>
  send(server.uploadsUrl, { method: 'POST', headers: tus(alice, headers), ...(body ? { body } : {}) });

describe('malformed tus headers', () => {
  it.each([
    ['missing', {}],
    ['an older version', { 'Tus-Resumable': '0.2.2' }],
    ['garbage', { 'Tus-Resumable': '1.0.0 ; drop table' }],
  ])('answers Tus-Resumable %s with 412 and Tus-Version', async (_, headers: Record<string, string>) => {
    const reply = await send(server.uploadsUrl, { method: 'POST', headers: { ...bearer(alice), 'Upload-Length': '5', ...headers } });
    expect(reply.status).toBe(412);
    expect(reply.headers['tus-version']).toBe('1.0.0');
    expect(reply.headers['tus-resumable']).toBe('1.0.0');
    expect(reply.failure()).toMatchObject({ _tag: 'InvalidArgument', argument: 'Tus-Resumable' });
  });

  // (Leading and trailing blanks are not on the list: HTTP strips them from every header value.)
  it.each(['-1', '+5', 'abc', '1e3', '0x10', '5.0', '5 5', ''])('answers Upload-Length %j with 400', async (length) => {
    const reply = await post({ 'Upload-Length': length });
    expect(reply.status).toBe(400);
    expect(reply.failure()).toMatchObject({ _tag: 'InvalidArgument', argument: 'Upload-Length' });
  });

  it('answers a missing Upload-Length and a deferred length with 400', async () => {
    expect((await post({})).failure()).toMatchObject({ _tag: 'InvalidArgument', argument: 'Upload-Length' });
    const deferred = await post({ 'Upload-Defer-Length': '1' });
    expect(deferred.status).toBe(400);
    expect(deferred.failure()).toMatchObject({ argument: 'Upload-Defer-Length' });
  });

  it('answers Upload-Length 0 with 400: empty files are refused', async () => {
    const reply = await post({ 'Upload-Length': '0' });
    expect(reply.status).toBe(400);
    expect(reply.failure()).toMatchObject({ _tag: 'InvalidArgument', argument: 'size' });
  });

  it.each(['31457281', '99999999999999999999', '9'.repeat(400)])('answers Upload-Length %s (over 30 MiB) with 413', async (length) => {
    const reply = await post({ 'Upload-Length': length });
    expect(reply.status).toBe(413);
    expect(reply.failure()).toMatchObject({ _tag: 'SizeOverflow', limit: 31_457_280 });
  });

  it.each([`filename ${b64('a')},filename ${b64('b')}`, 'filename not*base64', `filename ${Buffer.from([0xff, 0xfe]).toString('base64')}`, ',,'])(
    'answers Upload-Metadata %j with 400',
    async (metadata) => {
      const reply = await post({ 'Upload-Length': '5', 'Upload-Metadata': metadata });
      expect(reply.status).toBe(400);
      expect(reply.failure()).toMatchObject({ argument: 'Upload-Metadata' });
    },
  );

  it('answers a creation body that is not application/offset+octet-stream with 415 and creates nothing', async () => {
    const reply = await post({ 'Upload-Length': '5', 'Content-Type': 'application/json' }, bytesOf(5));
    expect(reply.status).toBe(415);
    expect(reply.headers.location).toBeUndefined();
  });

  it('answers PATCH with a wrong or missing Content-Type with 415, and a missing Upload-Offset with 400', async () => {
    const location = await create(server, alice, 5);
    expect((await patch(location, alice, 0, bytesOf(5), { 'Content-Type': 'text/plain' })).status).toBe(415);
    const untyped = await send(location, { method: 'PATCH', headers: tus(alice, { 'Upload-Offset': '0' }), body: bytesOf(5) });
    expect(untyped.status).toBe(415);
    const noOffset = await send(location, { method: 'PATCH', headers: tus(alice, OFFSET_STREAM), body: bytesOf(5) });
    expect(noOffset.status).toBe(400);
    expect((await send(location, { method: 'HEAD', headers: tus(alice) })).headers['upload-offset']).toBe('0');
  });

  it('answers an offset that is not the upload offset with 409, keeping the bytes received', async () => {
    const location = await create(server, alice, 10);
    await patch(location, alice, 0, bytesOf(4));
    for (const offset of [0, 3, 5, 10]) {
      const reply = await patch(location, alice, offset, bytesOf(2));
      expect(reply.status).toBe(409);
      expect(reply.failure()._tag).toBe('Conflict');
    }
    expect((await send(location, { method: 'HEAD', headers: tus(alice) })).headers['upload-offset']).toBe('4');
  });

  it('answers a body beyond the declared length with 413, and the upload is gone', async () => {
    const location = await create(server, alice, 10);
    await patch(location, alice, 0, bytesOf(6));
    const reply = await patch(location, alice, 6, bytesOf(20));
    expect(reply.status).toBe(413);
    expect(reply.failure()._tag).toBe('SizeOverflow');
    expect((await send(location, { method: 'HEAD', headers: tus(alice) })).status).toBe(404);
    const withCreation = await post({ ...OFFSET_STREAM, 'Upload-Length': '3' }, bytesOf(4));
    expect(withCreation.status).toBe(413);
  });

  it('answers methods the routes do not have with 405 and Allow, and unknown routes with 404', async () => {
    const get = await send(server.uploadsUrl, { headers: tus(alice) });
    expect(get.status).toBe(405);
    expect(get.headers.allow).toBe('OPTIONS, POST');
    expect((await send(`${server.url}/v1/nothing`, { headers: bearer(alice) })).status).toBe(404);
    expect((await send(`${server.uploadsUrl}/a/b`, { method: 'HEAD', headers: tus(alice) })).status).toBe(404);
  });
});

describe('upload and media IDs', () => {
  it('answers malformed upload IDs with 400 and unknown ones with 404', async () => {
    for (const id of ['short', '..%2F..%2Fsecret', '%2e%2e%2f%2e%2e%2fsecret', 'a%2Fb'.padEnd(30, 'x'), '%E0%A4%A']) {
      const reply = await send(`${server.uploadsUrl}/${id}`, { method: 'PATCH', headers: tus(alice, { ...OFFSET_STREAM, 'Upload-Offset': '0' }), body: bytesOf(1) });
      expect(reply.status, id).toBe(400);
      expect(reply.failure()._tag).toBe('InvalidArgument');
    }
    expect((await send(`${server.uploadsUrl}/${'A'.repeat(22)}`, { method: 'HEAD', headers: tus(alice) })).status).toBe(404);
  });

  it("answers HEAD, PATCH and DELETE on someone else's upload with 404, leaving it untouched", async () => {
    const location = await create(server, alice, 4);
    await patch(location, alice, 0, bytesOf(2));
    const bob = server.issueToken('bob');
    expect((await send(location, { method: 'HEAD', headers: tus(bob) })).status).toBe(404);
    expect((await patch(location, bob, 2, bytesOf(2))).status).toBe(404);
    expect((await send(location, { method: 'DELETE', headers: tus(bob) })).status).toBe(404);
    expect((await send(location, { method: 'HEAD', headers: tus(alice) })).headers['upload-offset']).toBe('2');
  });

  it('answers unknown, malformed and traversing media IDs with 404 or 400', async () => {
    const cases: [string, number][] = [
      [`${'B'.repeat(22)}`, 404],
      ['abc', 400],
      ['..%2F..%2Fsecret', 400],
      ['..%5C..%5Csecret', 400],
      ['%2F', 400],
      ['%00', 400],
      [`${'C'.repeat(22)}/extra`, 404],
    ];
    for (const [id, status] of cases) {
      const reply = await send(`${server.url}/v1/media/${id}`, { headers: bearer(alice) });
      expect(reply.status, id).toBe(status);
      expect(reply.failure()._tag).toBe(status === 400 ? 'InvalidArgument' : 'NotExist');
    }
  });

  it('answers media past its retention with 404', async () => {
    const mediaId = await upload(server, alice, bytesOf(5));
    clock.advance(60_001);
    const reply = await send(mediaUrl(server, mediaId), { headers: bearer(alice) });
    expect(reply.status).toBe(404);
    expect(reply.failure()).toMatchObject({ _tag: 'NotExist' });
  });
});

describe('tokens', () => {
  const endpoints = (): [string, string][] => [
    ['POST', server.uploadsUrl],
    ['HEAD', `${server.uploadsUrl}/${'D'.repeat(22)}`],
    ['PATCH', `${server.uploadsUrl}/${'D'.repeat(22)}`],
    ['DELETE', `${server.uploadsUrl}/${'D'.repeat(22)}`],
    ['GET', mediaUrl(server, 'D'.repeat(22))],
    ['HEAD', mediaUrl(server, 'D'.repeat(22))],
  ];

  it('answers every endpoint without a token with 401 NotLoggedIn', async () => {
    for (const [method, url] of endpoints()) {
      const reply = await send(url, { method, headers: { 'Tus-Resumable': '1.0.0', 'Upload-Length': '5' } });
      expect(reply.status, `${method} ${url}`).toBe(401);
      expect(reply.headers['www-authenticate']).toBe('Bearer');
      if (method !== 'HEAD') expect(reply.failure()._tag).toBe('NotLoggedIn');
    }
  });

  it('answers malformed, forged and expired tokens with 401', async () => {
    const forged = `${alice.split('.')[0] ?? ''}.${'A'.repeat(43)}`;
    const other = (await start()).issueToken('alice'); // signed with another secret
    const expired = server.issueToken('alice', 1_000);
    clock.advance(1_001);
    const cases: [Record<string, string>, string][] = [
      [{ Authorization: 'Basic YWxpY2U6eA==' }, 'InvalidToken'],
      [{ Authorization: 'Bearer' }, 'InvalidToken'],
      [bearer('not-a-token'), 'InvalidToken'],
      [bearer(forged), 'InvalidToken'],
      [bearer(other), 'InvalidToken'],
      [bearer(expired), 'TokenExpired'],
    ];
    for (const [method, url] of endpoints()) {
      for (const [auth, tag] of cases) {
        const reply = await send(url, { method, headers: { 'Tus-Resumable': '1.0.0', 'Upload-Length': '5', ...auth } });
        expect(reply.status).toBe(401);
        if (method !== 'HEAD') expect(reply.failure()._tag).toBe(tag);
      }
    }
  });

  it('answers OPTIONS preflights without a token', async () => {
    const reply = await send(mediaUrl(server, 'E'.repeat(22)), { method: 'OPTIONS' });
    expect(reply.status).toBe(204);
    expect(reply.headers['access-control-allow-methods']).toBe('OPTIONS, GET, HEAD');
  });

  // What a browser on another origin asks before logging in, resuming its event stream, and sending.
  it.each<[string, string, string]>([
    ['the login', '', 'POST'],
    ['a logout', '/SESSION', 'DELETE'],
    ['the event stream', '/SESSION/events', 'GET'],
    ['a peer message', '/SESSION/peers/bob/messages', 'POST'],
    ['a channel join', '/SESSION/channels/room', 'PUT'],
    ['a presence query', '/SESSION/presence', 'POST'],
    ['a token renewal', '/SESSION/token', 'PUT'],
  ])('answers the preflight of %s without a token', async (_what, path, method) => {
    const reply = await send(`${server.url}/v1/sessions${path}`, {
      method: 'OPTIONS',
      headers: {
        Origin: 'https://app.example',
        'Access-Control-Request-Method': method,
        'Access-Control-Request-Headers': 'authorization, content-type, ferry-session, last-event-id',
      },
    });
    expect(reply.status).toBe(204);
    expect(reply.headers['access-control-allow-origin']).toBe('*');
    expect(reply.headers['access-control-allow-methods']?.split(', ')).toContain(method);
    const allowed = (reply.headers['access-control-allow-headers'] ?? '').toLowerCase().split(', ');
    for (const header of ['authorization', 'content-type', 'ferry-session', 'last-event-id']) expect(allowed).toContain(header);
  });
});
