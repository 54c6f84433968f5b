/**
 * Restarts on the same data folder: completed media is served, a partial upload resumes from its
 * durable offset, and tokens stay valid because the generated secret is kept (mode 0600).
 */
import { existsSync, readdirSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { bearer, bytesOf, create, eventually, mediaIdOf, mediaUrl, newDataDir, patch, send, sha256, start, tus, upload } from './http-support.js';

describe('restart on the same data folder', () => {
  it('serves completed media and resumes a partial upload from its durable offset', async () => {
    const dataDir = newDataDir();
    const first = await start({ dataDir });
    const token = first.issueToken('alice');
    const complete = bytesOf(200_000, 1);
    const completeId = await upload(first, token, complete);
    const partial = bytesOf(300_000, 2);
    const location = await create(first, token, partial.length);
    expect((await patch(location, token, 0, partial.subarray(0, 120_000))).status).toBe(204);
    await first.close();

    // A new port: the old upload URL is rebased by its path.
    const second = await start({ dataDir });
    const moved = `${second.uploadsUrl}/${mediaIdOf(location)}`;
    const head = await send(moved, { method: 'HEAD', headers: tus(token) });
    expect(head.status).toBe(200);
    expect(head.headers['upload-offset']).toBe('120000');
    expect((await patch(moved, token, 120_000, partial.subarray(120_000))).headers['upload-offset']).toBe('300000');

    for (const [id, bytes] of [
      [completeId, complete],
      [mediaIdOf(location), partial],
    ] as const) {
      const reply = await send(mediaUrl(second, id), { headers: bearer(token) });
      expect(reply.status).toBe(200);
      expect(sha256(reply.body)).toBe(sha256(bytes));
    }
  });

  it('keeps the generated secret in <dataDir>/secret with mode 0600 and reuses it', async () => {
    const dataDir = newDataDir();
    const first = await start({ dataDir });
    const token = first.issueToken('alice');
    const mediaId = await upload(first, token, bytesOf(10));
    await first.close();
    expect(statSync(join(dataDir, 'secret')).mode & 0o777).toBe(0o600);
    const second = await start({ dataDir });
    expect((await send(mediaUrl(second, mediaId), { headers: bearer(token) })).status).toBe(200);
  });

  it('uses a given secret instead, so tokens minted elsewhere with it are accepted', async () => {
    const one = await start({ secret: 'shared secret' });
    const two = await start({ secret: 'shared secret', dataDir: newDataDir() });
    const mediaId = await upload(two, one.issueToken('alice'), bytesOf(10));
    expect((await send(mediaUrl(two, mediaId), { headers: bearer(one.issueToken('bob')) })).status).toBe(200);
  });

  it('keeps what a request in flight delivered when the server closes under it', async () => {
    const dataDir = newDataDir();
    const first = await start({ dataDir });
    const token = first.issueToken('alice');
    const bytes = bytesOf(1_000, 3);
    const location = await create(first, token, bytes.length);
    async function* stallAfter400(): AsyncIterable<Uint8Array> {
      yield bytes.subarray(0, 400);
      await new Promise(() => undefined); // the client never sends the rest
    }
    const inFlight = patch(location, token, 0, stallAfter400(), { 'Content-Length': '1000' }).catch((error: unknown) => error);
    const id = mediaIdOf(location);
    await eventually(async () => (await first.hub.uploadStatus('alice', id)).offset === 400);
    await first.close();
    expect(await inFlight).toBeInstanceOf(Error); // the connection was closed under it

    const second = await start({ dataDir });
    const moved = `${second.uploadsUrl}/${id}`;
    expect((await send(moved, { method: 'HEAD', headers: tus(token) })).headers['upload-offset']).toBe('400');
    expect((await patch(moved, token, 400, bytes.subarray(400))).status).toBe(204);
  });

  it('without a dataDir keeps everything in a temporary folder that close() removes', async () => {
    const server = await start();
    const mediaId = await upload(server, server.issueToken('alice'), bytesOf(10));
    // Other spec files run servers too: ours is the temporary folder holding this media's record.
    const folder = readdirSync(tmpdir())
      .filter((name) => name.startsWith('ferry-server-'))
      .map((name) => join(tmpdir(), name))
      .find((path) => existsSync(join(path, 'meta', `${mediaId}.json`)));
    expect(folder).toBeDefined();
    await server.close();
    expect(existsSync(folder ?? '')).toBe(false);
  });
});
