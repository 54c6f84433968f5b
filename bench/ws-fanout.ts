/**
 * Scenario "WebSocket channel fan-out" (issue 17): one member of a 200-member channel sends 2,000 small
 * messages (100 calls in flight) and the 199 others receive every one, through ferry's `startServer` and
 * through a raw `ws` server doing the same job the honest way, each in a child process of its own.
 *
 * The raw server ({@link startRawFanout}) authenticates each socket's `hello` with the same token, keeps
 * a record per socket and the members of each channel, and per incoming `sendToChannel` serializes the
 * event once and queues that same text to every other member; each socket's queue goes out once per
 * event-loop turn as one text frame (a JSON array, as ferry batches for a client that said `batch`).
 * The sender gets an answer per call from both. Clients are the same raw `ws` sockets in the bench process
 * for both servers, counting `"channelMessage"` in each frame's bytes without parsing (the client must not
 * be the bottleneck: its CPU share of the wall time is reported beside).
 *
 * Figures: deliveries per second (2,000 × 199 over the wall time from the first send to the last
 * delivery), and server CPU per delivery, measured by the child itself (`process.cpuUsage()` before and
 * after the case). The children also serve `bench/ws-sessions.ts` (memory per logged-in session).
 * @module
 */
import { type ChildProcess, execFile, spawn } from 'node:child_process';
import { rmSync } from 'node:fs';
import { mkdtemp, rm, symlink, writeFile } from 'node:fs/promises';
import { Session } from 'node:inspector';
import { writeHeapSnapshot } from 'node:v8';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import * as E from 'fp-ts/lib/Either.js';
import { WebSocket, WebSocketServer } from 'ws';
import { utf8 } from '../src/core/bytes.js';
import { verifyToken } from '../src/hub/tokens.js';
import { WS_PROTOCOL_VERSION } from '../src/protocol/ws-frames.js';
import { startServer } from '../src/server/server.js';
import { BENCH_LIMITS, BENCH_SECRET, benchToken, checkTarget, childMode, fixed, formatRatio, interleave, markdownTable, type ScenarioReport } from './harness.js';

const thisScript = fileURLToPath(import.meta.url);
const root = dirname(dirname(thisScript));

/** Options of {@link runWsFanout}. */
export interface WsFanoutOptions {
  /** Recorded interleaved runs of every case. Default: 5. */
  readonly runs?: number;
  /** Progress lines (one per run). Default: nothing. */
  readonly log?: (line: string) => void;
}

/** Members of the channel, the sender among them. */
export const MEMBERS = 200;
/** Messages the sender sends per run. */
export const MESSAGES = 2_000;
const IN_FLIGHT = 100;
/** The channel of {@link joinChannel} unless told otherwise. */
const CHANNEL = 'fanout';
const TEXT = 'a chat message of about sixty characters, as people write them';
/** Targets of issue 17: ferry's delivery rate ÷ the raw server's, and server CPU per delivery. */
const RATE_TARGET = 0.8;
const CPU_TARGET_US = 2;
const MARKER = Buffer.from('"channelMessage"');

// ---------------------------------------------------------------------------------------------------
// The servers, each in a child process of its own.

/** Which server a child runs. */
export type ServerKind = 'ferry' | 'raw';

/**
 * A raw `ws` server doing a chat server's job with no more than it needs: a `hello` authenticated with
 * the bench secret, a record per socket, channel membership, and fan-out of one serialized frame per
 * message to every other member, written once per turn per socket (a JSON array when several).
 */
export const startRawFanout = async (): Promise<{ readonly url: string; close(): Promise<void> }> => {
  const secret = utf8(BENCH_SECRET);
  const wss = new WebSocketServer({ port: 0, host: '127.0.0.1', perMessageDeflate: false, maxPayload: 1024 * 1024 });
  interface Peer {
    readonly socket: WebSocket;
    userId: string | undefined;
    readonly channels: Set<string>;
    /** Frames of this turn not yet written. */
    parts: string[];
  }
  const channels = new Map<string, Set<Peer>>();
  const dirty = new Set<Peer>();
  let scheduled = false;
  const flush = (): void => {
    scheduled = false;
    for (const peer of dirty) {
      const { parts } = peer;
      peer.parts = [];
      if (peer.socket.readyState === peer.socket.OPEN) peer.socket.send(parts.length === 1 ? (parts[0] as string) : `[${parts.join(',')}]`);
    }
    dirty.clear();
  };
  const queue = (peer: Peer, text: string): void => {
    peer.parts.push(text);
    dirty.add(peer);
    if (!scheduled) {
      scheduled = true;
      queueMicrotask(flush);
    }
  };
  wss.on('connection', (socket) => {
    const peer: Peer = { socket, userId: undefined, channels: new Set(), parts: [] };
    socket.on('message', (data: Buffer) => {
      const frame = JSON.parse(data.toString('utf8')) as { type: string; id: number; op?: string; userId?: string; token?: string; channelId?: string; message?: unknown; messageId?: string };
      if (peer.userId === undefined) {
        const claims = verifyToken(secret, frame.token, Date.now());
        if (frame.type !== 'hello' || E.isLeft(claims) || claims.right.userId !== frame.userId) return socket.close(4001, 'login refused');
        peer.userId = claims.right.userId;
        return queue(peer, JSON.stringify({ type: 'welcome', sessionId: peer.userId }));
      }
      if (frame.op === 'join' && typeof frame.channelId === 'string') {
        const members = channels.get(frame.channelId) ?? new Set<Peer>();
        channels.set(frame.channelId, members);
        members.add(peer);
        peer.channels.add(frame.channelId);
      } else if (frame.op === 'sendToChannel' && typeof frame.channelId === 'string') {
        const serverReceivedTs = Date.now();
        const event = { type: 'channelMessage', channelId: frame.channelId, memberId: peer.userId, message: frame.message, serverReceivedTs, messageId: frame.messageId };
        const text = JSON.stringify({ type: 'event', event });
        for (const member of channels.get(frame.channelId) ?? []) if (member !== peer) queue(member, text);
      }
      queue(peer, JSON.stringify({ type: 'result', id: frame.id, value: null }));
    });
    socket.on('close', () => {
      for (const channelId of peer.channels) channels.get(channelId)?.delete(peer);
      dirty.delete(peer);
    });
  });
  await new Promise((done) => wss.once('listening', done));
  return {
    url: `ws://127.0.0.1:${(wss.address() as AddressInfo).port}`,
    close: () =>
      new Promise<void>((done) => {
        for (const client of wss.clients) client.terminate();
        wss.close(() => done());
      }),
  };
};

/** What a child answers to `cpu`: its `process.cpuUsage()`, µs. */
interface CpuReading {
  readonly user: number;
  readonly system: number;
}

/** What a child answers to `memory`: after full GCs, bytes. */
export interface MemoryReading {
  readonly rss: number;
  readonly heapUsed: number;
  readonly external: number;
  readonly arrayBuffers: number;
}

/** Child side: runs one server, answers `cpu` and `memory` a line each, stops when stdin ends. */
const serverChild = async (kind: ServerKind, folder: string): Promise<void> => {
  const gc = (globalThis as { gc?: () => void }).gc;
  const server =
    kind === 'raw'
      ? await startRawFanout()
      : await (async () => {
          const started = await startServer({ port: 0, dataDir: join(folder, 'ferry'), secret: BENCH_SECRET, logLevel: 'error', limits: { ...BENCH_LIMITS, loginRate: { limit: Infinity, windowMs: 1_000 } } });
          return { url: started.wsUrl, close: () => started.close() };
        })();
  process.stdout.write(`${JSON.stringify({ url: server.url })}\n`);
  let profiler: Session | undefined;
  const post = (method: string, params?: object): Promise<unknown> =>
    new Promise((resolve, reject) => profiler?.post(method, params, (error, result) => (error ? reject(error) : resolve(result))));
  for await (const line of createInterface({ input: process.stdin })) {
    if (line === 'profile-start') {
      profiler = new Session();
      profiler.connect();
      await post('Profiler.enable');
      await post('Profiler.start');
      process.stdout.write('{}\n');
    } else if (line.startsWith('profile-stop ')) {
      const { profile } = (await post('Profiler.stop')) as { profile: unknown };
      await writeFile(line.slice('profile-stop '.length), JSON.stringify(profile));
      profiler?.disconnect();
      process.stdout.write('{}\n');
    } else if (line.startsWith('snapshot ')) {
      gc?.();
      writeHeapSnapshot(line.slice('snapshot '.length));
      process.stdout.write('{}\n');
    } else if (line === 'cpu') {
      process.stdout.write(`${JSON.stringify(process.cpuUsage())}\n`);
    } else if (line === 'memory') {
      // V8 frees array buffers on a background thread after a GC: pauses between rounds let it finish.
      for (let round = 0; round < 3; round++) {
        gc?.();
        await new Promise((done) => setTimeout(done, 20));
      }
      const { rss, heapUsed, external, arrayBuffers } = process.memoryUsage();
      process.stdout.write(`${JSON.stringify({ rss, heapUsed, external, arrayBuffers })}\n`);
    }
  }
  await server.close();
};

/** A server child as the bench drives it. */
export interface ServerProcess {
  readonly kind: ServerKind;
  readonly url: string;
  /** The child's CPU time so far, µs (user + system). */
  cpu(): Promise<number>;
  /** The child's memory after full GCs. */
  memory(): Promise<MemoryReading>;
  /** Writes a heap snapshot of the child (after a full GC) to `path`. */
  snapshot(path: string): Promise<void>;
  /** Starts the V8 sampling profiler in the child. */
  profileStart(): Promise<void>;
  /** Stops it and writes the profile (`.cpuprofile` JSON) to `path`. */
  profileStop(path: string): Promise<void>;
  stop(): Promise<void>;
}

/**
 * How the server children run: `compiled` (the default), as a deployed server runs the package, from
 * JavaScript built by `tsc` with `tsconfig.build.json`'s options; `tsx`, from the sources as a checkout's
 * `npx ferry serve` and the specs do (esbuild's `keepNames` then gives every function a `name` property of
 * its own, a property store per closure: decisions 115, 120). Both servers of a run, ferry's and the raw
 * one, run the same way. Set by `FERRY_BENCH_SERVER_RUNTIME=tsx`.
 */
export type ServerRuntime = 'compiled' | 'tsx';

/** The runtime of the server children of this bench process ({@link ServerRuntime}). */
export const serverRuntime = (): ServerRuntime => (process.env.FERRY_BENCH_SERVER_RUNTIME === 'tsx' ? 'tsx' : 'compiled');

/** How the children ran, for a report's method. */
export const serverRuntimeNote = (): string =>
  serverRuntime() === 'tsx'
    ? 'from the sources under `tsx` (`FERRY_BENCH_SERVER_RUNTIME=tsx`)'
    : 'compiled as deployed: `tsc` with `tsconfig.build.json` into a temporary folder, run by plain `node`';

let built: Promise<string> | undefined;

/**
 * This script compiled, with the sources it imports, into a temporary folder: `tsc` with the options of
 * `tsconfig.build.json` (`npm run build`), its `outDir` the temporary folder, so the repository's `dist/`
 * is never touched; this script and what it imports from `bench/` are added to the build's `include`.
 * Once per bench process; the folder goes when the process exits. Resolves the compiled script's path.
 */
const compiledScript = (): Promise<string> => {
  built ??= (async () => {
    const folder = await mkdtemp(join(tmpdir(), 'ferry-bench-build-'));
    process.once('exit', () => rmSync(folder, { recursive: true, force: true }));
    const out = join(folder, 'out');
    const config = join(folder, 'tsconfig.json');
    await writeFile(
      config,
      JSON.stringify({
        extends: join(root, 'tsconfig.build.json'),
        // Declarations and maps change no JavaScript; they only cost time here. Types are looked up from the
        // repository, not from the temporary folder.
        compilerOptions: { outDir: out, rootDir: root, typeRoots: [join(root, 'node_modules', '@types')], declaration: false, declarationMap: false, sourceMap: false },
        include: [join(root, 'src'), join(root, 'machines'), join(root, 'transports'), thisScript],
      }),
    );
    await promisify(execFile)(process.execPath, [join(root, 'node_modules', 'typescript', 'bin', 'tsc'), '-p', config], { cwd: root }).catch((error: unknown) => {
      throw new Error(`tsc failed to build the server children: ${String((error as { stdout?: unknown }).stdout ?? error)}`);
    });
    // The compiled modules are ES modules and import the repository's packages, as the package's `dist/` does.
    await writeFile(join(out, 'package.json'), JSON.stringify({ type: 'module' }));
    await symlink(join(root, 'node_modules'), join(out, 'node_modules'), 'dir');
    return join(out, 'bench', 'ws-fanout.js');
  })();
  return built;
};

/**
 * Starts a server child (`node --expose-gc --min-semi-space-size=16`: the young generation at its full
 * size from the start, as the memory scenarios run their servers), compiled or under tsx
 * ({@link serverRuntime}), and resolves once it listens.
 */
export const startServerProcess = async (kind: ServerKind): Promise<ServerProcess> => {
  const script = serverRuntime() === 'tsx' ? ['--import', 'tsx', thisScript] : [await compiledScript()];
  const folder = await mkdtemp(join(tmpdir(), `ferry-bench-fanout-${kind}-`));
  // FERRY_BENCH_SERVER_FLAGS adds node flags to the server children, e.g. `--cpu-prof --cpu-prof-dir=prof` to profile them.
  const extra = process.env.FERRY_BENCH_SERVER_FLAGS?.split(' ').filter((flag) => flag !== '') ?? [];
  const child: ChildProcess = spawn(process.execPath, ['--expose-gc', '--min-semi-space-size=16', ...extra, ...script, '--server-child', kind, folder], {
    cwd: root,
    stdio: ['pipe', 'pipe', 'inherit'],
  });
  const exited = new Promise<void>((done) => child.once('exit', () => done()));
  const waiting: ((line: string) => void)[] = [];
  createInterface({ input: child.stdout as NodeJS.ReadableStream }).on('line', (line) => waiting.shift()?.(line));
  const nextLine = (what: string): Promise<string> =>
    new Promise<string>((resolve, reject) => {
      const gone = (): void => reject(new Error(`the ${kind} server exited before answering ${what}`));
      child.once('exit', gone);
      waiting.push((line) => {
        child.off('exit', gone);
        resolve(line);
      });
    });
  const ask = async (command: string): Promise<string> => {
    const answer = nextLine(command);
    child.stdin?.write(`${command}\n`);
    return answer;
  };
  const { url } = JSON.parse(await nextLine('its start')) as { url: string };
  return {
    kind,
    url,
    async cpu() {
      const { user, system } = JSON.parse(await ask('cpu')) as CpuReading;
      return user + system;
    },
    memory: async () => JSON.parse(await ask('memory')) as MemoryReading,
    snapshot: async (path) => void (await ask(`snapshot ${path}`)),
    profileStart: async () => void (await ask('profile-start')),
    profileStop: async (path) => void (await ask(`profile-stop ${path}`)),
    async stop() {
      child.stdin?.end();
      const killer = setTimeout(() => child.kill('SIGKILL'), 10_000);
      await exited;
      clearTimeout(killer);
      await rm(folder, { recursive: true, force: true });
    },
  };
};

// ---------------------------------------------------------------------------------------------------
// Clients, in the bench process: the same raw sockets and frames for both servers.

/**
 * A raw socket logged in with `hello` saying what ferry's own client says it reads (batches, and runs of
 * events: a raw server ignores that), resolving at `welcome`.
 */
export const rawLogin = (url: string, userId: string): Promise<WebSocket> =>
  new Promise((resolve, reject) => {
    const ws = new WebSocket(url, { perMessageDeflate: false });
    ws.once('error', reject);
    ws.once('open', () => ws.send(JSON.stringify({ type: 'hello', version: WS_PROTOCOL_VERSION, userId, token: benchToken(userId), batch: true, eventRuns: true })));
    ws.once('message', (data) => {
      const text = String(data);
      if (!text.includes('"welcome"')) return reject(new Error(`hello of ${userId}: ${text.slice(0, 300)}`));
      resolve(ws);
    });
  });

/** Counts occurrences of {@link MARKER} in a frame's bytes. */
const countMarkers = (bytes: Buffer): number => {
  let count = 0;
  for (let at = bytes.indexOf(MARKER); at >= 0; at = bytes.indexOf(MARKER, at + MARKER.length)) count++;
  return count;
};

/** Answers to calls in a frame (`"type":"result"`), counted without parsing. */
const RESULT = Buffer.from('"type":"result"');
const countResults = (bytes: Buffer): number => {
  let count = 0;
  for (let at = bytes.indexOf(RESULT); at >= 0; at = bytes.indexOf(RESULT, at + RESULT.length)) count++;
  return count;
};

/** The channel's members: `sockets[0]` sends, the others receive. */
export interface Channel {
  /** The channel's ID: members of another channel (a cluster's nodes share channels) are not counted. */
  readonly id: string;
  readonly sockets: readonly WebSocket[];
  /** Messages each receiver counted so far. */
  readonly received: number[];
  /** Frames the receivers were sent so far, all together. */
  frames(): number;
  /** Resolves when every receiver counted `total` messages. */
  allReceived(total: number): Promise<void>;
}

/**
 * Logs `MEMBERS` users in and makes them join channel `id`: member i on `urls[i % urls.length]` (one URL:
 * all on one server; the nodes of a cluster: spread over them, the sender on the first). The nodes of a
 * cluster share their channels: each setup on the same cluster needs an `id` of its own, or a send
 * reaches every setup's members while only one setup's are counted.
 */
export const joinChannel = async (urls: string | readonly string[], prefix: string, id = CHANNEL): Promise<Channel> => {
  const nodes = typeof urls === 'string' ? [urls] : urls;
  const sockets: WebSocket[] = [];
  for (let i = 0; i < MEMBERS; i++) sockets.push(await rawLogin(nodes[i % nodes.length] as string, `${prefix}${i}`));
  for (const [i, ws] of sockets.entries()) {
    await new Promise<void>((resolve) => {
      const onMessage = (data: Buffer): void => {
        if (countResults(data) === 0) return;
        ws.off('message', onMessage);
        resolve();
      };
      ws.on('message', onMessage);
      ws.send(JSON.stringify({ type: 'call', id: 1, op: 'join', channelId: id }));
    });
    void i;
  }
  const received = new Array<number>(MEMBERS).fill(0);
  let waiter: { total: number; done: () => void } | undefined;
  let complete = 0;
  let frames = 0;
  for (let i = 1; i < MEMBERS; i++) {
    (sockets[i] as WebSocket).on('message', (data: Buffer) => {
      frames++;
      const before = received[i] as number;
      const after = before + countMarkers(data);
      received[i] = after;
      if (waiter && before < waiter.total && after >= waiter.total && ++complete === MEMBERS - 1) waiter.done();
    });
  }
  return {
    id,
    sockets,
    received,
    frames: () => frames,
    allReceived: (total) =>
      new Promise<void>((done) => {
        complete = received.filter((n, i) => i > 0 && n >= total).length;
        waiter = { total, done };
        if (complete === MEMBERS - 1) done();
      }),
  };
};

/** Sends `count` messages to the channel from its `sockets[0]`, `IN_FLIGHT` calls at a time; resolves at the last answer. */
export const sendAll = (channel: Channel, run: number, firstId: number, count = MESSAGES): Promise<void> =>
  new Promise<void>((resolve) => {
    const sender = channel.sockets[0] as WebSocket;
    let sent = 0;
    let answered = 0;
    const send = (): void => {
      const id = firstId + sent++;
      sender.send(JSON.stringify({ type: 'call', id, op: 'sendToChannel', channelId: channel.id, messageId: `r${run}-${id}`, message: { messageType: 'TEXT', text: TEXT } }));
    };
    const onMessage = (data: Buffer): void => {
      const results = countResults(data);
      answered += results;
      for (let i = 0; i < results && sent < count; i++) send();
      if (answered >= count) {
        sender.off('message', onMessage);
        resolve();
      }
    };
    sender.on('message', onMessage);
    for (let i = 0; i < Math.min(IN_FLIGHT, count); i++) send();
  });

/** Runs the scenario and reports it. */
export const runWsFanout = async (options: WsFanoutOptions = {}): Promise<ScenarioReport> => {
  const runs = options.runs ?? 5;
  const started = performance.now();
  const servers = { raw: await startServerProcess('raw'), ferry: await startServerProcess('ferry') };
  const channels: Partial<Record<ServerKind, Channel>> = {};
  try {
    channels.raw = await joinChannel(servers.raw.url, 'r');
    channels.ferry = await joinChannel(servers.ferry.url, 'f');
    const done: Record<ServerKind, number> = { raw: 0, ferry: 0 };
    let nextId = 100;
    // FERRY_BENCH_PROFILE=<folder>: each server child profiles each run of its case alone (V8 sampler) into it.
    const profileDir = process.env.FERRY_BENCH_PROFILE;
    const fanout = (kind: ServerKind) => async () => {
      const channel = channels[kind] as Channel;
      const server = servers[kind];
      const run = done[kind] + 1;
      if (profileDir !== undefined) await server.profileStart();
      const cpu0 = await server.cpu();
      const frames0 = channel.frames();
      const own0 = process.cpuUsage();
      const t0 = performance.now();
      const received = channel.allReceived(run * MESSAGES);
      await sendAll(channel, run, nextId);
      await received;
      const elapsed = performance.now() - t0;
      const own = process.cpuUsage(own0);
      const cpu = (await server.cpu()) - cpu0;
      if (profileDir !== undefined) await server.profileStop(join(profileDir, `${kind}-${run}.cpuprofile`));
      const framesPerReceiver = (channel.frames() - frames0) / (MEMBERS - 1);
      nextId += MESSAGES;
      done[kind] = run;
      const deliveries = MESSAGES * (MEMBERS - 1);
      return {
        value: deliveries / (elapsed / 1000),
        details: { ms: elapsed, messagesPerFrame: MESSAGES / framesPerReceiver, cpuPerDeliveryUs: cpu / deliveries, serverCpuShare: cpu / 1000 / elapsed, clientCpuShare: (own.user + own.system) / 1000 / elapsed },
      };
    };
    const result = await interleave({
      runs,
      warmup: 1,
      timeoutMs: 120_000,
      before: () => undefined,
      cases: { 'raw ws': fanout('raw'), ferry: fanout('ferry') },
      onRun: ({ name, run, value }) => options.log?.(`  ${run === 0 ? 'warm-up' : `run ${run}/${runs}`}  ${name.padEnd(8)} ${fixed(value / 1000, 0).padStart(6)}k deliveries/s`),
    });
    const c = result.cases;
    const speed = c.ferry.median / c['raw ws'].median;
    const ferryCpu = c.ferry.details.cpuPerDeliveryUs ?? Number.NaN;
    const row = (name: 'raw ws' | 'ferry', label: string): string[] => {
      const r = c[name];
      return [
        label,
        `${fixed(r.median / 1000, 0)}k`,
        `${fixed(r.min / 1000, 0)}k–${fixed(r.max / 1000, 0)}k`,
        fixed(r.details.cpuPerDeliveryUs ?? Number.NaN, 2),
        fixed(r.details.ms ?? Number.NaN, 0),
        fixed(r.details.messagesPerFrame ?? Number.NaN, 1),
        `${fixed(100 * (r.details.serverCpuShare ?? Number.NaN), 0)}% / ${fixed(100 * (r.details.clientCpuShare ?? Number.NaN), 0)}%`,
      ];
    };
    return {
      title: 'WebSocket channel fan-out (loopback)',
      method: [
        `Each server in a child process of its own (\`node --expose-gc --min-semi-space-size=16\`, ${serverRuntimeNote()}): ferry's \`startServer({ limits: BENCH_LIMITS })\` (message and login rates off, every other limit at its default), and a raw \`ws\` server (\`startRawFanout\` in \`bench/ws-fanout.ts\`) that authenticates the same \`hello\` token, keeps a record per socket and the channel's members, serializes each message's event once and sends that text to every other member, one write per socket per event-loop turn (a JSON array when several).`,
        `${MEMBERS} raw \`ws\` sockets per server in the bench process log in (\`batch: true, eventRuns: true\`, as ferry's client does; the raw server ignores \`eventRuns\`) and join one channel; one sends ${MESSAGES.toLocaleString('en-US')} TEXT messages (${TEXT.length} characters) with ${IN_FLIGHT} calls in flight, the ${MEMBERS - 1} others count the messages in each frame's bytes without parsing.`,
        `Figures: deliveries/s = ${MESSAGES.toLocaleString('en-US')} × ${MEMBERS - 1} ÷ the time from the first send to the last delivery; server CPU per delivery from the child's own \`process.cpuUsage()\` around the run; CPU shares are CPU time ÷ wall time (the bench process's share says whether the clients could be the limit). ${runs} interleaved runs after a warm-up round; medians.`,
      ].join('\n'),
      table: markdownTable(
        ['server', 'deliveries/s', 'range', 'server CPU µs/delivery', 'ms', 'messages per frame', 'CPU share server / clients'],
        [row('raw ws', 'raw `ws`, one frame per turn'), row('ferry', 'ferry `startServer`')],
      ),
      targets: [
        checkTarget({ name: `channel fan-out: raw ÷ ferry deliveries/s (ferry ÷ raw = ${formatRatio(speed)}, must be ≥ ${RATE_TARGET})`, value: 1 / speed, comparison: '<=', limit: 1 / RATE_TARGET, unit: '×', digits: 2 }),
        checkTarget({ name: 'channel fan-out: ferry server CPU per delivery', value: ferryCpu, comparison: '<=', limit: CPU_TARGET_US, unit: ' µs', digits: 2 }),
      ],
      notes: `Raw: ${fixed(c['raw ws'].details.cpuPerDeliveryUs ?? Number.NaN, 2)} µs of server CPU per delivery; ferry: ${fixed(ferryCpu, 2)} µs (${formatRatio(ferryCpu / (c['raw ws'].details.cpuPerDeliveryUs ?? Number.NaN))}).`,
      elapsedMs: performance.now() - started,
    };
  } finally {
    for (const channel of Object.values(channels)) for (const ws of channel.sockets) ws.terminate();
    await Promise.all([servers.raw.stop(), servers.ferry.stop()]);
  }
};

childMode(thisScript, '--server-child', async ([kind, folder]) => {
  if ((kind !== 'ferry' && kind !== 'raw') || folder === undefined) throw new Error('usage: ws-fanout.ts --server-child ferry|raw <folder>');
  await serverChild(kind, folder);
});
