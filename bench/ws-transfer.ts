/**
 * Scenario "WebSocket": what the WebSocket transport and server cost, on loopback.
 *
 * - Upload: 30 MiB through `wsTransport` against the same durable raw `node:http` PUT as the HTTP
 *   scenario (`startRawServer` of `http-transfer.ts`: temp file, SHA-256, fsync, rename, folder fsync).
 * - Relay: alice sends 20,000 small peer messages to bob through the server, 100 in flight (a chat app
 *   sending bursts: the rate is messages relayed, not one round trip at a time), against a raw `ws`
 *   echo server doing the same round trips with the same window; messages/s and p99 latency
 *   (send → delivery).
 * - Chat under load: alice uploads nine 30 MiB files at once on her one socket while she sends bob a
 *   message every 10 ms; p99 latency of those messages.
 *
 * The three servers (ferry, the raw PUT server, the raw echo) run together in a child process
 * (`--servers-child`), the clients in this one, as in any deployment and as the HTTP scenario does: in
 * one process a client's framing and the server's store would share a thread. All cases run
 * interleaved, medians of the runs.
 * @module
 */
import { randomFillSync } from 'node:crypto';
import { mkdir, mkdtemp, rm } from 'node:fs/promises';
import { Agent } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { WebSocket, WebSocketServer } from 'ws';
import { type Client, createClient, textMessage } from '../src/index.js';
import { startServer } from '../src/server/server.js';
import { wsTransport } from '../transports/ws.js';
import { BENCH_LIMITS, BENCH_SECRET, benchToken, childMode, serveUntilStdinEnds, startServersChild, checkTarget, fixed, formatRatio, interleave, markdownTable, type ScenarioReport } from './harness.js';
import { rawRequest, readAll, startRawServer } from './http-transfer.js';

const thisScript = fileURLToPath(import.meta.url);
const root = dirname(dirname(thisScript));

/** Options of {@link runWsTransfer}. */
export interface WsTransferOptions {
  /** Recorded interleaved runs of every case. Default: 5. */
  readonly runs?: number;
  /** Progress lines (one per run). Default: nothing. */
  readonly log?: (line: string) => void;
}

const MiB = 1024 * 1024;
const SIZE = 30 * MiB;
const MESSAGES = 20_000;
const IN_FLIGHT = 100;
const LOADED_UPLOADS = 9;
const CHAT_EVERY_MS = 10;

const percentile = (values: readonly number[], p: number): number => {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.ceil((p / 100) * sorted.length) - 1)] ?? Number.NaN;
};

/** Runs `count` sends with at most `window` in flight; `send(i)` resolves when message i is delivered. */
const windowed = async (count: number, window: number, send: (i: number) => Promise<void>): Promise<void> => {
  let next = 0;
  const lane = async (): Promise<void> => {
    while (next < count) await send(next++);
  };
  await Promise.all(Array.from({ length: window }, lane));
};

/**
 * Who waits for which message, in both relay clients (ferry's and the raw echo's). Not a `Map`: V8
 * chains a churned Map's old tables, so once one is promoted every later entry and its closure survive
 * young collections (decision 58), which put the harness's own garbage into the p99 it measures.
 */
const waiters = () => {
  const table: Record<string, () => void> = Object.create(null) as Record<string, () => void>;
  return {
    add(key: string | number, waiter: () => void): void {
      table[key] = waiter;
    },
    /** Calls and forgets the waiter of `key`, if any. */
    wake(key: string | number): void {
      const waiter = table[key];
      delete table[key];
      waiter?.();
    },
  };
};

/** A raw `ws` echo server (in the servers child): the relay's baseline. */
const startEcho = async (): Promise<{ readonly url: string; close(): Promise<void> }> => {
  const wss = new WebSocketServer({ port: 0, host: '127.0.0.1', perMessageDeflate: false });
  wss.on('connection', (socket) => socket.on('message', (data, isBinary) => socket.send(data, { binary: isBinary })));
  await new Promise((done) => wss.once('listening', done));
  return {
    url: `ws://127.0.0.1:${(wss.address() as AddressInfo).port}`,
    close: () => new Promise<void>((done) => wss.close(() => done())),
  };
};

/** A raw `ws` client doing windowed JSON round trips with the echo server. */
const echoClient = async (url: string) => {
  const socket = new WebSocket(url);
  await new Promise((done) => socket.once('open', done));
  const waiting = waiters();
  socket.on('message', (data) => {
    waiting.wake(Number((JSON.parse(String(data)) as { id: number }).id));
  });
  return {
    roundTrip: (id: number) =>
      new Promise<void>((done) => {
        waiting.add(id, done);
        socket.send(JSON.stringify({ type: 'call', id, op: 'sendToPeer', peerId: 'bob', message: { messageType: 'TEXT', text: `m${id}` } }));
      }),
    close: () => socket.close(),
  };
};

// ---------------------------------------------------------------------------------------------------
// The servers, in a process of their own.

/** Where the servers child listens. */
interface Servers {
  readonly wsUrl: string;
  readonly uploadsUrl: string;
  readonly rawUrl: string;
  readonly echoUrl: string;
}

/** Child mode: `startServer`, the raw PUT server and the echo; prints their URLs, stops when stdin ends. */
const serversChild = (folder: string): Promise<void> =>
  serveUntilStdinEnds<Servers>(async () => {
    const dataDir = join(folder, 'server');
    await mkdir(join(folder, 'raw-put'), { recursive: true });
    const server = await startServer({ dataDir, secret: BENCH_SECRET, limits: BENCH_LIMITS });
    const raw = await startRawServer(join(folder, 'raw-put'), join(dataDir, 'media'));
    const echo = await startEcho();
    return {
      info: { wsUrl: server.wsUrl, uploadsUrl: server.uploadsUrl, rawUrl: raw.url, echoUrl: echo.url },
      close: async () => void (await Promise.all([server.close(), raw.close(), echo.close()])),
    };
  });

const startServers = (folder: string) => startServersChild<Servers>(thisScript, ['--servers-child', folder], root);
const tokenFor = benchToken;

/** Runs the scenario and reports it. */
export const runWsTransfer = async (options: WsTransferOptions = {}): Promise<ScenarioReport> => {
  const runs = options.runs ?? 5;
  const started = performance.now();
  const folder = await mkdtemp(join(tmpdir(), 'ferry-bench-ws-'));
  const servers = await startServers(folder);
  const echo = await echoClient(servers.echoUrl);
  const agent = new Agent({ keepAlive: true });
  const clients: Client[] = [];
  const login = async (userId: string): Promise<Client> => {
    const client = createClient({ transport: wsTransport({ url: servers.wsUrl }) });
    await client.login({ userId, token: tokenFor(userId) });
    clients.push(client);
    return client;
  };
  try {
    const payload = Buffer.allocUnsafe(SIZE);
    randomFillSync(payload);
    const alice = await login('alice');
    const bob = await login('bob');
    const delivered = waiters();
    bob.peerMessages$.subscribe(({ message }) => {
      if (message.messageType === 'TEXT') delivered.wake(message.text);
    });
    /** Sends one message to bob; resolves with the ms until bob has it. */
    const relay = (text: string): Promise<number> => {
      const t0 = performance.now();
      const arrived = new Promise<number>((resolve) => delivered.add(text, () => resolve(performance.now() - t0)));
      return alice.sendMessageToPeer('bob', textMessage(text)).then(() => arrived);
    };
    let serial = 0;
    /** Untimed: removes alice's media through the tus termination endpoint, so the disk does not fill. */
    const removeMedia = async (mediaIds: readonly string[]): Promise<void> => {
      for (const id of mediaIds) {
        const res = await fetch(`${servers.uploadsUrl}/${id}`, { method: 'DELETE', headers: { Authorization: `Bearer ${tokenFor('alice')}`, 'Tus-Resumable': '1.0.0' } });
        if (res.status !== 204) throw new Error(`removing ${id}: ${res.status}`);
      }
    };

    const timed = await interleave({
      runs,
      warmup: 1,
      timeoutMs: 120_000,
      cases: {
        'raw PUT': async () => {
          await rawRequest(`${servers.rawUrl}/put/u${++serial}`, { method: 'PUT', agent, body: payload }, readAll);
        },
        'ws upload': async () => {
          const t0 = performance.now();
          const { mediaId } = await alice.createFileMessageByUploading(payload).result;
          const elapsed = performance.now() - t0;
          await removeMedia([mediaId]);
          return elapsed;
        },
        'raw ws echo': async () => {
          const latencies: number[] = [];
          const t0 = performance.now();
          await windowed(MESSAGES, IN_FLIGHT, async (i) => {
            const s = performance.now();
            await echo.roundTrip(++serial * MESSAGES + i);
            latencies.push(performance.now() - s);
          });
          const elapsed = performance.now() - t0;
          return { value: elapsed, details: { rate: MESSAGES / (elapsed / 1000), p99: percentile(latencies, 99) } };
        },
        'ws relay': async () => {
          const latencies: number[] = [];
          const run = ++serial;
          const t0 = performance.now();
          await windowed(MESSAGES, IN_FLIGHT, async (i) => {
            latencies.push(await relay(`r${run}-${i}`));
          });
          const elapsed = performance.now() - t0;
          return { value: elapsed, details: { rate: MESSAGES / (elapsed / 1000), p99: percentile(latencies, 99) } };
        },
        'chat during 9 uploads': async () => {
          const run = ++serial;
          const uploads = Array.from({ length: LOADED_UPLOADS }, () => alice.createFileMessageByUploading(payload).result);
          let done = false;
          const all = Promise.all(uploads).finally(() => (done = true));
          const latencies: Promise<number>[] = [];
          for (let i = 0; !done; i++) {
            latencies.push(relay(`c${run}-${i}`));
            await new Promise((resolve) => setTimeout(resolve, CHAT_EVERY_MS));
          }
          const messages = await all;
          const measured = await Promise.all(latencies);
          await removeMedia(messages.map((m) => m.mediaId));
          return { value: percentile(measured, 99), details: { messages: measured.length, p50: percentile(measured, 50) } };
        },
      },
      onRun: ({ name, run, value }) => options.log?.(`  ${run === 0 ? 'warm-up' : `run ${run}/${runs}`}  ${name.padEnd(22)} ${fixed(value, 1).padStart(8)}`),
    });

    const c = timed.cases;
    const uploadSpeed = c['raw PUT'].median / c['ws upload'].median;
    const relayRate = c['ws relay'].details.rate ?? Number.NaN;
    const relayP99 = c['ws relay'].details.p99 ?? Number.NaN;
    const echoRate = c['raw ws echo'].details.rate ?? Number.NaN;
    const chatP99 = c['chat during 9 uploads'].median;
    const table = markdownTable(
      ['case', 'median', 'range', 'figures'],
      [
        ['raw PUT 30 MiB', `${fixed(c['raw PUT'].median, 0)} ms`, `${fixed(c['raw PUT'].min, 0)}–${fixed(c['raw PUT'].max, 0)}`, `${fixed(SIZE / MiB / (c['raw PUT'].median / 1000), 0)} MiB/s`],
        ['ws upload 30 MiB', `${fixed(c['ws upload'].median, 0)} ms`, `${fixed(c['ws upload'].min, 0)}–${fixed(c['ws upload'].max, 0)}`, `${fixed(SIZE / MiB / (c['ws upload'].median / 1000), 0)} MiB/s; raw ÷ ws ${formatRatio(uploadSpeed)}`],
        ['raw ws echo, 20k', `${fixed(c['raw ws echo'].median, 0)} ms`, `${fixed(c['raw ws echo'].min, 0)}–${fixed(c['raw ws echo'].max, 0)}`, `${fixed(echoRate, 0)} msg/s, p99 ${fixed(c['raw ws echo'].details.p99 ?? Number.NaN, 2)} ms`],
        ['ws relay alice → bob, 20k', `${fixed(c['ws relay'].median, 0)} ms`, `${fixed(c['ws relay'].min, 0)}–${fixed(c['ws relay'].max, 0)}`, `${fixed(relayRate, 0)} msg/s, p99 ${fixed(relayP99, 2)} ms; ${formatRatio(relayRate / echoRate)} of raw echo`],
        ['chat p99 during 9 × 30 MiB uploads', `${fixed(chatP99, 1)} ms`, `${fixed(c['chat during 9 uploads'].min, 1)}–${fixed(c['chat during 9 uploads'].max, 1)}`, `p50 ${fixed(c['chat during 9 uploads'].details.p50 ?? Number.NaN, 1)} ms, ${fixed(c['chat during 9 uploads'].details.messages ?? Number.NaN, 0)} messages`],
      ],
    );
    return {
      title: 'WebSocket transport (loopback)',
      method: [
        'Servers in a child process: `startServer({ limits: BENCH_LIMITS })` (durable file store; the message rate is off, as the relay measures raw speed with 20,000 messages where a user may send 180 per 3 s, and the stored-bytes quota is 1 TiB; every other limit at its default), a raw `node:http` server storing PUTs durably with a plain `createWriteStream` pipeline (the HTTP scenario\'s baseline) and a raw `ws` echo server, on 127.0.0.1; the clients in the bench process.',
        `Upload: \`createFileMessageByUploading(<30 MiB Uint8Array>)\` through \`wsTransport({ url: server.wsUrl })\` vs a raw PUT of the same bytes.`,
        `Relay: ${MESSAGES.toLocaleString('en-US')} \`sendMessageToPeer('bob', text)\` with ${IN_FLIGHT} in flight, each timed from send to bob's \`peerMessages$\`; baseline: the same count of JSON round trips with a raw \`ws\` client and echo server, same window.`,
        `Chat under load: ${LOADED_UPLOADS} concurrent 30 MiB uploads on alice's socket while she sends bob a message every ${CHAT_EVERY_MS} ms; figure: p99 send → delivery.`,
        `${runs} interleaved runs of all cases after 1 warm-up round, full GC before each; medians (for rates and p99s: the median run's figure).`,
      ].join('\n'),
      table,
      targets: [
        checkTarget({ name: `ws upload: ferry time ÷ raw time (raw ÷ ferry = ${fixed(uploadSpeed, 2)}, must be ≥ 0.90)`, value: 1 / uploadSpeed, comparison: '<=', limit: 1 / 0.9, unit: '×', digits: 3 }),
        checkTarget({ name: 'ws relay: ms per 1,000 messages (≥ 20,000 msg/s)', value: 1000 / (relayRate / 1000), comparison: '<=', limit: 50, unit: ' ms', digits: 1 }),
        checkTarget({ name: 'ws relay p99 latency', value: relayP99, comparison: '<', limit: 10, unit: ' ms' }),
        checkTarget({ name: 'chat p99 latency during nine 30 MiB uploads on the same socket', value: chatP99, comparison: '<', limit: 50, unit: ' ms' }),
      ],
      elapsedMs: performance.now() - started,
    };
  } finally {
    for (const client of clients) await client.logout().catch(() => undefined);
    agent.destroy();
    echo.close();
    await servers.stop();
    await rm(folder, { recursive: true, force: true });
  }
};

childMode(thisScript, '--servers-child', async ([folder]) => {
  if (!folder) throw new Error('usage: ws-transfer.ts --servers-child <folder>');
  await serversChild(folder);
});
