/**
 * Faults of a three-node cluster of `ferry serve` processes sharing Redis and Ceph RGW (issue 14, "Tested
 * for real"): a node killed with SIGKILL in the middle of an upload, two PATCHes of one upload through two
 * nodes at once, and a dead node's channel members reported as left within the lease time.
 */
import { createHash } from 'node:crypto';
import { firstValueFrom } from 'rxjs';
import { afterEach, expect, it } from 'vitest';
import { createClient, type Client, textMessage } from '../../src/index.js';
import { CLAIM_TTL_MS } from '../../src/hub/upload-claim.js';
import { httpTransport } from '../../transports/http.js';
import { wsTransport } from '../../transports/ws.js';
import { OFFSET_STREAM, send, tus } from '../server/http-support.js';
import { type ProcessCluster, startProcessCluster } from './processes.js';
import { describeWithServices } from './services.js';

const MiB = 1024 * 1024;
const sha = (data: Uint8Array): string => createHash('sha256').update(data).digest('hex');
const pattern = (size: number, seed: number): Buffer => {
  const out = Buffer.alloc(size);
  for (let i = 0; i < size; i++) out[i] = (i * 31 + seed + (i >> 13)) & 0xff;
  return out;
};
/** Lease of each node in Redis: a dead node's sessions are reaped within about this plus one check. */
const NODE_LEASE_MS = 3_000;

describeWithServices('a cluster of ferry serve processes under faults', ['redis', 's3'], ({ redisUrl, s3 }) => {
  let cluster: ProcessCluster | undefined;
  const clients: Client[] = [];
  afterEach(async () => {
    await Promise.allSettled(clients.splice(0).map((client) => client.logout()));
    await cluster?.close();
    cluster = undefined;
  });
  const start = async (leaseMs = NODE_LEASE_MS): Promise<ProcessCluster> => {
    cluster = await startProcessCluster({ redisUrl, s3, flags: ['--node-lease', `${leaseMs / 1_000}s`] });
    return cluster;
  };

  it('kill -9 of the node carrying a 30 MiB upload after 12 MiB were acknowledged: it completes through another node with the right SHA-256', async () => {
    const { nodes, issueToken } = await start();
    const [a, b, c] = nodes as [(typeof nodes)[0], (typeof nodes)[0], (typeof nodes)[0]];
    const token = issueToken('alice');
    const bytes = pattern(30 * MiB, 7);
    const created = await send(`${a.url}/v1/uploads`, { method: 'POST', headers: tus(token, { 'Upload-Length': String(bytes.length) }) });
    expect(created.status).toBe(201);
    const id = String(created.headers.location).split('/').at(-1) as string;
    const first = await send(`${a.url}/v1/uploads/${id}`, {
      method: 'PATCH',
      headers: tus(token, { 'Upload-Offset': '0', ...OFFSET_STREAM }),
      body: bytes.subarray(0, 12 * MiB),
    });
    expect(first.status).toBe(204);
    expect(Number(first.headers['upload-offset'])).toBe(12 * MiB);

    // The rest streams through A, which dies in the middle of it.
    let sent = 12 * MiB;
    const streaming = send(`${a.url}/v1/uploads/${id}`, {
      method: 'PATCH',
      headers: tus(token, { 'Upload-Offset': String(12 * MiB), ...OFFSET_STREAM }),
      body: (async function* () {
        for (let at = 12 * MiB; at < 20 * MiB; at += 256 * 1024) {
          sent = at + 256 * 1024;
          yield bytes.subarray(at, at + 256 * 1024);
          await new Promise((resolve) => setTimeout(resolve, 2));
        }
        await new Promise(() => undefined); // stalls: the kill comes first
      })(),
    }).catch((error: unknown) => error);
    while (sent < 17 * MiB) await new Promise((resolve) => setTimeout(resolve, 10));
    await a.kill();
    await streaming;

    // The dead node's claim on the upload runs out (CLAIM_TTL_MS, 15 s) and B takes it over: until then a
    // PATCH is answered 409 and the client asks the offset again, as tus clients do.
    const killedAt = Date.now();
    let offset = -1;
    let rest: Awaited<ReturnType<typeof send>> | undefined;
    while (Date.now() - killedAt < CLAIM_TTL_MS + 10_000) {
      const head = await send(`${b.url}/v1/uploads/${id}`, { method: 'HEAD', headers: tus(token) });
      expect(head.status).toBe(200);
      offset = Number(head.headers['upload-offset']);
      expect(offset).toBeGreaterThanOrEqual(12 * MiB);
      expect(offset).toBeLessThanOrEqual(sent);
      // Nothing of it is media yet, on any node.
      expect((await send(`${c.url}/v1/media/${id}`, { headers: tus(token) })).status).toBe(404);
      rest = await send(`${b.url}/v1/uploads/${id}`, {
        method: 'PATCH',
        headers: tus(token, { 'Upload-Offset': String(offset), ...OFFSET_STREAM }),
        body: bytes.subarray(offset),
      });
      if (rest.status !== 409) break;
      await new Promise((resolve) => setTimeout(resolve, 1_000));
    }
    expect(rest?.status).toBe(204);
    expect(Date.now() - killedAt).toBeLessThan(CLAIM_TTL_MS + 10_000);
    const whole = await send(`${c.url}/v1/media/${id}`, { headers: tus(token) });
    expect(whole.status).toBe(200);
    expect(whole.body.length).toBe(bytes.length);
    expect(sha(whole.body)).toBe(sha(bytes));
    // The SHA-256 the cluster recorded (the ETag) is the bytes', though they came through two nodes.
    expect(whole.headers.etag).toBe(`"${sha(bytes)}"`);
  }, 120_000);

  it('two PATCHes of one upload through two nodes at once: exactly one appends, the other is answered 409', async () => {
    const { nodes, issueToken } = await start();
    const [a, b] = nodes as [(typeof nodes)[0], (typeof nodes)[0]];
    const token = issueToken('alice');
    const bytes = pattern(6 * MiB, 3);
    const created = await send(`${a.url}/v1/uploads`, { method: 'POST', headers: tus(token, { 'Upload-Length': String(bytes.length) }) });
    const id = String(created.headers.location).split('/').at(-1) as string;
    const patch = (url: string) =>
      send(`${url}/v1/uploads/${id}`, {
        method: 'PATCH',
        headers: tus(token, { 'Upload-Offset': '0', ...OFFSET_STREAM }),
        body: (async function* () {
          for (let at = 0; at < bytes.length; at += 512 * 1024) {
            yield bytes.subarray(at, at + 512 * 1024);
            await new Promise((resolve) => setTimeout(resolve, 5));
          }
        })(),
      });
    const replies = await Promise.all([patch(a.url), patch(b.url)]);
    const statuses = replies.map((reply) => reply.status).sort();
    expect(statuses).toEqual([204, 409]);
    const whole = await send(`${b.url}/v1/media/${id}`, { headers: tus(token) });
    expect(whole.status).toBe(200);
    expect(sha(whole.body)).toBe(sha(bytes));
    expect(whole.headers.etag).toBe(`"${sha(bytes)}"`);
  }, 60_000);

  it("a node's channel members are reported as left once, within the lease time, when it dies", async () => {
    const { nodes, issueToken } = await start();
    const [a, b] = nodes as [(typeof nodes)[0], (typeof nodes)[0]];
    const login = async (userId: string, url: string): Promise<Client> => {
      const client = createClient({ transport: httpTransport({ url }) });
      clients.push(client);
      await client.login({ userId, token: issueToken(userId) });
      return client;
    };
    const bob = await login('bob', b.url);
    const alice = await login('alice', a.url);
    const bobs = bob.createChannel('room');
    await bobs.join();
    const joined = firstValueFrom(bobs.memberJoined$);
    await alice.createChannel('room').join();
    expect(await joined).toBe('alice');
    const left: string[] = [];
    bobs.memberLeft$.subscribe((userId) => left.push(userId));
    const killedAt = Date.now();
    await a.kill();
    while (left.length === 0 && Date.now() - killedAt < 4 * NODE_LEASE_MS) await new Promise((resolve) => setTimeout(resolve, 50));
    const after = Date.now() - killedAt;
    expect(left).toEqual(['alice']);
    // The lease, one check interval, and the event's way to bob.
    expect(after).toBeLessThan(2 * NODE_LEASE_MS + 2_000);
    await new Promise((resolve) => setTimeout(resolve, NODE_LEASE_MS));
    expect(left).toEqual(['alice']);
    expect(await bobs.getMembers()).toEqual(['bob']);
  }, 60_000);

  for (const kind of ['http', 'ws'] as const) {
    it(`kill -9 of the receiver's node while messages flow (${kind}): every acknowledged message arrives once, in order`, async () => {
      const { nodes, issueToken } = await start(15_000);
      const [a, b, c] = nodes as [(typeof nodes)[0], (typeof nodes)[0], (typeof nodes)[0]];
      const transportOf = (urls: readonly string[]) =>
        kind === 'http' ? httpTransport({ url: urls }) : wsTransport({ url: urls.map((url) => `${url.replace(/^http/, 'ws')}/v1/ws`) });
      const login = async (userId: string, urls: readonly string[]): Promise<Client> => {
        const client = createClient({ transport: transportOf(urls) });
        clients.push(client);
        await client.login({ userId, token: issueToken(userId) });
        return client;
      };
      // Bob's client knows B first, then C; alice's only A.
      const bob = await login('bob', [b.url, c.url]);
      const alice = await login('alice', [a.url]);
      const received: number[] = [];
      bob.peerMessages$.subscribe((event) => {
        if (event.message.messageType === 'TEXT') received.push(Number(event.message.text));
      });
      const acknowledged: number[] = [];
      let killing: Promise<void> | undefined;
      for (let i = 0; i < 120; i++) {
        if (i === 40) killing = b.kill();
        try {
          await alice.sendMessageToPeer('bob', textMessage(String(i)));
          acknowledged.push(i);
        } catch {
          // Refused while bob was between nodes (peer unreachable): not acknowledged, not owed.
        }
        await new Promise((resolve) => setTimeout(resolve, 20));
      }
      await killing;
      const deadline = Date.now() + 20_000;
      while (Date.now() < deadline && acknowledged.some((i) => !received.includes(i))) await new Promise((resolve) => setTimeout(resolve, 50));
      expect(acknowledged.filter((i) => !received.includes(i))).toEqual([]);
      expect(received).toEqual([...new Set(received)].sort((x, y) => x - y));
      // Most got through: the session moved, it was not logged out and in again.
      expect(acknowledged.length).toBeGreaterThan(100);
    }, 90_000);
  }
});
