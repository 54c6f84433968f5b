/**
 * Scenario "WebSocket": what the WebSocket transport and server cost, on loopback.
 *
 * - Upload: 30 MiB through `wsTransport` against the same durable raw `node:http` PUT as the HTTP
 *   scenario (`startRawServer` of `http-transfer.ts`: temp file, SHA-256, fsync, rename, folder fsync),
 *   from a path (as users upload: ferry by path, the raw PUT streams the file with `createReadStream`)
 *   and from memory (a `Uint8Array` on both sides).
 * - Download: 30 MiB media through `wsTransport` (SHA-256 verified) into memory and into a file, against
 *   a raw `http.get` of the same media file (into memory; or a temp file, fsync, rename, folder fsync).
 * - Many at once: 20 uploads of a 10 MiB file by path at once over one WebSocket vs 20 raw durable PUTs
 *   of it at once (keep-alive agent, one connection each).
 * - Client RSS growth uploading 30 MiB by path over WebSocket − 1 MiB: child processes
 *   (`ws-upload-memory-child.ts`), as `upload-memory.ts` measures the memory transport.
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
import { createReadStream, createWriteStream } from 'node:fs';
import { mkdir, mkdtemp, rename, rm, stat, unlink } from 'node:fs/promises';
import { Agent, type IncomingMessage, request } from 'node:http';
import { pipeline } from 'node:stream/promises';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { WebSocket, WebSocketServer } from 'ws';
import { type Client, createClient, textMessage } from '../src/index.js';
import { startServer } from '../src/server/server.js';
import { wsTransport } from '../transports/ws.js';
import { fsyncFolder } from '../src/platform/node-fs.js';
import { BENCH_LIMITS, BENCH_SECRET, benchToken, settleDisk, childMode, serveUntilStdinEnds, startServersChild, checkTarget, fixed, formatRatio, interleave, markdownTable, mib, runNodeScript, type ScenarioReport, type UploadMemorySample, writeRandomFile } from './harness.js';
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
const MANY = 20;
const MANY_SIZE = 10 * MiB;
/** Growth(30 MiB) − growth(1 MiB) of the client uploading by path must stay below this (issue 17). */
const RSS_LIMIT = 4 * MiB;
// More than two chunks of the largest frame, so the warm-up takes the same read loop as the measured upload.
const WARMUP_BYTES = 3 * MiB + 1;


/** A raw PUT streaming the file at `path` (`createReadStream`) as its body; resolves with the server's answer. */
const rawPutFile = (url: string, agent: Agent, path: string, size: number): Promise<Buffer> =>
  new Promise<Buffer>((done, fail) => {
    const req = request(url, { method: 'PUT', agent, headers: { 'Content-Type': 'application/octet-stream', 'Content-Length': size } }, (res) => {
      if (res.statusCode === undefined || res.statusCode >= 300) {
        res.resume();
        return fail(new Error(`PUT ${url} answered ${String(res.statusCode)}`));
      }
      readAll(res).then(done, fail);
    });
    req.on('error', fail);
    pipeline(createReadStream(path), req).catch(fail);
  });

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

const CASES = [
  'raw PUT by path',
  'ws upload by path',
  'raw PUT',
  'ws upload',
  'raw GET → memory',
  'ws → memory',
  'raw GET → file',
  'ws → file',
  '20 raw PUTs',
  '20 ws uploads',
  'raw ws echo',
  'ws relay',
  'chat during 9 uploads',
] as const;
type CaseName = (typeof CASES)[number];

const childScript = join(root, 'bench', 'ws-upload-memory-child.ts');

/** Runs the scenario and reports it. */
export const runWsTransfer = async (options: WsTransferOptions = {}): Promise<ScenarioReport> => {
  const runs = options.runs ?? 5;
  const started = performance.now();
  const folder = await mkdtemp(join(tmpdir(), 'ferry-bench-ws-'));
  const downloadDir = join(folder, 'downloads');
  await mkdir(downloadDir, { recursive: true });
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
    const files = { large: join(folder, '30mib.bin'), small: join(folder, '1mib.bin'), many: join(folder, '10mib.bin'), warmup: join(folder, 'warmup.bin') };
    await writeRandomFile(files.large, SIZE);
    await writeRandomFile(files.small, MiB);
    await writeRandomFile(files.many, MANY_SIZE);
    await writeRandomFile(files.warmup, WARMUP_BYTES);
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
    /** Times one upload of `source` by alice, then removes its media untimed. */
    const timedUpload = async (source: string | Uint8Array, size: number): Promise<number> => {
      const t0 = performance.now();
      const message = await alice.createFileMessageByUploading(source).result;
      const elapsed = performance.now() - t0;
      if (message.size !== size) throw new Error(`ws uploaded ${message.size} bytes`);
      await removeMedia([message.mediaId]);
      return elapsed;
    };
    /** Times `run` writing into a fresh path, checks the size, then removes the file untimed. */
    const timedToFile = async (run: (path: string) => Promise<void>): Promise<number> => {
      const path = join(downloadDir, `d${++serial}.bin`);
      const t0 = performance.now();
      await run(path);
      const elapsed = performance.now() - t0;
      const { size } = await stat(path);
      await unlink(path);
      if (size !== SIZE) throw new Error(`downloaded ${size} of ${SIZE} bytes`);
      return elapsed;
    };
    const checkRawPut = (reply: Buffer, size: number): void => {
      const stored = JSON.parse(reply.toString('utf8')) as { size: number };
      if (stored.size !== size) throw new Error(`raw PUT stored ${stored.size} bytes`);
    };
    /**
     * Times `count` raw PUTs at once (`put(url)` each), checks their sizes, then removes the stored files
     * untimed, as ferry's media are removed: kept, they piled up 260 MiB a run and the later runs of 20
     * ferry uploads at once slowed from ~520 to ~800 ms while the raw PUTs did not (decision 144).
     */
    const timedRawPuts = async (count: number, size: number, put: (url: string) => Promise<Buffer>): Promise<number> => {
      const names = Array.from({ length: count }, () => `u${++serial}`);
      const t0 = performance.now();
      const replies = await Promise.all(names.map((name) => put(`${servers.rawUrl}/put/${name}`)));
      const elapsed = performance.now() - t0;
      for (const reply of replies) checkRawPut(reply, size);
      await Promise.all(names.map((name) => rm(join(folder, 'raw-put', name))));
      return elapsed;
    };
    // The media every download reads (untimed, kept for the whole scenario).
    const { mediaId } = await alice.createFileMessageByUploading(payload).result;

    const cases: Record<CaseName, () => Promise<number | void | { value: number; details: Record<string, number> }>> = {
      'raw PUT by path': () => timedRawPuts(1, SIZE, (url) => rawPutFile(url, agent, files.large, SIZE)),
      'ws upload by path': () => timedUpload(files.large, SIZE),
      'raw PUT': () => timedRawPuts(1, SIZE, (url) => rawRequest(url, { method: 'PUT', agent, body: payload }, readAll)),
      'ws upload': () => timedUpload(payload, SIZE),
      'raw GET → memory': async () => {
        const bytes = await rawRequest(`${servers.rawUrl}/media/${mediaId}`, { method: 'GET', agent }, readAll);
        if (bytes.length !== SIZE) throw new Error(`raw GET read ${bytes.length} bytes`);
      },
      'ws → memory': async () => {
        const bytes = await bob.downloadMediaToMemory(mediaId).result;
        if (bytes.length !== SIZE) throw new Error(`ws read ${bytes.length} bytes`);
      },
      'raw GET → file': () =>
        timedToFile((path) =>
          rawRequest(`${servers.rawUrl}/media/${mediaId}`, { method: 'GET', agent }, async (res: IncomingMessage) => {
            const temp = `${path}.part`;
            await pipeline(res, createWriteStream(temp, { flags: 'wx', mode: 0o666, flush: true }));
            await rename(temp, path);
            await fsyncFolder(dirname(path));
          }),
        ),
      'ws → file': () => timedToFile((path) => bob.downloadMediaToFile(mediaId, path).result),
      '20 raw PUTs': () => timedRawPuts(MANY, MANY_SIZE, (url) => rawPutFile(url, agent, files.many, MANY_SIZE)),
      '20 ws uploads': async () => {
        const t0 = performance.now();
        const messages = await Promise.all(Array.from({ length: MANY }, () => alice.createFileMessageByUploading(files.many).result));
        const elapsed = performance.now() - t0;
        for (const message of messages) if (message.size !== MANY_SIZE) throw new Error(`ws uploaded ${message.size} bytes`);
        await removeMedia(messages.map((m) => m.mediaId));
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
    };
    const only = process.env['FERRY_BENCH_WS_CASES']?.split(',').map((name) => name.trim()) as CaseName[] | undefined;
    const timed = await interleave<CaseName>({
      runs,
      warmup: 1,
      before: settleDisk,
      timeoutMs: 120_000,
      cases: only ? (Object.fromEntries(only.map((name) => [name, cases[name]])) as Record<CaseName, () => Promise<number | void>>) : cases,
      onRun: ({ name, run, value }) => options.log?.(`  ${run === 0 ? 'warm-up' : `run ${run}/${runs}`}  ${name.padEnd(22)} ${fixed(value, 1).padStart(8)}`),
    });

    // Client memory: children upload by path over WebSocket to the servers child.
    const child = (file: string) => async () => {
      const sample = await runNodeScript<UploadMemorySample>(childScript, [servers.wsUrl, tokenFor('rss'), file, files.warmup], {
        nodeArgs: ['--expose-gc', '--import', 'tsx'],
        cwd: root,
        timeoutMs: 60_000,
      });
      const { rssGrowth, size: _size, ...details } = sample;
      return { value: rssGrowth, details };
    };
    const memory = only
      ? undefined
      : await interleave({
          runs,
          warmup: 0,
          before: () => undefined,
          timeoutMs: 90_000,
          cases: { '1 MiB': child(files.small), '30 MiB': child(files.large) },
          onRun: ({ name, run, value }) => options.log?.(`  run ${run}/${runs}  RSS ${name.padEnd(7)} +${mib(value)} MiB`),
        });

    const c = timed.cases;
    const ms = (name: CaseName): number => c[name]?.median ?? Number.NaN;
    const speed = (baseline: CaseName, candidate: CaseName): number => ms(baseline) / ms(candidate);
    const rangeOf = (name: CaseName): string => (c[name] ? `${fixed(c[name].min, 0)}–${fixed(c[name].max, 0)}` : '');
    const row = (name: CaseName, bytes: number, baseline?: CaseName): string[] => [
      name,
      `${fixed(ms(name), 0)} ms`,
      rangeOf(name),
      `${fixed(bytes / MiB / (ms(name) / 1000), 0)} MiB/s${baseline ? `; raw ÷ ws ${formatRatio(speed(baseline, name))}` : ''}`,
    ];
    const relayRate = c['ws relay']?.details.rate ?? Number.NaN;
    const relayP99 = c['ws relay']?.details.p99 ?? Number.NaN;
    const echoRate = c['raw ws echo']?.details.rate ?? Number.NaN;
    const chatP99 = ms('chat during 9 uploads');
    const table = markdownTable(
      ['case', 'median', 'range', 'figures'],
      [
        row('raw PUT by path', SIZE),
        row('ws upload by path', SIZE, 'raw PUT by path'),
        row('raw PUT', SIZE),
        row('ws upload', SIZE, 'raw PUT'),
        row('raw GET → memory', SIZE),
        row('ws → memory', SIZE, 'raw GET → memory'),
        row('raw GET → file', SIZE),
        row('ws → file', SIZE, 'raw GET → file'),
        row('20 raw PUTs', MANY * MANY_SIZE),
        row('20 ws uploads', MANY * MANY_SIZE, '20 raw PUTs'),
        ['raw ws echo, 20k', `${fixed(ms('raw ws echo'), 0)} ms`, rangeOf('raw ws echo'), `${fixed(echoRate, 0)} msg/s, p99 ${fixed(c['raw ws echo']?.details.p99 ?? Number.NaN, 2)} ms`],
        ['ws relay alice → bob, 20k', `${fixed(ms('ws relay'), 0)} ms`, rangeOf('ws relay'), `${fixed(relayRate, 0)} msg/s, p99 ${fixed(relayP99, 2)} ms; ${formatRatio(relayRate / echoRate)} of raw echo`],
        ['chat p99 during 9 × 30 MiB uploads', `${fixed(chatP99, 1)} ms`, rangeOf('chat during 9 uploads'), `p50 ${fixed(c['chat during 9 uploads']?.details.p50 ?? Number.NaN, 1)} ms, ${fixed(c['chat during 9 uploads']?.details.messages ?? Number.NaN, 0)} messages`],
      ],
    );
    const memoryFigure = memory ? memory.cases['30 MiB'].median - memory.cases['1 MiB'].median : Number.NaN;
    const memRow = (name: '1 MiB' | '30 MiB'): string[] => {
      const r = memory?.cases[name];
      return [name, mib(r?.median ?? Number.NaN), r ? `${mib(r.min)}–${mib(r.max)}` : '', mib(r?.details.heapGrowth ?? Number.NaN), mib(r?.details.arrayBuffersGrowth ?? Number.NaN), fixed(r?.details.uploadMs ?? Number.NaN, 0)];
    };
    const memoryTable = markdownTable(['file (by path, over WebSocket)', 'RSS growth MiB', 'RSS range', 'heap growth MiB', 'array buffers growth MiB', 'upload ms'], [memRow('1 MiB'), memRow('30 MiB')]);
    const speedTarget = (name: string, baseline: CaseName, candidate: CaseName) =>
      checkTarget({ name: `${name}: ws time ÷ raw time (raw ÷ ws = ${fixed(speed(baseline, candidate), 2)}, must be ≥ 1.00)`, value: ms(candidate) / ms(baseline), comparison: '<=', limit: 1, unit: '×', digits: 3 });
    return {
      title: 'WebSocket transport (loopback)',
      method: [
        'Servers in a child process: `startServer({ limits: BENCH_LIMITS })` (durable file store; the message rate is off, as the relay measures raw speed with 20,000 messages where a user may send 180 per 3 s, and the stored-bytes quota is 1 TiB; every other limit at its default), a raw `node:http` server storing PUTs durably with a plain `createWriteStream` pipeline (the HTTP scenario\'s baseline: SHA-256, fsync, rename, folder fsync) and serving the server\'s media files to GETs, and a raw `ws` echo server, on 127.0.0.1; the clients in the bench process.',
        `Uploads of 30 MiB: \`createFileMessageByUploading(<absolute path>)\` through \`wsTransport({ url: server.wsUrl })\` vs a raw PUT streaming the same file (\`createReadStream\`); and from memory, \`createFileMessageByUploading(<Uint8Array>)\` vs a raw PUT of the same bytes.`,
        `Downloads of 30 MiB media: \`downloadMediaToMemory\` / \`downloadMediaToFile(<absolute temp path>)\` (SHA-256 verified) vs a raw \`http.get\` of the same media file into memory, or into a \`wx\` temp file with fsync, rename and folder fsync.`,
        `Many at once: ${MANY} uploads of a 10 MiB file by path at once on alice's one socket vs ${MANY} raw durable PUTs streaming it at once (keep-alive agent).`,
        `Every timed upload's file (single, 20 at once, chat under load) is removed after its run, untimed: ferry's media through the tus termination endpoint, the raw PUTs' files from the raw server's folder. The media the downloads read is kept.`,
        `Relay: ${MESSAGES.toLocaleString('en-US')} \`sendMessageToPeer('bob', text)\` with ${IN_FLIGHT} in flight, each timed from send to bob's \`peerMessages$\`; baseline: the same count of JSON round trips with a raw \`ws\` client and echo server, same window.`,
        `Chat under load: ${LOADED_UPLOADS} concurrent 30 MiB uploads on alice's socket while she sends bob a message every ${CHAT_EVERY_MS} ms; figure: p99 send → delivery.`,
        `${runs} interleaved runs of all cases after 1 warm-up round, full GC and \`sync\` before each; medians (for rates and p99s: the median run's figure).`,
        `Client memory: child processes (\`node --expose-gc --import tsx bench/ws-upload-memory-child.ts\`) upload a random file by path over WebSocket to the servers child after a ${WARMUP_BYTES.toLocaleString('en-US')}-byte warm-up upload and GC; RSS sampled every 5 ms; ${runs} interleaved runs per size; figure: median growth(30 MiB) − median growth(1 MiB).`,
      ].join('\n'),
      table: [table, '', memoryTable, '', `RSS growth(30 MiB) − growth(1 MiB) = **${mib(memoryFigure)} MiB**`].join('\n'),
      targets: [
        speedTarget('ws upload by path', 'raw PUT by path', 'ws upload by path'),
        speedTarget('ws upload from memory', 'raw PUT', 'ws upload'),
        speedTarget('ws download to memory', 'raw GET → memory', 'ws → memory'),
        speedTarget('ws download to file', 'raw GET → file', 'ws → file'),
        speedTarget(`${MANY} × 10 MiB uploads at once`, '20 raw PUTs', '20 ws uploads'),
        checkTarget({ name: 'client RSS growth uploading 30 MiB by path over WebSocket − 1 MiB', value: memoryFigure / MiB, comparison: '<=', limit: RSS_LIMIT / MiB, unit: ' MiB' }),
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
