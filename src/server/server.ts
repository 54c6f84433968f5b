/**
 * `startServer`: the hub over HTTP on `node:http`, with the durable file store. Route modules own one
 * path prefix each (`tus.ts` for uploads, `http-downloads.ts` for media, `sessions.ts` for messaging,
 * `health.ts` for the operator's endpoints), and `ws-endpoint.ts` serves the WebSocket endpoint on the same
 * server's `upgrade`; this file wires them, the timeouts, the secret, metrics and logs, and the teardown
 * (an immediate `close()` or a `drain()`).
 * @module
 */
import { randomBytes } from 'node:crypto';
import { mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo, Socket } from 'node:net';
import type { Duplex } from 'node:stream';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { type Clock, systemClock } from '../core/clock.js';
import { Failure, fault } from '../core/failure.js';
import { createHub, type Hub } from '../hub/hub.js';
import { type Backends, connectBackends, type RedisOptions, type S3Options, type SharedState } from './backends.js';
export type { RedisOptions, S3Options, SharedState } from './backends.js';
import { PerKeyCount } from './per-key-count.js';
import { resolveServerLimits, type ServerLimits } from './server-limits.js';
import { describeUntrusted } from '../core/untrusted.js';
import { DEFAULT_IDLE_TIMEOUT_MS, DEFAULT_PARTIAL_TTL_MS, DEFAULT_RETENTION_MS } from '../core/limits.js';
import { devModeUnavailable, devRoute } from './dev.js';
import { downloadsRoute } from './http-downloads.js';
import { type FileStore, fileStore } from './file-store.js';
import { opsRoutes, readinessCheck } from './health.js';
import { type Route, sendFailure, setCorsHeaders } from './http-util.js';
import { createLogger, type Logger, type LogLevel, logRequest, pathOf } from './log.js';
import { serverMetrics } from './metrics.js';
import { errnoOf } from '../platform/node-fs.js';
import { sessionsRoute } from './sessions.js';
import { tusRoute } from './tus.js';
import { wsRoute } from './ws-endpoint.js';
import { HTTP_PATHS, wsUrlOfBase } from '../protocol/http-wire.js';

/** For `ServerOptions.logger` and `logLevel`: a redacting pino logger, and its levels (`log.ts`). */
export { createLogger, type Logger, type LogLevel } from './log.js';
export { DEFAULT_SERVER_LIMITS, type ServerLimits } from './server-limits.js';
export { DEFAULT_HUB_LIMITS, type HubLimits, type Rate } from '../hub/hub-limits.js';

/** `startServer({ dev: true })` where development mode cannot run (no checkout); the message says why. */
export class DevModeUnavailableError extends Error {
  override readonly name = 'DevModeUnavailableError';
}

/** Options of {@link startServer}. */
export interface ServerOptions {
  /** TCP port; 0 picks any free port (read it from `url`). Default: 0. @example { port: 8080 } */
  readonly port?: number;
  /** Interface to listen on. Default: `127.0.0.1` (this machine only). @example { host: '0.0.0.0' } */
  readonly host?: string;
  /**
   * Folder of media, partial uploads and the generated secret; created if missing, kept across restarts.
   * Default: a fresh temporary folder, removed by `close()`. @example { dataDir: './.ferry-data' }
   */
  readonly dataDir?: string;
  /**
   * HMAC key of login tokens. Default: with `dataDir`, generated once and kept in `<dataDir>/secret`
   * (mode 0600) so tokens survive restarts; without, random per start. @example { secret: process.env.FERRY_SECRET }
   */
  readonly secret?: string;
  /** How long media is kept after its upload completes. Default: 7 days. @example { retentionMs: 86_400_000 } */
  readonly retentionMs?: number;
  /** How long an unfinished upload is kept for resumption since its last byte. Default: 24 h. */
  readonly partialTtlMs?: number;
  /** Time source of the hub (expiry, tokens, sweeps). Default: the system clock. */
  readonly clock?: Clock;
  /**
   * A connection on which no byte moves for this long is closed: cuts clients that send nothing without
   * cutting slow uploads that keep sending. Default: 120 s. @example { idleTimeoutMs: 60_000 }
   */
  readonly idleTimeoutMs?: number;
  /** Time allowed to send the request headers. Default: 30 s. */
  readonly headersTimeoutMs?: number;
  /** A WebSocket that has not authenticated (its first frame) within this long is closed. Default: 10 s. */
  readonly wsAuthTimeoutMs?: number;
  /** How often WebSockets are pinged; one silent for a whole interval is cut. Default: 15 s. */
  readonly wsPingIntervalMs?: number;
  /** How long a WebSocket session outlives its socket, for the client to resume it. Default: 60 s. */
  readonly wsGraceMs?: number;
  /**
   * Development mode: the demo page at `/` and `POST /dev/token?userId=…`, which mints a token for any
   * caller on this machine (`src/server/dev.ts`, decision 48). Needs a checkout:
   * it builds `web/` with esbuild. Default: `false`. @example { dev: true }
   */
  readonly dev?: boolean;
  /**
   * Serve `/healthz`, `/readyz` and `/metrics` on a port of their own (same `host`; 0 picks a free one,
   * read it from `metricsUrl`) instead of the main port, so they need not be exposed with the API.
   * Default: on the main port. @example { metricsPort: 9090 }
   */
  readonly metricsPort?: number;
  /**
   * Where the server logs: request lines at `info`, faults at `error`, WebSocket calls at `debug`.
   * Default: a pino logger writing JSON lines to standard output at `logLevel` (decision 68).
   * @example { logger: createLogger({ level: 'info', destination: pino.destination('/var/log/ferry.log') }) }
   */
  readonly logger?: Logger;
  /**
   * The lowest level logged: `fatal`, `error`, `warn`, `info`, `debug`, `trace` or `silent`. With
   * `logger`, it sets the level of the server's child of it. Default: `warn` (faults only; `ferry serve`
   * defaults to `info`). @example { logLevel: 'debug' }
   */
  readonly logLevel?: LogLevel;
  /**
   * What `drain()` gives requests in flight to finish before every session is told to reconnect and
   * the rest is aborted. Default: 10 s. @example { drainTimeoutMs: 25_000 }
   */
  readonly drainTimeoutMs?: number;
  /**
   * What one user may consume and what the server's buffers may hold (`server-limits.ts`; the table is in
   * `docs/contract.md`). Given fields override the defaults. Benchmarks of raw relay speed raise
   * `messageRate`, and say so. @example { limits: { storedBytes: 512 * 1024 ** 2, unfinishedUploads: 5 } }
   */
  readonly limits?: Partial<ServerLimits>;
  /**
   * State this server shares with others (several servers in one process, or another implementation of a
   * cluster's seams): the hub's message bus, upload states and sweep lease, and the media store. Each
   * defaults to the server's own: a memory bus, memory upload states, a sole lease, the durable file
   * store in `dataDir`. What is given here is the caller's to close. With a shared `bus`, the servers'
   * sessions move between them: a client whose server goes resumes its session through another with the
   * same session ID and last event number (every server must then share `secret`), and a closing or
   * draining server hands its sessions over instead of logging them out (decision 95). Such a bus should
   * keep as many deliveries per session as a client may miss while it moves (the server's own replay
   * keeps 1,000): `memoryBus({ replayLimit: 1000 })`, or the Redis bus. @example { shared: { bus } }
   */
  readonly shared?: SharedState;
  /**
   * Redis shared by every node of a cluster: the message bus (messages, presence, sessions that move between
   * nodes), the state of unfinished uploads, the sweep lease, and quotas and rates per user across nodes.
   * Alone it suits one node with the local file store. `docs/deploy.md`. @example { redis: { url: 'redis://127.0.0.1:6379' } }
   */
  readonly redis?: RedisOptions;
  /**
   * An S3-compatible store (Ceph RGW, AWS S3, …) for media and unfinished uploads' bytes instead of
   * `dataDir`, so any node serves any media and a dead node loses none.
   * @example { s3: { endpoint: 'http://127.0.0.1:7480', bucket: 'ferry', accessKeyId, secretAccessKey } }
   */
  readonly s3?: S3Options;
}


/** Options of {@link FerryServer.drain}. */
export interface DrainOptions {
  /** Time given to requests in flight. Default: the server's `drainTimeoutMs` (10 s). @example { timeoutMs: 5_000 } */
  readonly timeoutMs?: number;
}

/** A running server. */
export interface FerryServer {
  /** Base URL, e.g. `http://127.0.0.1:8080`: the base of `httpTransport({ url })`. */
  readonly url: string;
  /** The tus 1.0.0 creation endpoint, `${url}/v1/uploads`. */
  readonly uploadsUrl: string;
  /** The WebSocket endpoint, `ws://host:port/v1/ws`: the base of `wsTransport({ url })` (`docs/protocol-ws.md`). */
  readonly wsUrl: string;
  /** Base URL of `/healthz`, `/readyz` and `/metrics`: `url`, or the metrics port's when `metricsPort` is given. */
  readonly metricsUrl: string;
  /** Mints a login token for `userId`, valid `ttlMs` (default 24 h); send it as `Authorization: Bearer <token>`. */
  issueToken(userId: string, ttlMs?: number): string;
  /** The hub behind the server. */
  readonly hub: Hub;
  /**
   * Stops accepting, aborts requests in flight (their bytes so far are kept), closes the hub and the store.
   * Its sessions are logged out, or with a shared bus handed over: left open there for their clients to
   * resume through another server. Idempotent.
   */
  close(): Promise<void>;
  /**
   * Stops gracefully: stops accepting connections and `/readyz` answers 503 at once; requests in flight
   * get `timeoutMs` to finish; then WebSockets are closed with 1001 (going away: clients reconnect),
   * event streams are ended (clients reconnect with `Last-Event-ID`), what still runs is aborted (an
   * upload's bytes so far are recorded) and the server closes as `close()` does: with a shared bus its
   * sessions are handed over, so their clients resume them through another server. Resolves once closed.
   */
  drain(options?: DrainOptions): Promise<void>;
}

/** Probes and scrapes come every few seconds: logged at `debug`, so `info` keeps to real traffic. */
const OPS_PATHS = new Set(['/healthz', '/readyz', '/metrics']);


/** The secret kept in `<dataDir>/secret`, generated (mode 0600) on first start. */
const keptSecret = async (dataDir: string): Promise<string> => {
  const path = join(dataDir, 'secret');
  const read = async (): Promise<string> => {
    const text = (await readFile(path, 'utf8')).trim();
    if (text === '') throw new Error(`${path} is empty: delete it to generate a new secret`);
    return text;
  };
  try {
    return await read();
  } catch (error) {
    if (errnoOf(error) !== 'ENOENT') throw error;
  }
  try {
    await writeFile(path, `${randomBytes(32).toString('base64url')}\n`, { mode: 0o600, flag: 'wx' });
  } catch (error) {
    if (errnoOf(error) !== 'EEXIST') throw error; // another process won the race: use its secret
  }
  return read();
};

/** Listens on `port` of `host`; rejects with the listen error (EADDRINUSE, EADDRNOTAVAIL). */
const listening = (server: Server, port: number, host: string): Promise<void> =>
  new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, host, () => {
      server.off('error', reject);
      resolve();
    });
  });

/**
 * Starts a ferry server.
 * @example
 * const server = await startServer({ port: 8080, dataDir: './.ferry-data' });
 * const token = server.issueToken('alice');
 * // curl -H "Authorization: Bearer $token" -H 'Tus-Resumable: 1.0.0' -H 'Upload-Length: 5' -X POST $uploadsUrl
 * await server.close();
 */
export const startServer = async (options: ServerOptions = {}): Promise<FerryServer> => {
  const host = options.host ?? '127.0.0.1';
  const clock = options.clock ?? systemClock;
  const idleTimeoutMs = options.idleTimeoutMs ?? DEFAULT_IDLE_TIMEOUT_MS;
  const limits = resolveServerLimits(options.limits);
  const headersTimeoutMs = options.headersTimeoutMs ?? 30_000;
  const drainTimeoutMs = options.drainTimeoutMs ?? 10_000;
  for (const [name, value] of Object.entries({ idleTimeoutMs, headersTimeoutMs })) {
    if (!(Number.isSafeInteger(value) && value > 0)) throw new RangeError(`${name} must be a positive integer, got ${String(value)}`);
  }
  if (!(Number.isSafeInteger(drainTimeoutMs) && drainTimeoutMs >= 0)) throw new RangeError(`drainTimeoutMs must be a non-negative integer, got ${String(drainTimeoutMs)}`);
  if (options.secret === '') throw new RangeError('secret must not be empty');
  const log = options.logger
    ? options.logLevel === undefined
      ? options.logger
      : options.logger.child({}, { level: options.logLevel })
    : createLogger({ level: options.logLevel ?? 'warn' });
  // Refused before anything starts: a page announced and then answered 500 (an installed package) misleads.
  const devRefused = options.dev ? await devModeUnavailable() : undefined;
  if (devRefused) throw new DevModeUnavailableError(devRefused);
  const tempDir = options.dataDir === undefined ? await mkdtemp(join(tmpdir(), 'ferry-server-')) : undefined;
  const dataDir = options.dataDir ?? (tempDir as string);
  const metrics = serverMetrics();

  let store: FileStore | undefined;
  let backends: Backends | undefined;
  // With a bus shared by other servers (given, or Redis), sessions move between them (decision 95).
  const sharedBus = options.shared?.bus !== undefined || options.redis !== undefined;
  let mediaStore: SharedState['store'] | undefined;
  let hub: Hub | undefined;
  const servers: Server[] = [];
  const release = async (): Promise<void> => {
    for (const server of servers) server.closeAllConnections();
    await Promise.all(servers.map((server) => new Promise<void>((resolve) => server.close(() => resolve()))));
    // With a bus shared by other servers, the sessions stay open there for their clients to resume elsewhere.
    hub?.close({ handOver: sharedBus });
    await store?.close();
    await backends?.close();
    if (tempDir) await rm(tempDir, { recursive: true, force: true });
  };
  try {
    await mkdir(dataDir, { recursive: true, mode: 0o700 });
    const secret = options.secret ?? (tempDir ? undefined : await keptSecret(dataDir));
    const partialTtlMs = options.partialTtlMs;
    if ((options.redis || options.s3) && options.shared) throw new RangeError('give either redis/s3 or shared, not both');
    backends = await connectBackends({
      ...(options.redis ? { redis: options.redis } : {}),
      ...(options.s3 ? { s3: options.s3 } : {}),
      clock,
      retentionMs: options.retentionMs ?? DEFAULT_RETENTION_MS,
      partialTtlMs: partialTtlMs ?? DEFAULT_PARTIAL_TTL_MS,
      onError: (error, where) => log.warn({ err: error, where }, 'shared state'),
    });
    const shared = options.shared ?? backends.shared;
    if (shared.store) {
      mediaStore = metrics.meter(shared.store);
    } else {
      store = metrics.meter(await fileStore({ dataDir, now: () => clock.now(), ...(partialTtlMs === undefined ? {} : { partialTtlMs }) }));
      for (const { mediaId, action, reason } of store.recovered) log.info({ mediaId, action, reason }, 'store recovery');
      mediaStore = store;
    }
    hub = createHub({
      store: mediaStore,
      ...(shared.bus ? { bus: shared.bus } : {}),
      ...(shared.uploads ? { uploads: shared.uploads } : {}),
      ...(shared.lease ? { lease: shared.lease } : {}),
      ...(shared.rates ? { rates: shared.rates } : {}),
      ...(shared.usage ? { usage: shared.usage } : backends.usageFor ? { usage: backends.usageFor(mediaStore) } : {}),
      onStateError: (error) => log.warn({ err: error }, 'shared upload state failed (the claim runs out by itself)'),
      clock,
      limits,
      monitor: metrics.monitor,
      onSweepError: (error) => log.error({ err: error }, 'sweep failed (retried at the next interval)'),
      ...(secret === undefined ? {} : { secret }),
      ...(options.retentionMs === undefined ? {} : { retentionMs: options.retentionMs }),
      ...(partialTtlMs === undefined ? {} : { partialTtlMs }),
    });
  } catch (error) {
    await release();
    throw error;
  }
  const theHub = hub;
  /**
   * Whether this server's sessions are handed over rather than logged out when it closes or drains, and
   * sessions other servers held are taken over here: when its bus is shared with them (decision 95).
   */
  const handOver = sharedBus;
  const theStore = mediaStore as NonNullable<SharedState['store']>;

  /** Serving, then draining (refusing readiness, letting requests finish), then closing. */
  let phase: 'serving' | 'draining' | 'closing' = 'serving';
  const controllers = new Set<AbortController>();
  const inflight = new Set<Promise<void>>();
  const ws = wsRoute({
    hub: theHub,
    path: HTTP_PATHS.ws,
    limits,
    onSlowReader: () => metrics.monitor.refused('slowReader'),
    onLimit: (limit) => metrics.monitor.refused(limit),
    onFault: (error, where) => log.error({ err: error, where }, 'ws handler failed'),
    logger: log,
    ...(options.wsAuthTimeoutMs === undefined ? {} : { authTimeoutMs: options.wsAuthTimeoutMs }),
    ...(options.wsPingIntervalMs === undefined ? {} : { pingIntervalMs: options.wsPingIntervalMs }),
    ...(options.wsGraceMs === undefined ? {} : { graceMs: options.wsGraceMs }),
    adopt: handOver,
  });
  const ops = opsRoutes({
    readiness: readinessCheck({
      probe: async () => {
        await theStore.probe?.();
        await Promise.all((backends?.probes ?? []).map((probe) => probe()));
      },
    }),
    metrics,
    stopping: () => (phase === 'serving' ? undefined : 'the server is shutting down'),
  });

  /** A request handler dispatching on the routes `routesOf()` gives (filled in once the URL is known). */
  const dispatcher =
    (routesOf: () => readonly Route[]) =>
    (req: IncomingMessage, res: ServerResponse): void => {
      const path = pathOf(req.url);
      const reqLog = logRequest(log, req, res, OPS_PATHS.has(path) ? 'debug' : 'info');
      // A request that arrives while draining is served, then its connection closes.
      if (phase !== 'serving') res.shouldKeepAlive = false;
      const controller = new AbortController();
      controllers.add(controller);
      res.on('close', () => {
        controllers.delete(controller);
        if (!res.writableFinished) controller.abort(fault(Failure.interrupted('the client went away')));
      });
      setCorsHeaders(res);
      // Routed on the whole path (`path` is cut for the log). Prefixing the origin (rather than passing a
      // base) keeps `//host/…` a path, never an authority; a target URL cannot parse is a 400, not a throw.
      let pathname: string;
      try {
        pathname = new URL(`http://server${(req.url ?? '/').split('?')[0] ?? '/'}`).pathname;
      } catch {
        return sendFailure({ req, res }, Failure.invalidArgument('path', 'not a URL path'));
      }
      const route = routesOf().find((r) => pathname === r.prefix || pathname.startsWith(`${r.prefix}/`));
      if (!route) return sendFailure({ req, res }, Failure.notExist(`route ${describeUntrusted(pathname)}`));
      const rest = pathname.slice(route.prefix.length);
      const segments = rest === '' || rest === '/' ? [] : rest.slice(1).split('/');
      const handled = route
        .handle({ req, res, method: (req.method ?? 'GET').toUpperCase(), segments, signal: controller.signal })
        .catch((error: unknown) => {
          // Route modules answer their own failures; anything escaping them is a bug, logged here.
          reqLog.error({ err: error }, 'unhandled');
          // Answered as a fault of the server, for this request alone; a response already under way is cut.
          if (res.headersSent) res.destroy();
          else sendFailure({ req, res }, Failure.unknown('the server failed on this request (logged); try again'));
        })
        .finally(() => inflight.delete(handled));
      inflight.add(handled);
    };

  let routes: readonly Route[] = [];
  const server = createServer(
    { requestTimeout: 0, headersTimeout: headersTimeoutMs, connectionsCheckingInterval: 5_000 },
    dispatcher(() => routes),
  );
  server.keepAliveTimeout = 5_000;
  server.on('upgrade', (req: IncomingMessage, socket: Duplex, head: Buffer) => {
    log.debug({ path: pathOf(req.url) }, 'ws upgrade');
    ws.upgrade(req, socket, head);
  });
  // One address holds at most `connectionsPerAddress` sockets (HTTP and WebSocket alike); more are closed
  // before a byte is read.
  const perAddress = new PerKeyCount(limits.connectionsPerAddress);
  if (limits.connectionsPerAddress > 0) {
    // The address each socket counts against, for one `close` listener shared by every socket rather than
    // a closure and a `once` wrapper each (decision 134); read at connection, as Node may not say it once
    // the socket is destroyed.
    const addressOf = new WeakMap<Socket, string>();
    function release(this: Socket): void {
      const address = addressOf.get(this);
      if (address === undefined) return;
      addressOf.delete(this);
      perAddress.release(address);
    }
    server.on('connection', (socket: Socket) => {
      const address = socket.remoteAddress ?? '';
      if (!perAddress.acquire(address)) {
        metrics.monitor.refused('connectionsPerAddress');
        socket.destroy();
        return;
      }
      addressOf.set(socket, address);
      socket.on('close', release);
    });
  }
  // Inactivity in either direction: a socket that neither sends nor drains for this long is gone or hostile.
  server.setTimeout(idleTimeoutMs, (socket) => socket.destroy());
  const opsServer =
    options.metricsPort === undefined
      ? undefined
      : createServer({ requestTimeout: 30_000, headersTimeout: headersTimeoutMs }, dispatcher(() => ops));
  try {
    servers.push(server);
    await listening(server, options.port ?? 0, host);
    if (opsServer) {
      servers.push(opsServer);
      await listening(opsServer, options.metricsPort ?? 0, host);
    }
  } catch (error) {
    await release();
    throw error;
  }

  const urlOf = (of: Server): string => {
    const { port } = of.address() as AddressInfo;
    return `http://${host.includes(':') ? `[${host}]` : host}:${port}`;
  };
  const url = urlOf(server);
  const uploadsUrl = `${url}${HTTP_PATHS.uploads}`;
  const sessions = sessionsRoute({
    hub: theHub,
    prefix: HTTP_PATHS.sessions,
    // A heartbeat at least twice per idle timeout, so an event stream with nothing to say is never idle-cut.
    heartbeatMs: Math.min(15_000, Math.max(1, Math.floor(idleTimeoutMs / 2))),
    sessionsPerUser: limits.sessionsPerUser,
    replayBytes: limits.replayBytes,
    idleTimeoutMs,
    onSlowReader: () => metrics.monitor.refused('slowReader'),
    onSessionEvicted: () => metrics.monitor.refused('sessionsPerUser'),
    onFault: (error, where) => log.error({ err: error, where }, 'session failed'),
    adopt: handOver,
  });
  routes = [
    tusRoute({ hub: theHub, prefix: HTTP_PATHS.uploads, uploadsUrl, guard: sessions.guard }),
    downloadsRoute({ hub: theHub, prefix: HTTP_PATHS.media, guard: sessions.guard }),
    sessions,
    // Before the demo page, whose prefix is every path: /healthz, /readyz and /metrics answer in dev mode too.
    ...(opsServer ? [] : ops),
    ...(options.dev ? [devRoute({ hub: theHub, url })] : []),
  ];
  log.info({ url, ...(opsServer ? { metricsUrl: urlOf(opsServer) } : {}) }, 'listening');

  let closing: Promise<void> | undefined;
  const close = (): Promise<void> => {
    closing ??= (async () => {
      phase = 'closing';
      const stopped = new Promise<void>((resolve) => server.close(() => resolve()));
      sessions.close({ handOver });
      ws.close({ handOver });
      for (const controller of controllers) controller.abort(fault(Failure.interrupted('the server is closing')));
      server.closeAllConnections();
      await Promise.allSettled([...inflight]);
      await stopped;
      await release();
      log.info('closed');
    })();
    return closing;
  };
  let draining: Promise<void> | undefined;
  return {
    url,
    uploadsUrl,
    wsUrl: wsUrlOfBase(url) as string,
    metricsUrl: opsServer ? urlOf(opsServer) : url,
    hub: theHub,
    issueToken: (userId, ttlMs) => theHub.issueToken(userId, ttlMs),
    close,
    drain({ timeoutMs = drainTimeoutMs } = {}) {
      draining ??= (async () => {
        if (phase !== 'serving') return close();
        phase = 'draining';
        log.info({ timeoutMs, requests: inflight.size }, 'draining');
        server.close(); // stops accepting; idle keep-alive connections are closed
        server.closeIdleConnections();
        const deadline = Date.now() + timeoutMs;
        // Requests that arrive meanwhile on open connections join the wait; event streams are not
        // waited for (their handler returned when the stream opened): they end with the sessions.
        while (inflight.size > 0 && Date.now() < deadline) {
          let timer: NodeJS.Timeout | undefined;
          const expired = new Promise<void>((resolve) => {
            timer = setTimeout(resolve, deadline - Date.now());
          });
          await Promise.race([Promise.allSettled([...inflight]), expired]);
          clearTimeout(timer);
        }
        if (inflight.size > 0) log.warn({ requests: inflight.size }, 'drain timeout: aborting what still runs');
        return close();
      })();
      return draining;
    },
  };
};
