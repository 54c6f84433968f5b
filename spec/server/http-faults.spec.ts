/**
 * Faults on a real socket: a proxy that resets the connection after N bytes, for N chosen by
 * fast-check, under an upload and under a download. The transfer resumes (tus HEAD + PATCH from the
 * server's offset; GET with Range from the bytes kept) and the SHA-256 matches.
 */
import { createHash } from 'node:crypto';
import { connect, createServer, type Server, type Socket } from 'node:net';
import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createClient } from '../../src/index.js';
import { startServer, type FerryServer } from '../../src/server/server.js';
import { httpTransport } from '../../transports/http.js';
import { fcOptions } from '../properties/support.js';

/**
 * A proxy that resets the first connection to carry more than `cutAt` bytes in `direction`, once per
 * armed cut; every other connection passes untouched.
 */
const cuttingProxy = async (target: string) => {
  const { hostname, port } = new URL(target);
  let armed: { cutAt: number; direction: 'up' | 'down' } | undefined;
  let cuts = 0;
  const open = new Set<Socket>();
  const server: Server = createServer((client: Socket) => {
    const upstream = connect(Number(port), hostname);
    open.add(client).add(upstream);
    client.on('close', () => open.delete(client));
    upstream.on('close', () => open.delete(upstream));
    let up = 0;
    let down = 0;
    const cut = (): void => {
      armed = undefined;
      cuts++;
      client.resetAndDestroy();
      upstream.destroy();
    };
    client.on('data', (chunk: Buffer) => {
      up += chunk.length;
      if (armed?.direction === 'up' && up > armed.cutAt) return cut();
      upstream.write(chunk);
    });
    upstream.on('data', (chunk: Buffer) => {
      down += chunk.length;
      if (armed?.direction === 'down' && down > armed.cutAt) return cut();
      client.write(chunk);
    });
    client.on('end', () => upstream.end());
    upstream.on('end', () => client.end());
    client.on('error', () => upstream.destroy());
    upstream.on('error', () => client.destroy());
    client.on('close', () => upstream.destroy());
    upstream.on('close', () => client.destroy());
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const address = server.address();
  return {
    url: `http://127.0.0.1:${typeof address === 'object' && address ? address.port : 0}`,
    arm: (cutAt: number, direction: 'up' | 'down') => {
      armed = { cutAt, direction };
    },
    get cuts() {
      return cuts;
    },
    close: () => {
      for (const socket of open) socket.destroy();
      return new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
};

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

  const client = async (userId: string) => {
    const c = createClient({ transport: httpTransport({ url: proxy.url, reconnectDelays: [0, 50] }), retryDelays: [0, 50], idleTimeoutMs: 20_000 });
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
});
