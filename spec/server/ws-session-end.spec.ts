/**
 * A WebSocket session that is kicked (the same user logs in elsewhere) leaves no partial upload behind,
 * including one whose creation was still running at the hub when the session ended (on a cluster the
 * kick comes through Redis while the S3 store is still creating the upload), and one its append was
 * accepted to only after it ended (decision 136).
 */
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { createHub, type Hub } from '../../src/index.js';
import { wsRoute, type WsRoute } from '../../src/server/ws-endpoint.js';
import { CloseCode } from '../../src/protocol/ws-frames.js';
import { rawLoggedIn } from './ws-raw.js';

/** A hub call held open: `hold()` (inside the call) says it was entered and waits for `release()`. */
const heldCall = () => {
  let release: () => void = () => undefined;
  const gate = new Promise<void>((resolve) => (release = resolve));
  let enter: () => void = () => undefined;
  const entered = new Promise<void>((resolve) => (enter = resolve));
  return {
    entered,
    release: () => release(),
    hold: async (): Promise<void> => {
      enter();
      await gate;
    },
  };
};

/** Where alice's upload stands at the real hub: 'still there', or the failure's tag once it is gone. */
const standing = (hub: Hub, uploadId: string): Promise<string | undefined> =>
  hub.uploadStatus('alice', uploadId).then(
    () => 'still there',
    (error: { failure?: { _tag?: string } }) => error.failure?._tag,
  );

describe('a kicked WebSocket session', () => {
  let http: Server | undefined;
  let route: WsRoute | undefined;
  let hub: Hub | undefined;
  afterEach(async () => {
    route?.close();
    hub?.close();
    await new Promise((resolve) => (http ? http.close(resolve) : resolve(undefined)));
    http = undefined;
  });

  /** Serves the WebSocket endpoint over `over` on loopback; resolves with its URL. */
  const serve = async (over: Hub): Promise<string> => {
    route = wsRoute({ hub: over, path: '/v1/ws' });
    const server = createServer();
    http = server;
    server.on('upgrade', (req, socket, head) => route?.upgrade(req, socket, head));
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    return `ws://127.0.0.1:${(server.address() as AddressInfo).port}/v1/ws`;
  };

  it('removes an upload the hub finished creating after the session ended, though its socket closed before the hub answered', async () => {
    const real = createHub();
    hub = real;
    const creation = heldCall();
    const created: string[] = [];
    // The hub is slow to create uploads, as an S3 store is: the creation is held until the kick landed.
    const slow: Hub = {
      ...real,
      createUpload: async (userId, request) => {
        await creation.hold();
        const upload = await real.createUpload(userId, request);
        created.push(upload.uploadId);
        return upload;
      },
    };
    const url = await serve(slow);

    const first = await rawLoggedIn(url, 'alice', real.issueToken('alice'));
    first.ws.send(JSON.stringify({ type: 'call', id: 1, op: 'createUpload', size: 1_000, fileName: 'a.bin' }));
    await creation.entered;
    const second = await rawLoggedIn(url, 'alice', real.issueToken('alice'));
    const event = await first.next('event');
    expect(event).toMatchObject({ event: { type: 'aborted' } });
    expect(await first.closed).toMatchObject({ code: CloseCode.sessionEnded });
    creation.release();

    await vi.waitFor(() => expect(created).toHaveLength(1));
    const uploadId = created[0] as string;
    await vi.waitFor(async () => expect(await standing(real, uploadId)).not.toBe('still there'), { timeout: 2_000 });
    // The user's new session is unaffected.
    second.ws.send(JSON.stringify({ type: 'call', id: 1, op: 'createUpload', size: 10, fileName: 'b.bin' }));
    expect(await second.next('result')).toMatchObject({ id: 1 });
    first.ws.close();
    second.ws.close();
  });

  it('removes an upload whose append the hub accepted only after the session ended', async () => {
    const real = createHub();
    hub = real;
    const check = heldCall();
    let hold = false;
    // The append's check of the upload (which accepts it as the session's) is held until the kick landed.
    const slow: Hub = {
      ...real,
      uploadStatus: async (userId, uploadId) => {
        if (hold) {
          hold = false;
          await check.hold();
        }
        return real.uploadStatus(userId, uploadId);
      },
    };
    const url = await serve(slow);

    // An upload the user made before (another session, or over HTTP), which this session appends to.
    const { uploadId } = await real.createUpload('alice', { size: 1_000, fileName: 'a.bin' });
    const first = await rawLoggedIn(url, 'alice', real.issueToken('alice'));
    hold = true;
    first.ws.send(JSON.stringify({ type: 'call', id: 1, op: 'append', transfer: 1, uploadId, offset: 0 }));
    await check.entered;
    const second = await rawLoggedIn(url, 'alice', real.issueToken('alice'));
    expect(await first.closed).toMatchObject({ code: CloseCode.sessionEnded });
    check.release();
    await vi.waitFor(async () => expect(await standing(real, uploadId)).toBe('NotExist'), { timeout: 2_000 });
    second.ws.close();
  });
});
