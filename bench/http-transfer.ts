/**
 * Scenario "HTTP transfers, 30 MiB": what the HTTP transport and the server cost over raw Node `http`
 * moving the same bytes into and out of the same durable path, on loopback, in one process.
 *
 * - Upload: `createClient({ transport: httpTransport({ url }) }).createFileMessageByUploading(bytes)`
 *   (tus PATCH windows of 1–16 MiB streamed from the source by the `node:http` fetch) against a raw `http.request` PUT of the same bytes to a raw
 *   `http` server whose handler writes them durably the plain Node way: a stream pipeline into a temp
 *   file opened `wx` (`fs.createWriteStream`, which writes behind and batches as the file store does),
 *   SHA-256 (node:crypto) computed in the stream, fsync, rename, folder fsync. Also the same upload by
 *   `tus-js-client` (its own `http` stack) against our server, for comparison.
 * - Downloads: `downloadMediaToMemory` and `downloadMediaToFile` (absolute temp path) of 30 MiB media
 *   against a raw `http.get` of the same media file, served by the raw server, read into memory or
 *   written into a temp file with fsync, rename and folder fsync (what the client's file sink does).
 *   Each ferry download runs twice: with the client's default SHA-256 verification (node:crypto on
 *   Node; the targets apply to it) and, for information, with a `createHasher` that hashes nothing and
 *   trusts the server's SHA-256, which shows what verification costs apart from the rest of the engine.
 * - Client RSS growth uploading 30 MiB from a path over HTTP vs 1 MiB: each run a child process (this
 *   file, run as a script), against the server in this process.
 *
 * The two servers run together in a child process (`--servers-child`), the clients in this one, as in
 * any real deployment: in one process the client's hashing and the server's reads would share a thread.
 * All timed cases run interleaved in one comparison, so a slow moment hits the baselines and ferry alike.
 * The harness's targets are "at most"; a speed ratio "raw ÷ ferry ≥ 0.9" is checked as the equivalent
 * "ferry time ÷ raw time ≤ 1/0.9".
 *
 * Child mode (internal): `node --expose-gc --import tsx bench/http-transfer.ts --rss-child <url> <token> <file> <warm-up file>`.
 * @module
 */
import { createHash, randomFillSync } from 'node:crypto';
import { createReadStream, createWriteStream } from 'node:fs';
import { mkdir, mkdtemp, rename, rm, stat, unlink } from 'node:fs/promises';
import { Agent, createServer, type IncomingMessage, request, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { Transform } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { fileURLToPath } from 'node:url';
import * as tus from 'tus-js-client';
import { type Client, createClient, type CreateHasher } from '../src/index.js';
import { startServer } from '../src/server/server.js';
import { httpTransport } from '../transports/http.js';
import { fsyncFolder } from '../src/platform/node-fs.js';
import { BENCH_LIMITS, BENCH_SECRET, benchToken, settleDisk, childMode, measureUploadMemory, serveUntilStdinEnds, startServersChild, type UploadMemorySample, checkTarget, fixed, formatRatio, interleave, markdownTable, mib, type RunInfo, runNodeScript, type ScenarioReport, writeRandomFile } from './harness.js';

/** Options of {@link runHttpTransfer}. */
export interface HttpTransferOptions {
  /** Recorded interleaved runs of every case (and child processes per file size). Default: 5. */
  readonly runs?: number;
  /** Progress lines (one per run). Default: nothing. */
  readonly log?: (line: string) => void;
}

const KiB = 1024;
const MiB = 1024 * KiB;
const SIZE = 30 * MiB;
/** Ferry time ÷ raw time at most this, i.e. raw ÷ ferry at least 0.9. */
const SPEED_RATIO = 0.9;
const RSS_LIMIT = 8 * MiB;
/** tus-js-client sends the whole rest in one PATCH with `Infinity`; 8 MiB is our largest window. */
const TUS_CHUNK = 8 * MiB;
const READ_CHUNK = 64 * KiB;
const WARMUP_BYTES = 3 * 64 * KiB + 1;

const here = dirname(fileURLToPath(import.meta.url));
const root = dirname(here);
const thisScript = fileURLToPath(import.meta.url);

// ---------------------------------------------------------------------------------------------------
// The raw baseline: node:http server and client, the file store's durable write path.



/**
 * Streams a request body into `final` durably, the plain Node way: a pipeline into `fs.createWriteStream`
 * (a `wx` temp file in the same folder; the stream writes behind the socket and batches what queued with
 * `writev`, as the file store does, and `flush: true` fsyncs it before closing), SHA-256 tapped in the
 * stream, then rename and folder fsync. Resolves with the size and hash.
 */
const writeDurably = async (body: IncomingMessage, final: string): Promise<{ size: number; sha256: string }> => {
  const temp = join(dirname(final), `.${Math.random().toString(36).slice(2)}.part`);
  const hash = createHash('sha256');
  let size = 0;
  const tap = new Transform({
    transform(chunk: Buffer, _encoding, done) {
      hash.update(chunk);
      size += chunk.length;
      done(null, chunk);
    },
  });
  try {
    await pipeline(body, tap, createWriteStream(temp, { flags: 'wx', mode: 0o600, flush: true }));
  } catch (error) {
    await unlink(temp).catch(() => undefined);
    throw error;
  }
  await rename(temp, final);
  await fsyncFolder(dirname(final));
  return { size, sha256: hash.digest('hex') };
};

interface RawServer {
  readonly url: string;
  close(): Promise<void>;
}

/** `PUT /put/<name>` stores durably into `putDir`; `GET /media/<id>` sends `<mediaDir>/<id>`. */
export const startRawServer = async (putDir: string, mediaDir: string): Promise<RawServer> => {
  const handle = async (req: IncomingMessage, res: ServerResponse): Promise<void> => {
    const [, kind, name] = (req.url ?? '').split('/');
    if (!name || !/^[\w.-]+$/.test(name)) return void res.writeHead(404).end();
    if (req.method === 'PUT' && kind === 'put') {
      const stored = await writeDurably(req, join(putDir, name));
      const body = JSON.stringify(stored);
      res.writeHead(201, { 'Content-Type': 'application/json', 'Content-Length': Buffer.byteLength(body) }).end(body);
      return;
    }
    if (req.method === 'GET' && kind === 'media') {
      const path = join(mediaDir, name);
      const { size } = await stat(path);
      res.writeHead(200, { 'Content-Type': 'application/octet-stream', 'Content-Length': size });
      await pipeline(createReadStream(path, { highWaterMark: READ_CHUNK }), res);
      return;
    }
    res.writeHead(405).end();
  };
  const server: Server = createServer((req, res) => {
    handle(req, res).catch((error: unknown) => {
      console.error('raw server:', error);
      res.destroy();
    });
  });
  await new Promise<void>((done) => server.listen(0, '127.0.0.1', done));
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}`,
    close: () =>
      new Promise<void>((done) => {
        server.closeAllConnections();
        server.close(() => done());
      }),
  };
};

/** Answers a raw request: status, then the body as chunks for `consume`. */
export const rawRequest = <T>(
  url: string,
  options: { method: 'GET' | 'PUT'; agent: Agent; body?: Uint8Array },
  consume: (res: IncomingMessage) => Promise<T>,
): Promise<T> =>
  new Promise<T>((done, fail) => {
    const req = request(
      url,
      {
        method: options.method,
        agent: options.agent,
        headers: options.body ? { 'Content-Type': 'application/octet-stream', 'Content-Length': options.body.length } : {},
      },
      (res) => {
        if (res.statusCode === undefined || res.statusCode >= 300) {
          res.resume();
          return fail(new Error(`${options.method} ${url} answered ${String(res.statusCode)}`));
        }
        consume(res).then(done, fail);
      },
    );
    req.on('error', fail);
    req.end(options.body);
  });

export const readAll = async (res: IncomingMessage): Promise<Buffer> => {
  const chunks: Buffer[] = [];
  for await (const chunk of res) chunks.push(chunk as Buffer);
  return Buffer.concat(chunks);
};

// ---------------------------------------------------------------------------------------------------
// The client RSS child: uploads one file by path over HTTP and reports its memory growth.

const rssChild = async (url: string, token: string, file: string, warmupFile: string): Promise<void> => {
  const { size } = await stat(file);
  const client = createClient({ transport: httpTransport({ url }) });
  await client.login({ userId: 'rss', token });
  await client.createFileMessageByUploading(warmupFile).result;

  const result = await measureUploadMemory(size, async () => (await client.createFileMessageByUploading(file).result).size);
  await client.logout();
  process.stdout.write(`${JSON.stringify(result)}\n`);
};

// ---------------------------------------------------------------------------------------------------
// The servers, in a process of their own.

/** Where the servers child listens. */
interface Servers {
  readonly url: string;
  readonly uploadsUrl: string;
  readonly rawUrl: string;
}

/** Child mode: `startServer` and the raw server on one data folder; prints their URLs, stops when stdin ends. */
const serversChild = (folder: string): Promise<void> =>
  serveUntilStdinEnds<Servers>(async () => {
    const dataDir = join(folder, 'server');
    const server = await startServer({ dataDir, secret: BENCH_SECRET, limits: BENCH_LIMITS });
    const raw = await startRawServer(join(folder, 'raw-put'), join(dataDir, 'media'));
    return {
      info: { url: server.url, uploadsUrl: server.uploadsUrl, rawUrl: raw.url },
      close: async () => void (await Promise.all([server.close(), raw.close()])),
    };
  });

const startServers = (folder: string) => startServersChild<Servers>(thisScript, ['--servers-child', folder], root);
const tokenFor = benchToken;

// ---------------------------------------------------------------------------------------------------
// The scenario.


const loggedIn = async (url: string, userId: string, token: string, createHasher?: CreateHasher): Promise<Client> => {
  const client = createClient({ transport: httpTransport({ url }), ...(createHasher ? { createHasher } : {}) });
  await client.login({ userId, token });
  return client;
};

const CASES = [
  'raw PUT',
  'ferry upload',
  'tus-js-client upload',
  'raw GET → memory',
  'ferry → memory',
  'ferry → memory, unverified',
  'raw GET → file',
  'ferry → file',
  'ferry → file, unverified',
] as const;
type CaseName = (typeof CASES)[number];

/** Runs the scenario: timed transfers interleaved, then the RSS children. */
export const runHttpTransfer = async (options: HttpTransferOptions = {}): Promise<ScenarioReport> => {
  const runs = options.runs ?? 5;
  const started = performance.now();
  const folder = await mkdtemp(join(tmpdir(), 'ferry-bench-http-'));
  const putDir = join(folder, 'raw-put');
  const downloadDir = join(folder, 'downloads');
  for (const dir of [putDir, downloadDir]) await mkdir(dir, { recursive: true });
  // In a process of their own, as servers are: the clients' costs and the servers' do not share a thread.
  const servers = await startServers(folder);
  const server = { url: servers.url, uploadsUrl: servers.uploadsUrl, issueToken: tokenFor };
  const raw = { url: servers.rawUrl };
  const agent = new Agent({ keepAlive: true });
  const clients: Client[] = [];
  try {
    const payload = Buffer.allocUnsafe(SIZE);
    randomFillSync(payload);
    const expected = createHash('sha256').update(payload).digest('hex');

    const uploader = await loggedIn(server.url, 'alice', server.issueToken('alice'));
    const nobleReader = await loggedIn(server.url, 'bob', server.issueToken('bob'));
    // Information only: a hasher that hashes nothing and trusts the server's SHA-256, to show what the
    // verification costs apart from the rest of the engine.
    const trusting: CreateHasher = () => ({ update: () => undefined, digest: () => expected });
    const nodeReader = await loggedIn(server.url, 'carol', server.issueToken('carol'), trusting);
    clients.push(uploader, nobleReader, nodeReader);
    const tusToken = server.issueToken('dave');
    // The media every download reads, uploaded once (untimed).
    const { mediaId } = await uploader.createFileMessageByUploading(payload).result;

    let serial = 0;
    const next = (): number => ++serial;
    /** Times `run`, then removes `path` untimed. */
    const timedToFile = async (run: (path: string) => Promise<void>): Promise<number> => {
      const path = join(downloadDir, `d${next()}.bin`);
      const t0 = performance.now();
      await run(path);
      const elapsed = performance.now() - t0;
      const { size } = await stat(path);
      await unlink(path);
      if (size !== SIZE) throw new Error(`downloaded ${size} of ${SIZE} bytes`);
      return elapsed;
    };

    const cases: Record<CaseName, () => Promise<number | void>> = {
      'raw PUT': async () => {
        const reply = await rawRequest(`${raw.url}/put/u${next()}`, { method: 'PUT', agent, body: payload }, readAll);
        const stored = JSON.parse(reply.toString('utf8')) as { size: number; sha256: string };
        if (stored.size !== SIZE || stored.sha256 !== expected) throw new Error('raw PUT stored other bytes');
      },
      'ferry upload': async () => {
        const message = await uploader.createFileMessageByUploading(payload).result;
        if (message.size !== SIZE) throw new Error(`ferry uploaded ${message.size} bytes`);
      },
      'tus-js-client upload': () =>
        new Promise<void>((done, fail) => {
          const upload = new tus.Upload(payload, {
            endpoint: server.uploadsUrl,
            headers: { Authorization: `Bearer ${tusToken}` },
            metadata: { filename: 'tus.bin' },
            chunkSize: TUS_CHUNK,
            retryDelays: [],
            storeFingerprintForResuming: false,
            onError: fail,
            onSuccess: () => (upload.url ? done() : fail(new Error('tus-js-client: no upload URL'))),
          });
          upload.start();
        }),
      'raw GET → memory': async () => {
        const bytes = await rawRequest(`${raw.url}/media/${mediaId}`, { method: 'GET', agent }, readAll);
        if (bytes.length !== SIZE) throw new Error(`raw GET read ${bytes.length} bytes`);
      },
      'ferry → memory': async () => {
        const bytes = await nobleReader.downloadMediaToMemory(mediaId).result;
        if (bytes.length !== SIZE) throw new Error(`ferry read ${bytes.length} bytes`);
      },
      'ferry → memory, unverified': async () => {
        const bytes = await nodeReader.downloadMediaToMemory(mediaId).result;
        if (bytes.length !== SIZE) throw new Error(`ferry read ${bytes.length} bytes`);
      },
      'raw GET → file': () =>
        timedToFile((path) =>
          rawRequest(`${raw.url}/media/${mediaId}`, { method: 'GET', agent }, async (res) => {
            const temp = `${path}.part`;
            // `flush`: fsync before the stream closes its file.
            await pipeline(res, createWriteStream(temp, { flags: 'wx', mode: 0o666, flush: true }));
            await rename(temp, path);
            await fsyncFolder(dirname(path));
          }),
        ),
      'ferry → file': () => timedToFile((path) => nobleReader.downloadMediaToFile(mediaId, path).result),
      'ferry → file, unverified': () => timedToFile((path) => nodeReader.downloadMediaToFile(mediaId, path).result),
    };

    const timed = await interleave<CaseName>({
      runs,
      warmup: 1,
      before: settleDisk,
      timeoutMs: 60_000,
      cases,
      onRun: ({ name, run, value }: RunInfo<CaseName>) =>
        options.log?.(`  ${run === 0 ? 'warm-up' : `run ${run}/${runs}`}  ${name.padEnd(28)} ${fixed(value, 0).padStart(6)} ms`),
    });

    // Client memory: children upload by path to this process's server.
    const small = join(folder, '1mib.bin');
    const large = join(folder, '30mib.bin');
    const warm = join(folder, 'warmup.bin');
    await writeRandomFile(small, MiB);
    await writeRandomFile(large, SIZE);
    await writeRandomFile(warm, WARMUP_BYTES);
    const child = (file: string) => async () => {
      const sample = await runNodeScript<UploadMemorySample>(thisScript, ['--rss-child', server.url, server.issueToken('rss'), file, warm], {
        nodeArgs: ['--expose-gc', '--import', 'tsx'],
        cwd: root,
        timeoutMs: 60_000,
      });
      const { rssGrowth, size: _size, ...details } = sample;
      return { value: rssGrowth, details };
    };
    const memory = await interleave({
      runs,
      warmup: 0,
      before: () => undefined,
      timeoutMs: 90_000,
      cases: { '1 MiB': child(small), '30 MiB': child(large) },
      onRun: ({ name, run, value }) => options.log?.(`  run ${run}/${runs}  RSS ${name.padEnd(7)} +${mib(value)} MiB`),
    });

    // Figures.
    const c = timed.cases;
    const ms = (name: CaseName): number => c[name].median;
    const rangeOf = (name: CaseName): string => `${fixed(c[name].min, 0)}–${fixed(c[name].max, 0)}`;
    const mibps = (name: CaseName): string => fixed(SIZE / MiB / (ms(name) / 1000), 0);
    const speed = (baseline: CaseName, candidate: CaseName): number => ms(baseline) / ms(candidate);
    const row = (name: CaseName, baseline: CaseName | undefined): string[] => [
      name,
      fixed(ms(name), 0),
      rangeOf(name),
      mibps(name),
      baseline === undefined || baseline === name ? '' : formatRatio(speed(baseline, name)),
    ];
    const table = markdownTable(
      ['case', 'median ms', 'range ms', 'MiB/s', 'raw ÷ case (speed ratio)'],
      [
        row('raw PUT', undefined),
        row('ferry upload', 'raw PUT'),
        row('tus-js-client upload', 'raw PUT'),
        row('raw GET → memory', undefined),
        row('ferry → memory', 'raw GET → memory'),
        row('ferry → memory, unverified', 'raw GET → memory'),
        row('raw GET → file', undefined),
        row('ferry → file', 'raw GET → file'),
        row('ferry → file, unverified', 'raw GET → file'),
      ],
    );
    const m1 = memory.cases['1 MiB'];
    const m30 = memory.cases['30 MiB'];
    const difference = m30.median - m1.median;
    const memRow = (name: string, r: typeof m1): string[] => [
      name,
      mib(r.median),
      `${mib(r.min)}–${mib(r.max)}`,
      mib(r.details.heapGrowth ?? Number.NaN),
      mib(r.details.arrayBuffersGrowth ?? Number.NaN),
      mib(r.details.externalGrowth ?? Number.NaN),
      fixed(r.details.uploadMs ?? Number.NaN, 0),
    ];
    const memoryTable = markdownTable(
      ['file (by path, over HTTP)', 'RSS growth MiB', 'RSS range', 'heap growth MiB', 'array buffers growth MiB', 'external growth MiB', 'upload ms'],
      [memRow('1 MiB', m1), memRow('30 MiB', m30)],
    );
    const inverse = 1 / SPEED_RATIO;
    const speedTarget = (name: string, baseline: CaseName, candidate: CaseName) =>
      checkTarget({
        name: `${name}: ferry time ÷ raw time (raw ÷ ferry = ${fixed(speed(baseline, candidate), 2)}, must be ≥ ${fixed(SPEED_RATIO, 2)})`,
        value: ms(candidate) / ms(baseline),
        comparison: '<=',
        limit: inverse,
        unit: '×',
        digits: 3,
      });

    return {
      title: 'HTTP transfers, 30 MiB (loopback)',
      method: [
        `Servers in a child process of their own: \`startServer({ limits: BENCH_LIMITS })\` (durable file store; the stored-bytes quota raised to 1 TiB, as the runs store gigabytes for one user, and the message rate off; every other limit at its default) and a raw \`node:http\` server, both on 127.0.0.1, data under one temp folder; every client (ferry, raw, tus-js-client) in the bench process.`,
        `Upload: \`createFileMessageByUploading(<30 MiB Uint8Array>).result\` through \`httpTransport({ url })\` (default \`node:http\` fetch, tus PATCH windows of 1–16 MiB streamed from the source) vs a raw \`http.request\` PUT (keep-alive agent) of the same bytes,`,
        `stored by the raw server the plain Node way: \`pipeline(req, SHA-256 tap, fs.createWriteStream(temp, { flags: \'wx\', flush: true }))\` (writes behind and batches like the file store), rename, folder fsync;`,
        `and \`tus-js-client\` ${TUS_CHUNK / MiB} MiB chunks, Buffer source, Bearer header, to our server (no target).`,
        `Downloads of 30 MiB media: \`downloadMediaToMemory\` / \`downloadMediaToFile(<absolute temp path>)\` vs a raw \`http.get\` of the same media file (read into memory; or written to a \`wx\` temp file, fsync, rename, folder fsync);`,
        `ferry with the default SHA-256 verification (node:crypto; targets) and, for information, unverified (a \`createHasher\` that trusts the server's SHA-256).`,
        `Clients logged in beforehand; ${runs} interleaved runs of all ${CASES.length} cases after 1 warm-up round, full GC and \`sync\` before each; medians. Speed ratio = raw median ÷ case median (≥ 1 is as fast as raw).`,
        `Client memory: child processes (\`--expose-gc\`) upload a random file by path over HTTP to the server in this process after a ${WARMUP_BYTES.toLocaleString('en-US')}-byte warm-up upload and GC; RSS sampled every 5 ms; ${runs} interleaved runs per size; figure: median growth(30 MiB) − median growth(1 MiB).`,
      ].join('\n'),
      table: [table, '', memoryTable, '', `RSS growth(30 MiB) − growth(1 MiB) = **${mib(difference)} MiB**`].join('\n'),
      targets: [
        speedTarget('upload', 'raw PUT', 'ferry upload'),
        speedTarget('download to memory', 'raw GET → memory', 'ferry → memory'),
        speedTarget('download to file', 'raw GET → file', 'ferry → file'),
        checkTarget({ name: 'client RSS growth uploading 30 MiB by path over HTTP − 1 MiB', value: difference / MiB, comparison: '<', limit: RSS_LIMIT / MiB, unit: ' MiB' }),
      ],
      notes: [
        `Without verifying the SHA-256 (a hasher that trusts the server, information only) the downloads reach ${formatRatio(speed('raw GET → memory', 'ferry → memory, unverified'))} (memory) and ${formatRatio(speed('raw GET → file', 'ferry → file, unverified'))} (file) of raw speed,`,
        `against ${formatRatio(speed('raw GET → memory', 'ferry → memory'))} and ${formatRatio(speed('raw GET → file', 'ferry → file'))} with the default hasher.`,
        `tus-js-client (node:http stack) uploads at ${formatRatio(speed('raw PUT', 'tus-js-client upload'))} of raw speed against our server, ferry's transport at ${formatRatio(speed('raw PUT', 'ferry upload'))}.`,
      ].join(' '),
      elapsedMs: performance.now() - started,
    };
  } finally {
    for (const client of clients) await client.logout().catch(() => undefined);
    agent.destroy();
    await servers.stop();
    await rm(folder, { recursive: true, force: true });
  }
};

// Child modes: this file run as a script.
childMode(thisScript, '--servers-child', async ([folder]) => {
  if (!folder) throw new Error('usage: http-transfer.ts --servers-child <folder>');
  await serversChild(folder);
});
childMode(thisScript, '--rss-child', async ([url, token, file, warmupFile]) => {
  const watchdog = setTimeout(() => {
    console.error('http-transfer RSS child: no result after 45 s');
    process.exit(2);
  }, 45_000);
  try {
    if (!url || !token || !file || !warmupFile) throw new Error('usage: http-transfer.ts --rss-child <url> <token> <file> <warm-up file>');
    await rssChild(url, token, file, warmupFile);
  } finally {
    clearTimeout(watchdog);
  }
});
