/**
 * Issue 12, defects 1 and 6: no frame can crash the server or leave a caller waiting. Values nested
 * thousands deep are described, never stringified; an exception a handler throws is answered as a
 * server fault to that call alone; a call with an unknown `op` is answered with its own `id`.
 */
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { createHub, type Hub } from '../../src/index.js';
import { type FerryServer, startServer } from '../../src/server/server.js';
import { wsRoute } from '../../src/server/ws-endpoint.js';
import { raw, rawLoggedIn, stillServing } from './ws-raw.js';

/** An array nested `depth` deep: `String` and `JSON.stringify` overflow the stack on it. */
const nested = (depth: number): unknown => {
  let value: unknown = [];
  for (let i = 0; i < depth; i++) value = [value];
  return value;
};
/** The frame text with `nested(depth)` spliced in at `"@"`, built without stringifying the nest. */
const withNest = (frame: Record<string, unknown>, depth: number): string =>
  JSON.stringify(frame).replace('"@"', `${'['.repeat(depth)}${']'.repeat(depth)}`);

describe('hostile values in WebSocket frames', () => {
  let server: FerryServer;
  beforeEach(async () => {
    server = await startServer({ port: 0 });
  });
  afterEach(async () => {
    await server.close();
  });
  const serving = (): Promise<void> => stillServing(server.wsUrl, (userId) => server.issueToken(userId));

  it('refuses a hello whose userId is an array nested 5,000 deep as an invalid user ID, and keeps serving', async () => {
    expect(() => String(nested(5_000))).toThrow(RangeError); // the trap this spec is about
    const socket = await raw(server.wsUrl);
    socket.ws.send(withNest({ type: 'hello', version: 1, userId: '@', token: server.issueToken('alice') }, 5_000));
    const error = await socket.next('error');
    expect(error.failure?._tag).toBe('InvalidUserId');
    expect(String(error['message']).length).toBeLessThan(200);
    expect((await socket.closed).code).toBe(4001);
    await serving();
  });

  it('answers nested arrays in every call field with the argument failure of that call, not Unknown', async () => {
    const socket = await rawLoggedIn(server.wsUrl, 'alice', server.issueToken('alice'));
    const cases: readonly [Record<string, unknown>, readonly string[]][] = [
      [{ op: 'createUpload', size: '@', fileName: 'x' }, ['InvalidArgument']],
      [{ op: 'createUpload', size: 5, fileName: '@' }, ['InvalidArgument']],
      [{ op: 'getUpload', uploadId: '@' }, ['InvalidArgument']],
      [{ op: 'terminateUpload', uploadId: '@' }, ['InvalidArgument']],
      [{ op: 'getMedia', mediaId: '@' }, ['InvalidArgument']],
      [{ op: 'sendToPeer', peerId: '@', message: { messageType: 'TEXT', text: 'x' } }, ['InvalidUserId']],
      [{ op: 'sendToPeer', peerId: 'alice', message: '@' }, ['InvalidMessage']],
      [{ op: 'join', channelId: '@' }, ['InvalidArgument']],
      [{ op: 'leave', channelId: '@' }, ['NotInChannel']],
      [{ op: 'sendToChannel', channelId: '@', message: { messageType: 'TEXT', text: 'x' } }, ['NotInChannel']],
      [{ op: 'members', channelId: '@' }, ['NotInChannel']],
    ];
    let id = 0;
    for (const [call, expected] of cases) {
      socket.ws.send(withNest({ type: 'call', id: ++id, ...call }, 5_000));
      const answer = await socket.next('error');
      expect({ op: call['op'], id: answer.id, tag: answer.failure?._tag }).toEqual({ op: call['op'], id, tag: expect.stringMatching(new RegExp(`^(${expected.join('|')})$`)) });
    }
    socket.ws.close();
    await serving();
  });

  it('quotes at most 64 characters of a hostile ID back, so answers kept for resends stay small', async () => {
    const socket = await rawLoggedIn(server.wsUrl, 'alice', server.issueToken('alice'));
    socket.ws.send(JSON.stringify({ type: 'call', id: 1, op: 'getMedia', mediaId: 'm'.repeat(60_000) }));
    const answer = await socket.next('error');
    expect(answer.failure?._tag).toBe('InvalidArgument');
    expect(JSON.stringify(answer).length).toBeLessThan(500);
    socket.ws.close();
  });

  it('answers a call with an unknown op with its own id, so the caller does not wait forever', async () => {
    const socket = await rawLoggedIn(server.wsUrl, 'alice', server.issueToken('alice'));
    socket.ws.send(JSON.stringify({ type: 'call', id: 41, op: 'teleport' }));
    expect(await socket.next('error')).toMatchObject({ id: 41, failure: { _tag: 'InvalidArgument' } });
    socket.ws.send(JSON.stringify([{ type: 'call', id: 42, op: 'fly' }, { type: 'call', id: 43, op: 'members' }]));
    expect(await socket.next('error')).toMatchObject({ id: 42 });
    expect(await socket.next('error')).toMatchObject({ id: 43 });
    socket.ws.close();
  });
});

describe('the last-resort guard of the WebSocket endpoint', () => {
  let http: Server | undefined;
  afterEach(async () => {
    http?.closeAllConnections();
    await new Promise((resolve) => (http ? http.close(resolve) : resolve(undefined)));
    http = undefined;
  });

  it('answers a call whose handler throws as a server fault to that call alone, logs it, and serves the next call', async () => {
    const hub = createHub();
    // A hub with a bug: sending to "boom" throws instead of answering with a failure.
    const buggy: Hub = {
      ...hub,
      sendToPeer: (from, peerId, message) => {
        if (peerId === 'boom') throw new TypeError('a bug in the hub');
        return hub.sendToPeer(from, peerId, message);
      },
    };
    const faults: string[] = [];
    const route = wsRoute({ hub: buggy, path: '/v1/ws', onFault: (_error, where) => faults.push(where) });
    http = createServer();
    http.on('upgrade', (req, socket, head) => route.upgrade(req, socket, head));
    await new Promise<void>((resolve) => http?.listen(0, '127.0.0.1', resolve));
    const url = `ws://127.0.0.1:${(http.address() as AddressInfo).port}/v1/ws`;

    const socket = await raw(url);
    socket.ws.send(JSON.stringify({ type: 'hello', version: 1, userId: 'alice', token: hub.issueToken('alice') }));
    await socket.next('welcome');
    socket.ws.send(JSON.stringify({ type: 'call', id: 1, op: 'sendToPeer', peerId: 'boom', message: { messageType: 'TEXT', text: 'x' } }));
    expect(await socket.next('error')).toMatchObject({ id: 1, failure: { _tag: 'Unknown' } });
    socket.ws.send(JSON.stringify({ type: 'call', id: 2, op: 'sendToPeer', peerId: 'alice', message: { messageType: 'TEXT', text: 'x' } }));
    expect(await socket.next('result')).toMatchObject({ id: 2 });
    expect(faults).toEqual(['call 1']);
    socket.ws.close();
    route.close();
    hub.close();
  });
});
