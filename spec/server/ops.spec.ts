/**
 * Operating the server (issue 12): health and readiness probes, Prometheus metrics that move by what
 * was done, request IDs, logs without secrets, and a drain that lets work finish, tells every session
 * to reconnect and keeps the bytes of an interrupted upload. Real servers on 127.0.0.1, real sockets.
 */
import { request } from 'node:http';
import { rmSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { createClient } from '../../src/client/client.js';
import { encodeMessage, textMessage } from '../../src/index.js';
import { memoryStore } from '../../src/hub/media-store.js';
import { readinessCheck } from '../../src/server/health.js';
import { createLogger } from '../../src/server/log.js';
import { serverMetrics } from '../../src/server/metrics.js';
import { httpTransport } from '../../transports/http.js';
import { bearer, bytesOf, create, delay, eventually, mediaUrl, newDataDir, OFFSET_STREAM, send, start, tus, upload } from './http-support.js';
import { raw } from './ws-raw.js';

/** The value of one sample in a Prometheus text exposition (`undefined` if absent). */
const sample = (text: string, name: string, labels: Readonly<Record<string, string>> = {}): number | undefined => {
  const wanted = Object.entries(labels);
  for (const line of text.split('\n')) {
    const match = /^([a-zA-Z_:][\w:]*)(?:\{(.*)\})? (\S+)$/.exec(line);
    if (!match || match[1] !== name) continue;
    const found = Object.fromEntries([...(match[2] ?? '').matchAll(/(\w+)="([^"]*)"/g)].map((m) => [m[1], m[2]]));
    if (wanted.every(([key, value]) => found[key] === value) && Object.keys(found).length === wanted.length) return Number(match[3]);
  }
  return undefined;
};

const scrape = async (base: string): Promise<string> => {
  const reply = await send(`${base}/metrics`);
  expect(reply.status).toBe(200);
  expect(reply.headers['content-type']).toMatch(/^text\/plain; version=0\.0\.4/);
  return reply.body.toString('utf8');
};

/** A request body that sends `first` and then nothing until `release()`: an upload stalled mid-way. */
const stalled = (first: Uint8Array): { body: AsyncIterable<Uint8Array>; release(): void } => {
  let release = (): void => undefined;
  const held = new Promise<void>((resolve) => {
    release = resolve;
  });
  return {
    body: (async function* () {
      yield first;
      await held;
    })(),
    release: () => release(),
  };
};

/** The upload's offset as HEAD reports it. */
const offsetOf = async (location: string, token: string): Promise<number> => {
  const head = await send(location, { method: 'HEAD', headers: tus(token) });
  expect(head.status).toBe(200);
  return Number(head.headers['upload-offset']);
};

/** Log lines written through a destination of our own. */
const capture = (): { lines: () => Record<string, unknown>[]; text: () => string; destination: { write(line: string): void } } => {
  let text = '';
  return {
    destination: {
      write: (line: string) => {
        text += line;
      },
    },
    text: () => text,
    lines: () =>
      text
        .split('\n')
        .filter((line) => line !== '')
        .map((line) => JSON.parse(line) as Record<string, unknown>),
  };
};

describe('health and readiness', () => {
  it('answers /healthz and /readyz with 200 while serving, and only GET or HEAD', async () => {
    const server = await start();
    expect(server.metricsUrl).toBe(server.url);
    const health = await send(`${server.url}/healthz`);
    expect(health.status).toBe(200);
    expect(JSON.parse(health.body.toString())).toEqual({ alive: true });
    const ready = await send(`${server.url}/readyz`);
    expect(ready.status).toBe(200);
    expect(JSON.parse(ready.body.toString())).toEqual({ ready: true });
    expect((await send(`${server.url}/readyz`, { method: 'HEAD' })).status).toBe(200);
    const posted = await send(`${server.url}/healthz`, { method: 'POST' });
    expect(posted.status).toBe(405);
    expect(posted.headers.allow).toBe('GET, HEAD');
  });

  it('answers /readyz with 503 and the reason when the data folder cannot be written (removed: chmod does not stop root)', async () => {
    const dataDir = newDataDir();
    const server = await start({ dataDir });
    rmSync(dataDir, { recursive: true, force: true });
    const ready = await send(`${server.url}/readyz`);
    expect(ready.status).toBe(503);
    const body = JSON.parse(ready.body.toString()) as { ready: boolean; reason: string };
    expect(body.ready).toBe(false);
    expect(body.reason).toMatch(/the store is not writable: .*ENOENT/);
    expect((await send(`${server.url}/healthz`)).status).toBe(200); // alive, only not ready
  });

  it('probes the store once for a flood of /readyz within the cache time', async () => {
    const dataDir = newDataDir();
    const server = await start({ dataDir });
    expect((await send(`${server.url}/readyz`)).status).toBe(200);
    // Removed after a success: answers within the second still come from the cached probe.
    rmSync(dataDir, { recursive: true, force: true });
    const answers = await Promise.all(Array.from({ length: 20 }, () => send(`${server.url}/readyz`)));
    expect(answers.map((a) => a.status)).toEqual(Array.from({ length: 20 }, () => 200));
  });

  it('serves /healthz, /readyz and /metrics on metricsPort alone when it is given', async () => {
    const server = await start({ metricsPort: 0 });
    expect(server.metricsUrl).not.toBe(server.url);
    for (const path of ['/healthz', '/readyz', '/metrics']) {
      expect((await send(`${server.metricsUrl}${path}`)).status, path).toBe(200);
      expect((await send(`${server.url}${path}`)).status, path).toBe(404);
    }
    expect((await send(`${server.metricsUrl}/v1/uploads`, { method: 'POST' })).status).toBe(404);
  });
});

describe('metrics', () => {
  it('count the bytes of an upload and a download, the store operations, messages and sessions', async () => {
    const server = await start();
    const before = await scrape(server.url);
    expect(sample(before, 'ferry_received_bytes_total')).toBe(0);
    expect(sample(before, 'ferry_refusals_total', { limit: 'unfinishedUploads' })).toBe(0);
    // prom-client's process metrics, on the server's own registry.
    expect(sample(before, 'process_cpu_user_seconds_total')).toBeGreaterThanOrEqual(0);
    expect(before).toMatch(/^nodejs_heap_size_used_bytes \d/m);

    const token = server.issueToken('alice');
    const bytes = bytesOf(300_000, 7);
    const mediaId = await upload(server, token, bytes);
    const download = await send(mediaUrl(server, mediaId), { headers: bearer(token) });
    expect(download.status).toBe(200);
    expect(download.body.length).toBe(bytes.length);

    // The read ends at the hub just after the last byte went out: the client may see the body first.
    await eventually(async () => sample(await scrape(server.url), 'ferry_transfers_active', { direction: 'download' }) === 0);
    const after = await scrape(server.url);
    expect(sample(after, 'ferry_received_bytes_total')).toBe(bytes.length);
    expect(sample(after, 'ferry_sent_bytes_total')).toBe(bytes.length);
    const ended = (direction: string, outcome: string): number => sample(after, 'ferry_transfers_total', { direction, outcome }) ?? -1;
    expect(ended('upload', 'done')).toBe(1);
    // The GET route stops reading at the media's last byte without asking for more: still a whole download.
    expect(ended('download', 'done')).toBe(1);
    for (const direction of ['upload', 'download']) {
      expect(ended(direction, 'failed') + ended(direction, 'cancelled'), direction).toBe(0);
      expect(sample(after, 'ferry_transfers_active', { direction }), direction).toBe(0);
    }
    for (const op of ['create', 'append', 'complete', 'read']) {
      expect(sample(after, 'ferry_store_operation_duration_seconds_count', { op }), op).toBeGreaterThanOrEqual(1);
    }
    expect(sample(after, 'ferry_store_operation_duration_seconds_bucket', { op: 'create', le: '+Inf' })).toBe(
      sample(after, 'ferry_store_operation_duration_seconds_count', { op: 'create' }),
    );
  });

  it('count sessions, messages and deliveries through the hub monitor', async () => {
    const server = await start();
    const clients = ['alice', 'bob', 'carol'].map((userId) => ({ userId, client: createClient({ transport: httpTransport({ url: server.url }) }) }));
    for (const { userId, client } of clients) await client.login({ userId, token: server.issueToken(userId) });
    const [alice, ...others] = clients.map(({ client }) => client);
    await alice?.sendMessageToPeer('bob', textMessage('hello'));
    await alice?.sendMessageToPeer('bob', textMessage('again'));
    const rooms = clients.map(({ client }) => client.createChannel('room'));
    for (const room of rooms) await room.join();
    await rooms[0]?.sendMessage(textMessage('to the room'));
    const during = await scrape(server.url);
    expect(sample(during, 'ferry_sessions')).toBe(3);
    expect(sample(during, 'ferry_sessions_lost_total')).toBe(0); // exposed; counted in spec/rules/session-lost.spec.ts
    expect(sample(during, 'ferry_messages_total', { kind: 'peer' })).toBe(2);
    expect(sample(during, 'ferry_message_deliveries_total', { kind: 'peer' })).toBe(2);
    expect(sample(during, 'ferry_messages_total', { kind: 'channel' })).toBe(1);
    expect(sample(during, 'ferry_message_deliveries_total', { kind: 'channel' })).toBe(others.length); // every member but the sender
    for (const { client } of clients) await client.logout();
    await eventually(async () => sample(await scrape(server.url), 'ferry_sessions') === 0);
  });

  it('count a refusal by its limit', async () => {
    const server = await start();
    const token = server.issueToken('carol');
    let refused: number | undefined;
    for (let i = 0; i < 25 && refused === undefined; i++) {
      const reply = await send(server.uploadsUrl, { method: 'POST', headers: tus(token, { 'Upload-Length': '10' }) });
      if (reply.status !== 201) refused = reply.status;
    }
    expect(refused).toBe(429);
    expect(sample(await scrape(server.url), 'ferry_refusals_total', { limit: 'unfinishedUploads' })).toBe(1);
  });
});

describe('logs', () => {
  it('echo a sane X-Request-Id and replace any other with a generated one', async () => {
    const server = await start();
    const given = await send(`${server.url}/healthz`, { headers: { 'X-Request-Id': 'edge-42.a:b_c' } });
    expect(given.headers['x-request-id']).toBe('edge-42.a:b_c');
    const unsafe = await send(`${server.url}/healthz`, { headers: { 'X-Request-Id': 'has space<script>' } });
    const long = await send(`${server.url}/healthz`, { headers: { 'X-Request-Id': 'x'.repeat(65) } });
    const none = await send(`${server.url}/healthz`);
    const uuid = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;
    for (const reply of [unsafe, long, none]) expect(reply.headers['x-request-id']).toMatch(uuid);
    expect(new Set([unsafe, long, none].map((r) => r.headers['x-request-id'])).size).toBe(3);
  });

  it('write a JSON line per request with its ID, path without query, status and sizes, and never a token or a message body', async () => {
    const logs = capture();
    const server = await start({ logger: createLogger({ level: 'debug', destination: logs.destination }) });
    const token = server.issueToken('dave');
    const location = await create(server, token, 5, { 'X-Request-Id': 'create-1' });
    const patched = await send(`${location}?token=${token}`, {
      method: 'PATCH',
      headers: tus(token, { ...OFFSET_STREAM, 'Upload-Offset': '0', 'X-Request-Id': 'patch-1' }),
      body: Buffer.from('hello'),
    });
    expect(patched.status).toBe(204);
    const socket = await raw(server.wsUrl);
    socket.ws.send(JSON.stringify({ type: 'hello', version: 1, userId: 'dave', token }));
    await socket.next('welcome');
    socket.ws.send(JSON.stringify({ type: 'call', id: 1, op: 'sendToPeer', peerId: 'dave', message: encodeMessage(textMessage('secret words')) }));
    expect((await Promise.race([socket.next('result'), socket.next('error')])).id).toBe(1);
    socket.ws.close();
    await socket.closed;
    await server.close();

    expect(logs.text()).not.toContain(token);
    expect(logs.text()).not.toContain('secret words');
    const lines = logs.lines();
    const patchLine = lines.find((line) => line.reqId === 'patch-1' && line.msg === 'request');
    expect(patchLine).toMatchObject({ level: 30, method: 'PATCH', status: 204, service: 'ferry' });
    expect(patchLine?.path).toBe(new URL(location).pathname);
    expect(patchLine?.bytesIn).toBeGreaterThanOrEqual(5);
    expect(patchLine?.ms).toBeGreaterThanOrEqual(0);
    expect(lines.find((line) => line.reqId === 'create-1')).toMatchObject({ method: 'POST', path: '/v1/uploads', status: 201 });
    const call = lines.find((line) => line.msg === 'ws call');
    expect(call).toMatchObject({ level: 20, op: 'sendToPeer', userId: 'dave' });
    expect(call?.reqId).toMatch(/^.+:1$/);
  });

  it('log a server fault at error with its detail, once, from the request line', async () => {
    const logs = capture();
    const dataDir = newDataDir();
    const server = await start({ dataDir, logger: createLogger({ level: 'warn', destination: logs.destination }) });
    const token = server.issueToken('erin');
    rmSync(dataDir, { recursive: true, force: true });
    const reply = await send(server.uploadsUrl, { method: 'POST', headers: tus(token, { 'Upload-Length': '5', 'X-Request-Id': 'broken-1' }) });
    expect(reply.status).toBeGreaterThanOrEqual(500);
    const faults = logs.lines().filter((line) => line.reqId === 'broken-1');
    expect(faults).toHaveLength(1);
    expect(faults[0]).toMatchObject({ level: 50, msg: 'request failed', status: reply.status });
    expect(String(faults[0]?.detail)).toMatch(/ENOENT/);
  });
});

describe('drain', () => {
  it('stops accepting, answers /readyz 503, gives uploads their time, tells sessions to reconnect, keeps the partial bytes', async () => {
    const dataDir = newDataDir();
    const logs = capture();
    const server = await start({ dataDir, metricsPort: 0, logger: createLogger({ destination: logs.destination }) }, { keep: true });
    const token = server.issueToken('frank');

    const socket = await raw(server.wsUrl);
    socket.ws.send(JSON.stringify({ type: 'hello', version: 1, userId: 'frank', token }));
    await socket.next('welcome');

    const listener = server.issueToken('grace');
    const created = await send(`${server.url}/v1/sessions`, {
      method: 'POST',
      headers: { ...bearer(listener), 'Content-Type': 'application/json' },
      body: Buffer.from('{"userId":"grace"}'),
    });
    const { sessionId } = JSON.parse(created.body.toString()) as { sessionId: string };
    const streamEnded = new Promise<void>((resolve, reject) => {
      const req = request(`${server.url}/v1/sessions/${sessionId}/events`, { headers: bearer(listener), agent: false }, (res) => {
        expect(res.headers['content-type']).toMatch(/^text\/event-stream/);
        res.resume();
        res.on('end', resolve);
        res.on('error', reject);
      });
      req.on('error', reject);
      req.end();
    });

    const location = await create(server, token, 1_000_000);
    // More than the store's 256 KiB staging buffer, so HEAD sees bytes written while the request stalls.
    const first = bytesOf(600_000, 3);
    const body = stalled(first);
    const patching = send(location, { method: 'PATCH', headers: tus(token, { ...OFFSET_STREAM, 'Upload-Offset': '0' }), body: body.body }).catch(
      (error: unknown) => error,
    );
    // Not by HEAD: a HEAD tells the server the client is resuming, which cuts the running PATCH.
    await eventually(async () => (sample(await scrape(server.metricsUrl), 'ferry_received_bytes_total') ?? 0) >= 256 * 1024);

    const startedAt = Date.now();
    const drained = server.drain({ timeoutMs: 600 });
    const ready = await send(`${server.metricsUrl}/readyz`);
    expect(ready.status).toBe(503);
    expect(JSON.parse(ready.body.toString())).toEqual({ ready: false, reason: 'the server is shutting down' });
    await expect(send(`${server.url}/healthz`)).rejects.toThrow(/ECONNREFUSED/);

    await drained;
    const took = Date.now() - startedAt;
    expect(took).toBeGreaterThanOrEqual(550); // the stalled upload was given its time
    expect(took).toBeLessThan(600 + 3_000); // and no more
    expect((await socket.closed).code).toBe(1001);
    await streamEnded;
    expect(await patching).toBeInstanceOf(Error); // cut: it never finished
    body.release();
    const cut = logs.lines().find((line) => line.method === 'PATCH');
    expect(cut).toMatchObject({ msg: 'request', aborted: true });
    expect(cut).not.toHaveProperty('status'); // nothing was answered
    expect(logs.lines().map((line) => line.msg)).toEqual(expect.arrayContaining(['draining', 'drain timeout: aborting what still runs', 'closed']));

    const again = await start({ dataDir });
    expect(await offsetOf(location.replace(server.url, again.url), again.issueToken('frank'))).toBe(first.length);
  });

  it('waits only as long as requests run, and closes at once when none does', async () => {
    const server = await start({ drainTimeoutMs: 5_000 }, { keep: true });
    const startedAt = Date.now();
    await server.drain();
    expect(Date.now() - startedAt).toBeLessThan(1_000);
    await server.drain(); // idempotent
    await server.close();
  });

  it('lets a request in flight finish within the time given', async () => {
    const server = await start({}, { keep: true });
    const token = server.issueToken('heidi');
    const location = await create(server, token, 1_000_000);
    const bytes = bytesOf(1_000_000, 5);
    const slow = (async function* () {
      yield bytes.subarray(0, 600_000);
      await delay(300);
      yield bytes.subarray(600_000);
    })();
    const patching = send(location, { method: 'PATCH', headers: tus(token, { ...OFFSET_STREAM, 'Upload-Offset': '0' }), body: slow });
    // Not by HEAD: a HEAD tells the server the client is resuming, which cuts the running PATCH.
    await eventually(async () => (sample(await scrape(server.metricsUrl), 'ferry_received_bytes_total') ?? 0) >= 256 * 1024);
    await server.drain({ timeoutMs: 5_000 });
    const reply = await patching;
    expect(reply.status).toBe(204);
    expect(reply.headers['upload-offset']).toBe('1000000');
  });
});

describe('building blocks', () => {
  it('readiness: concurrent checks share one probe, a result answers for cacheMs, then the store is probed again', async () => {
    let time = 0;
    let probes = 0;
    let failing = false;
    const readiness = readinessCheck({
      now: () => time,
      cacheMs: 1_000,
      probe: async () => {
        probes++;
        if (failing) throw new Error('EROFS');
      },
    });
    const first = await Promise.all([readiness.check(), readiness.check(), readiness.check()]);
    expect(first).toEqual([{ state: 'ready' }, { state: 'ready' }, { state: 'ready' }]);
    expect(probes).toBe(1);
    failing = true;
    time = 999;
    expect(await readiness.check()).toEqual({ state: 'ready' });
    expect(probes).toBe(1);
    time = 1_000;
    expect(await readiness.check()).toEqual({ state: 'unready', reason: 'the store is not writable: EROFS' });
    expect(probes).toBe(2);
  });

  it('metered store: append is timed from the end of its source, read to its first chunk, and bytes are counted as they pass', async () => {
    let time = 0;
    const metrics = serverMetrics({ now: () => time });
    const store = metrics.meter(memoryStore({ readChunkSize: 4 }));
    await store.create({ mediaId: 'AAAAAAAAAAAAAAAAAAAAAA', size: 10, fileName: 'f', uploader: 'u', createdAt: 0 }, 0);
    const seen: number[] = [];
    const source = (async function* () {
      yield new Uint8Array(6);
      time += 5_000; // the client's sending: not the store's latency
      yield new Uint8Array(4);
    })();
    const appended = store.append('AAAAAAAAAAAAAAAAAAAAAA', 0, source, { now: () => time, onAppended: (offset) => seen.push(offset) });
    expect(await appended).toBe(10);
    expect(seen).toEqual([6, 10]); // the caller's callback still runs
    await store.complete('AAAAAAAAAAAAAAAAAAAAAA', 0);
    const chunks: number[] = [];
    for await (const chunk of store.read('AAAAAAAAAAAAAAAAAAAAAA', 0)) {
      chunks.push(chunk.length);
      time += 1_000; // the reader's pace: not timed
    }
    expect(chunks).toEqual([4, 4, 2]);
    const text = (await metrics.scrape()).body;
    expect(sample(text, 'ferry_received_bytes_total')).toBe(10);
    expect(sample(text, 'ferry_sent_bytes_total')).toBe(10);
    expect(sample(text, 'ferry_store_operation_duration_seconds_count', { op: 'append' })).toBe(1);
    expect(sample(text, 'ferry_store_operation_duration_seconds_sum', { op: 'append' })).toBe(0);
    expect(sample(text, 'ferry_store_operation_duration_seconds_count', { op: 'read' })).toBe(1);
    expect(sample(text, 'ferry_store_operation_duration_seconds_sum', { op: 'read' })).toBe(0);
    expect(store.bytesHeld).toBe(10); // the rest of the store, getters included
  });
});
