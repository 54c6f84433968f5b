/**
 * Connections that stall: the idle timeout cuts clients that send nothing but never a slow honest
 * upload, and a resume after a half-open drop takes the upload over at once instead of waiting for it.
 */
import { connect, type Socket } from 'node:net';
import { describe, expect, it } from 'vitest';
import type { FerryServer } from '../../src/server/server.js';
import { bearer, bytesOf, create, delay, eventually, mediaIdOf, mediaUrl, patch, send, sha256, start, tus, upload } from './http-support.js';

/** A raw connection that sends exactly what it is told, and records what comes back. */
const rawClient = async (server: FerryServer) => {
  const { port, hostname } = new URL(server.url);
  const socket: Socket = connect(Number(port), hostname);
  await new Promise((ok, fail) => socket.once('connect', ok).once('error', fail));
  let received = '';
  socket.on('data', (chunk: Buffer) => (received += chunk.toString('latin1')));
  socket.on('error', () => undefined); // a reset is one of the outcomes under test
  const closed = new Promise<number>((ok) => socket.once('close', () => ok(Date.now())));
  return { socket, closed, received: () => received };
};

const patchHead = (location: string, token: string, offset: number, length: number): string => {
  const { pathname, host } = new URL(location);
  return [
    `PATCH ${pathname} HTTP/1.1`,
    `Host: ${host}`,
    `Authorization: Bearer ${token}`,
    'Tus-Resumable: 1.0.0',
    'Content-Type: application/offset+octet-stream',
    `Upload-Offset: ${offset}`,
    `Content-Length: ${length}`,
    '',
    '',
  ].join('\r\n');
};

describe('idle timeout', () => {
  it('cuts a client that sent its headers and then nothing, and the upload stays resumable', async () => {
    const server = await start({ idleTimeoutMs: 300 });
    const token = server.issueToken('alice');
    const location = await create(server, token, 100);
    const client = await rawClient(server);
    const began = Date.now();
    client.socket.write(patchHead(location, token, 0, 100));
    const elapsed = (await client.closed) - began;
    expect(elapsed).toBeGreaterThanOrEqual(250);
    expect(elapsed).toBeLessThan(3_000);
    expect((await send(location, { method: 'HEAD', headers: tus(token) })).headers['upload-offset']).toBe('0');
    expect((await patch(location, token, 0, bytesOf(100))).status).toBe(204);
  });

  it('cuts a client that stops in the middle of its headers', async () => {
    const server = await start({ idleTimeoutMs: 300 });
    const client = await rawClient(server);
    const began = Date.now();
    client.socket.write('POST /v1/uploads HTTP/1.1\r\nHost: x\r\nTus-Resum');
    expect((await client.closed) - began).toBeLessThan(3_000);
  });

  it('cuts a client that stops reading a download, within two idle timeouts', async () => {
    const server = await start({ idleTimeoutMs: 300 });
    const token = server.issueToken('alice');
    const size = 30 * 1024 * 1024;
    const mediaId = await upload(server, token, bytesOf(size, 7));
    const client = await rawClient(server);
    const { pathname, host } = new URL(mediaUrl(server, mediaId));
    client.socket.write(`GET ${pathname} HTTP/1.1\r\nHost: ${host}\r\nAuthorization: Bearer ${token}\r\n\r\n`);
    await eventually(() => client.received().length > 0);
    // The reader stops: the kernel's buffers fill, the server's write waits. A cut cannot be seen without
    // reading (its FIN waits behind the unread bytes), so the reader comes back after two idle timeouts
    // and a margin, and finds the response ended short of the media.
    client.socket.pause();
    await delay(2 * 300 + 400);
    client.socket.resume();
    await client.closed;
    expect(client.received().length).toBeLessThan(size);
  });

  it('never cuts a slow honest upload that keeps sending bytes', async () => {
    const server = await start({ idleTimeoutMs: 400 });
    const token = server.issueToken('alice');
    const bytes = bytesOf(1_500, 5);
    const location = await create(server, token, bytes.length);
    async function* trickle(): AsyncIterable<Uint8Array> {
      for (let at = 0; at < bytes.length; at += 100) {
        await delay(80);
        yield bytes.subarray(at, at + 100);
      }
    }
    const began = Date.now();
    const reply = await patch(location, token, 0, trickle(), { 'Content-Length': String(bytes.length) });
    expect(Date.now() - began).toBeGreaterThan(1_000); // well past the idle timeout in total
    expect(reply.status).toBe(204);
    expect(reply.headers['upload-offset']).toBe('1500');
  });
});

describe('resuming after a half-open drop', () => {
  const stalledUpload = async () => {
    const server = await start();
    const token = server.issueToken('alice');
    const bytes = bytesOf(1_000, 6);
    const location = await create(server, token, bytes.length);
    const stalled = await rawClient(server);
    stalled.socket.write(patchHead(location, token, 0, bytes.length));
    stalled.socket.write(bytes.subarray(0, 400));
    const mediaId = mediaIdOf(location);
    // The hub (not a request, which would take the upload over) tells when the bytes are in.
    await eventually(async () => (await server.hub.uploadStatus('alice', mediaId)).offset === 400);
    return { server, token, bytes, location, mediaId, stalled };
  };

  it('answers HEAD at once with the bytes the stalled request delivered, and closes the stalled request with 409', async () => {
    const { server, token, bytes, location, mediaId, stalled } = await stalledUpload();
    const began = Date.now();
    const head = await send(location, { method: 'HEAD', headers: tus(token) });
    expect(Date.now() - began).toBeLessThan(1_000);
    expect(head.headers['upload-offset']).toBe('400');
    await stalled.closed;
    expect(stalled.received()).toMatch(/^HTTP\/1\.1 409 /);
    expect(stalled.received()).toContain('superseded by a newer request');
    expect((await patch(location, token, 400, bytes.subarray(400))).status).toBe(204);
    expect(sha256((await send(mediaUrl(server, mediaId), { headers: bearer(token) })).body)).toBe(sha256(bytes));
  });

  it('lets a new PATCH at the delivered offset take over directly', async () => {
    const { server, token, bytes, location, mediaId } = await stalledUpload();
    const reply = await patch(location, token, 400, bytes.subarray(400));
    expect(reply.status).toBe(204);
    expect(reply.headers['upload-offset']).toBe('1000');
    expect(sha256((await send(mediaUrl(server, mediaId), { headers: bearer(token) })).body)).toBe(sha256(bytes));
  });

  it("does not let another user's request disturb a running upload", async () => {
    const { server, token, bytes, location, mediaId, stalled } = await stalledUpload();
    expect((await send(location, { method: 'HEAD', headers: tus(server.issueToken('bob')) })).status).toBe(404);
    stalled.socket.write(bytes.subarray(400));
    await eventually(() => stalled.received().includes('\r\n\r\n'));
    expect(stalled.received()).toMatch(/^HTTP\/1\.1 204 /);
    expect(sha256((await send(mediaUrl(server, mediaId), { headers: bearer(token) })).body)).toBe(sha256(bytes));
    stalled.socket.destroy();
  });

  it("does not let another user's PATCH to the upload ID break the owner's resume (issue 12, defect 4)", async () => {
    const { server, token, bytes, location, mediaId, stalled } = await stalledUpload();
    expect((await patch(location, server.issueToken('mallory'), 400, bytes.subarray(400))).status).toBe(404);
    // The owner's half-open resume still takes the upload over at once, instead of 409 until the idle timeout.
    const head = await send(location, { method: 'HEAD', headers: tus(token) });
    expect(head.status).toBe(200);
    expect(head.headers['upload-offset']).toBe('400');
    await stalled.closed;
    expect((await patch(location, token, 400, bytes.subarray(400))).status).toBe(204);
    expect(sha256((await send(mediaUrl(server, mediaId), { headers: bearer(token) })).body)).toBe(sha256(bytes));
  });

  it('lets a PATCH whose body has all arrived finish, its bytes recorded, when a HEAD comes right behind it', async () => {
    const server = await start();
    const token = server.issueToken('alice');
    const bytes = bytesOf(1_000, 8);
    const location = await create(server, token, 2_000);
    const { pathname, host } = new URL(location);
    const client = await rawClient(server);
    // One write: the PATCH with all its bytes, then a HEAD pipelined behind it on the same connection.
    const head = [`HEAD ${pathname} HTTP/1.1`, `Host: ${host}`, `Authorization: Bearer ${token}`, 'Tus-Resumable: 1.0.0', '', ''].join('\r\n');
    client.socket.write(Buffer.concat([Buffer.from(patchHead(location, token, 0, bytes.length), 'latin1'), Buffer.from(bytes), Buffer.from(head, 'latin1')]));
    await eventually(() => (client.received().match(/^HTTP\/1\.1 /gm) ?? []).length === 2);
    const [patched, headed] = client.received().split(/(?=^HTTP\/1\.1 )/m);
    expect(patched).toMatch(/^HTTP\/1\.1 204 /);
    expect(patched).toMatch(/^Upload-Offset: 1000\r$/im);
    expect(headed).toMatch(/^HTTP\/1\.1 200 /);
    expect(headed).toMatch(/^Upload-Offset: 1000\r$/im);
    client.socket.destroy();
    await server.close();
  });

  it('closes promptly while a request stalls, keeping the bytes it delivered', async () => {
    const { server, stalled } = await stalledUpload();
    const began = Date.now();
    await server.close();
    expect(Date.now() - began).toBeLessThan(2_000);
    await stalled.closed;
  });
});
