/**
 * Faults of the services a cluster runs on (issue 14): Redis killed and restarted while messages flow
 * (its append-only file fsynced at every write), and the S3 store out of reach (a proxy in front of RGW
 * that drops every connection). Nodes are `ferry serve` processes; the Redis here is a private one.
 */
import { createHash } from 'node:crypto';
import { afterEach, expect, it } from 'vitest';
import { type Client, createClient, textMessage } from '../../src/index.js';
import { httpTransport } from '../../transports/http.js';
import { cuttingProxy } from '../server/cutting-proxy.js';
import { OFFSET_STREAM, send, tus } from '../server/http-support.js';
import { privateRedis } from './bus-redis-support.js';
import { type ProcessCluster, startProcessCluster } from './processes.js';
import { describeWithServices } from './services.js';

const MiB = 1024 * 1024;
const sha = (data: Uint8Array): string => createHash('sha256').update(data).digest('hex');
const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

describeWithServices('a cluster when Redis or the S3 store fails', ['redis', 's3'], ({ s3 }) => {
  const cleanups: (() => Promise<unknown>)[] = [];
  afterEach(async () => {
    for (const cleanup of cleanups.splice(0).reverse()) await cleanup().catch(() => undefined);
  });

  it('Redis killed and restarted while messages flow: the nodes recover and every acknowledged message arrives once, in order', async () => {
    const redis = await privateRedis();
    cleanups.push(() => redis.dispose());
    const cluster: ProcessCluster = await startProcessCluster({ redisUrl: redis.url, s3, nodes: 2 });
    cleanups.push(() => cluster.close());
    const [a, b] = cluster.nodes as [ProcessCluster['nodes'][0], ProcessCluster['nodes'][0]];
    const login = async (userId: string, url: string): Promise<Client> => {
      const client = createClient({ transport: httpTransport({ url }) });
      cleanups.push(() => client.logout());
      await client.login({ userId, token: cluster.issueToken(userId) });
      return client;
    };
    const bob = await login('bob', b.url);
    const alice = await login('alice', a.url);
    const received: string[] = [];
    bob.peerMessages$.subscribe((event) => {
      if (event.message.messageType === 'TEXT') received.push(event.message.text);
    });
    const acknowledged: string[] = [];
    const send1 = async (text: string): Promise<void> => {
      try {
        await alice.sendMessageToPeer('bob', textMessage(text));
        acknowledged.push(text);
      } catch {
        // Refused while Redis is away: not acknowledged, so not owed.
      }
    };
    for (let i = 0; i < 20; i++) await send1(`m${i}`);
    // Killed (only its append-only file survives), away for a second, started again.
    const restarting = (async () => {
      await redis.kill();
      await sleep(1_000);
      await redis.start();
    })();
    for (let i = 20; i < 40; i++) {
      await send1(`m${i}`);
      await sleep(50);
    }
    await restarting;
    // Back: sends succeed again (within a few seconds of reconnecting).
    const deadline = Date.now() + 15_000;
    let i = 40;
    while (Date.now() < deadline) {
      const before = acknowledged.length;
      await send1(`m${i++}`);
      if (acknowledged.length > before && i > 45) break;
      await sleep(100);
    }
    for (let j = 0; j < 10; j++) await send1(`m${i++}`);
    expect(acknowledged.slice(-10)).toEqual(Array.from({ length: 10 }, (_, j) => `m${i - 10 + j}`));
    const waitUntil = Date.now() + 15_000;
    while (Date.now() < waitUntil && !acknowledged.every((text) => received.includes(text))) await sleep(50);
    // Every acknowledged message arrived; none twice; in the order sent.
    expect(acknowledged.filter((text) => !received.includes(text))).toEqual([]);
    expect(new Set(received).size).toBe(received.length);
    const order = (text: string): number => Number(text.slice(1));
    expect(received.map(order)).toEqual([...received.map(order)].sort((x, y) => x - y));
  }, 90_000);

  it('the S3 store out of reach: uploads fail with a clear code, nothing partial is visible, /readyz says why, and all resumes when it is back', async () => {
    const proxy = await cuttingProxy(s3.endpoint);
    cleanups.push(() => proxy.close());
    const { redisUrl } = { redisUrl: process.env.FERRY_TEST_REDIS_URL as string };
    const cluster = await startProcessCluster({ redisUrl, s3: { ...s3, endpoint: proxy.url }, nodes: 1 });
    cleanups.push(() => cluster.close());
    const node = cluster.nodes[0] as ProcessCluster['nodes'][0];
    const token = cluster.issueToken('alice');
    const bytes = Buffer.alloc(2 * MiB, 9);
    const created = await send(`${node.url}/v1/uploads`, { method: 'POST', headers: tus(token, { 'Upload-Length': String(bytes.length) }) });
    expect(created.status).toBe(201);
    const location = `${node.url}/v1/uploads/${String(created.headers.location).split('/').at(-1)}`;
    const id = location.split('/').at(-1) as string;
    const first = await send(location, { method: 'PATCH', headers: tus(token, { 'Upload-Offset': '0', ...OFFSET_STREAM }), body: bytes.subarray(0, MiB) });
    expect(first.status).toBe(204);
    expect((await send(`${node.url}/readyz`)).status).toBe(200);

    proxy.setDown(true);
    proxy.dropAll();
    const started = Date.now();
    const create = await send(`${node.url}/v1/uploads`, { method: 'POST', headers: tus(token, { 'Upload-Length': '10' }) });
    expect(create.status).toBe(503);
    expect(create.failure()._tag).toBe('Unavailable');
    const patch = await send(location, { method: 'PATCH', headers: tus(token, { 'Upload-Offset': String(MiB), ...OFFSET_STREAM }), body: bytes.subarray(MiB) });
    expect(patch.status).toBe(503);
    // Answered within the store's timeouts, not hung.
    expect(Date.now() - started).toBeLessThan(30_000);
    expect((await send(`${node.url}/v1/media/${id}`, { headers: tus(token) })).status).not.toBe(200);
    let ready = await send(`${node.url}/readyz`);
    for (let tries = 0; ready.status === 200 && tries < 40; tries++) {
      await sleep(250);
      ready = await send(`${node.url}/readyz`);
    }
    expect(ready.status).toBe(503);
    expect(ready.body.toString()).toMatch(/s3/i);

    proxy.setDown(false);
    for (let tries = 0; ready.status !== 200 && tries < 60; tries++) {
      await sleep(250);
      ready = await send(`${node.url}/readyz`);
    }
    expect(ready.status).toBe(200);
    const head = await send(location, { method: 'HEAD', headers: tus(token) });
    expect(Number(head.headers['upload-offset'])).toBe(MiB);
    const rest = await send(location, { method: 'PATCH', headers: tus(token, { 'Upload-Offset': String(MiB), ...OFFSET_STREAM }), body: bytes.subarray(MiB) });
    expect(rest.status).toBe(204);
    const whole = await send(`${node.url}/v1/media/${id}`, { headers: tus(token) });
    expect(whole.status).toBe(200);
    expect(sha(whole.body)).toBe(sha(bytes));
  }, 90_000);
});
