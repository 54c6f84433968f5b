/**
 * Faults on a real socket: a proxy that resets the connection after N bytes, for N chosen by
 * fast-check, under an upload and under a download (through `fetch`, and read directly by `directGet`).
 * The transfer resumes (tus HEAD + PATCH from the server's offset; GET with Range from the bytes kept)
 * and the SHA-256 matches.
 */
import { createHash } from 'node:crypto';
import { mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createClient } from '../../src/index.js';
import { startServer, type FerryServer } from '../../src/server/server.js';
import { httpTransport } from '../../transports/http.js';
import { fcOptions } from '../properties/support.js';
import { cuttingProxy } from './cutting-proxy.js';

const SIZE = 700_000;
const bytes = (seed: number): Uint8Array => {
  const out = new Uint8Array(SIZE);
  let x = seed;
  for (let i = 0; i < SIZE; i++) {
    x = (x * 1103515245 + 12345) >>> 0;
    out[i] = x >>> 24;
  }
  return out;
};
const sha = (data: Uint8Array): string => createHash('sha256').update(data).digest('hex');

describe('faults: connections reset mid-transfer', () => {
  let server: FerryServer;
  let proxy: Awaited<ReturnType<typeof cuttingProxy>>;
  beforeAll(async () => {
    server = await startServer({ port: 0 });
    proxy = await cuttingProxy(server.url);
  });
  afterAll(async () => {
    await proxy.close();
    await server.close();
  });

  const client = async (userId: string, directReadsFrom?: number) => {
    const transport = httpTransport({ url: proxy.url, reconnectDelays: [0, 50], ...(directReadsFrom === undefined ? {} : { directReadsFrom }) });
    const c = createClient({ transport, retryDelays: [0, 50], idleTimeoutMs: 20_000 });
    await c.login({ userId, token: server.issueToken(userId) });
    return c;
  };

  it('an upload reset after any number of bytes resumes from the server offset and the media hashes right', async () => {
    const alice = await client('alice');
    await fc.assert(
      fc.asyncProperty(fc.integer({ min: 200, max: SIZE }), fc.integer({ min: 1, max: 1_000_000 }), async (cutAt, seed) => {
        const data = bytes(seed);
        const before = proxy.cuts;
        proxy.arm(cutAt, 'up');
        const message = await alice.createFileMessageByUploading(data).result;
        expect(proxy.cuts).toBe(before + 1);
        const info = await server.hub.mediaInfo(message.mediaId);
        expect(info.sha256).toBe(sha(data));
      }),
      fcOptions(25),
    );
    await alice.logout();
  }, 120_000);

  it('a download reset after any number of bytes resumes with Range and the bytes hash right', async () => {
    const alice = await client('bob');
    const data = bytes(42);
    const { mediaId } = await alice.createFileMessageByUploading(data).result;
    await fc.assert(
      fc.asyncProperty(fc.integer({ min: 300, max: SIZE }), async (cutAt) => {
        const before = proxy.cuts;
        proxy.arm(cutAt, 'down');
        const got = await alice.downloadMediaToMemory(mediaId).result;
        expect(proxy.cuts).toBe(before + 1);
        expect(sha(got)).toBe(sha(data));
      }),
      fcOptions(25),
    );
    await alice.logout();
  }, 120_000);

  it('a download read directly (its own connection, one reused buffer) reset after any number of bytes resumes, to memory or to a file', async () => {
    const carol = await client('carol', 0);
    const data = bytes(43);
    const { mediaId } = await carol.createFileMessageByUploading(data).result;
    const folder = mkdtempSync(join(tmpdir(), 'ferry-faults-'));
    let serial = 0;
    await fc.assert(
      fc.asyncProperty(fc.integer({ min: 300, max: SIZE }), fc.boolean(), async (cutAt, toFile) => {
        const before = proxy.cuts;
        proxy.arm(cutAt, 'down');
        let got: Uint8Array;
        if (toFile) {
          const path = join(folder, `d${serial++}.bin`);
          await carol.downloadMediaToFile(mediaId, path).result;
          got = readFileSync(path);
        } else got = await carol.downloadMediaToMemory(mediaId).result;
        expect(proxy.cuts).toBe(before + 1);
        expect(sha(got)).toBe(sha(data));
        // Nothing but the finished files: no part file left behind by a resumed download.
        expect(readdirSync(folder).every((name) => name.endsWith('.bin'))).toBe(true);
      }),
      fcOptions(25),
    );
    rmSync(folder, { recursive: true, force: true });
    await carol.logout();
  }, 120_000);
});
