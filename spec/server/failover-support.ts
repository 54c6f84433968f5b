/**
 * Pieces of the failover specs (issue 14, decision 96): two real servers on loopback sharing one state
 * (one memory store, upload states and bus, one secret), a TCP proxy in front of a node that can hold a
 * direction mid-transfer, refuse, or cut, a port that refuses connections, and a `fetch` and a
 * WebSocket that record what the client sent to which node and what it heard.
 * @module
 */
import { createHash, randomUUID } from 'node:crypto';
import { connect, createServer, type Server, type Socket } from 'node:net';
import * as E from 'fp-ts/lib/Either.js';
import { WebSocket as WsSocket } from 'ws';
import { afterEach } from 'vitest';
import { type Client, createClient, memoryBus, memoryStore, memoryUploadStates } from '../../src/index.js';
import type { Transport } from '../../transports/transport.js';
import { nodeFetch } from '../../src/platform/node-fetch.js';
import type { WebSocketConstructor } from '../../src/platform/websocket.js';
import { type ClientFrame, decodeClientFrames, decodeData, decodeServerFrames, type ServerFrame, WS_LARGE_CHUNK_SIZE } from '../../src/protocol/ws-frames.js';
import { type FerryServer, type ServerOptions, startServer } from '../../src/server/server.js';

export const MiB = 1024 * 1024;

/** Deterministic bytes that do not repeat within a MiB, so a misplaced range cannot hash right. */
export const bytesOf = (size: number, seed: number): Uint8Array => {
  const out = new Uint8Array(size);
  let x = seed >>> 0 || 1;
  for (let i = 0; i < size; i++) {
    x = (x * 1103515245 + 12345) >>> 0;
    out[i] = x >>> 24;
  }
  return out;
};

export const sha256 = (bytes: Uint8Array): string => createHash('sha256').update(bytes).digest('hex');

/** Two nodes of one cluster in this process: one store, one upload state, one bus, one secret. */
export interface TwoNodes {
  readonly a: FerryServer;
  readonly b: FerryServer;
  /** Closes both (a node already closed is fine). */
  close(): Promise<void>;
}

/** Starts two servers sharing their state, as `startServer({ shared })` lets several nodes do. */
export const twoNodes = async (options: Omit<ServerOptions, 'shared' | 'secret'> = {}): Promise<TwoNodes> => {
  const shared = { store: memoryStore(), uploads: memoryUploadStates(), bus: memoryBus({ replayLimit: 1000 }) };
  const secret = `failover-${randomUUID()}`;
  const a = await startServer({ ...options, secret, shared });
  const b = await startServer({ ...options, secret, shared });
  return {
    a,
    b,
    close: async () => {
      await Promise.allSettled([a.close(), b.close()]);
    },
  };
};

/** A loopback URL on which nothing listens: connections to it are refused. */
export const refusedUrl = async (): Promise<string> => {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const address = server.address();
  const port = typeof address === 'object' && address ? address.port : 0;
  await new Promise<void>((resolve) => server.close(() => resolve()));
  return `http://127.0.0.1:${port}`;
};

/** The WebSocket URL of an `http://host:port` base. */
export const wsOf = (base: string): string => `${base.replace(/^http/, 'ws')}/v1/ws`;

/** One way through the proxy: client to node (`up`) or node to client (`down`). */
export type Direction = 'up' | 'down';

/**
 * A TCP proxy in front of one node. Everything passes, and it counts the connections it took and the
 * bytes each way. It can:
 * - `holdAfter(bytes, direction)`: once that many bytes went that way (over all connections), pass
 *   nothing more that way (what comes is dropped), as a node that froze mid-transfer; resolves then;
 * - refuse (`setDown(true)`): new connections are closed at once, as a gateway in front of a dead node;
 * - `release(direction)`: pass that direction again after a hold;
 * - `cutAll()`: reset every open connection;
 * - keep the first 64 KiB each connection's client sent (held or not), as text (`sent()`), to read
 *   request heads.
 */
export const nodeProxy = async (target: string) => {
  const { hostname, port } = new URL(target);
  const open = new Set<Socket>();
  const heads: string[] = [];
  let refusing = false;
  let connections = 0;
  const moved = { up: 0, down: 0 };
  const holding = { up: false, down: false };
  let hold: { readonly after: number; readonly direction: Direction; readonly reached: () => void } | undefined;
  const server: Server = createServer((client: Socket) => {
    if (refusing) {
      client.destroy();
      return;
    }
    connections++;
    const head = { text: '' };
    heads.push('');
    const at = heads.length - 1;
    const upstream = connect(Number(port), hostname);
    open.add(client).add(upstream);
    const pass = (direction: Direction, to: Socket) => (chunk: Buffer) => {
      if (direction === 'up' && head.text.length < 64 * 1024) {
        head.text += chunk.subarray(0, 64 * 1024 - head.text.length).toString('latin1');
        heads[at] = head.text;
      }
      // Held: read (so the ends of both sides are still seen) and dropped, as by a node that froze.
      if (holding[direction]) return;
      moved[direction] += chunk.length;
      to.write(chunk);
      if (hold && hold.direction === direction && moved[direction] >= hold.after) {
        holding[direction] = true;
        const { reached } = hold;
        hold = undefined;
        reached();
      }
    };
    client.on('data', pass('up', upstream));
    upstream.on('data', pass('down', client));
    client.on('end', () => upstream.end());
    upstream.on('end', () => client.end());
    client.on('error', () => upstream.destroy());
    upstream.on('error', () => client.destroy());
    client.on('close', () => {
      open.delete(client);
      upstream.destroy();
    });
    upstream.on('close', () => {
      open.delete(upstream);
      client.destroy();
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const address = server.address();
  return {
    url: `http://127.0.0.1:${typeof address === 'object' && address ? address.port : 0}`,
    /** Stops that direction once `bytes` more went that way (0: at once); resolves when it does. */
    holdAfter: (bytes: number, direction: Direction): Promise<void> =>
      new Promise<void>((reached) => {
        if (bytes <= 0) {
          holding[direction] = true;
          return reached();
        }
        hold = { after: moved[direction] + bytes, direction, reached };
      }),
    /** Lets that direction pass again (what was held meanwhile is gone). */
    release: (direction: Direction): void => {
      holding[direction] = false;
    },
    setDown: (value: boolean) => {
      refusing = value;
    },
    cutAll: () => {
      for (const socket of open) socket.resetAndDestroy();
    },
    /** What clients sent on each connection (its first 64 KiB, as latin1 text), in the order they connected. */
    sent: (): readonly string[] => [...heads],
    get connections() {
      return connections;
    },
    get moved(): Readonly<Record<Direction, number>> {
      return { ...moved };
    },
    close: () => {
      for (const socket of open) socket.destroy();
      return new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
};

export type NodeProxy = Awaited<ReturnType<typeof nodeProxy>>;

/** Waits until `check` holds, polling every 10 ms, or fails after `timeoutMs`. */
export const until = async (check: () => boolean, timeoutMs = 10_000, what = 'the condition'): Promise<void> => {
  const deadline = Date.now() + timeoutMs;
  while (!check()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
};

/** One request the client's `fetch` made, and what came of it. */
export interface Exchange {
  readonly origin: string;
  readonly method: string;
  readonly path: string;
  /** The query, with its `?` (`''` for none). */
  readonly search: string;
  /** The body, when it was text (a JSON request). */
  readonly body?: string;
  readonly headers: Headers;
  status?: number;
  answer?: Headers;
  failed?: boolean;
  /** For an event stream: the `id:` of each event it delivered. */
  readonly ids: string[];
}

/**
 * Node's `fetch` of the transport (`node-fetch.ts`), recording each request (and the event IDs of each
 * event stream) in `log`.
 */
export const recordingFetch =
  (log: Exchange[]): typeof globalThis.fetch =>
  async (input, init = {}) => {
    const url = new URL(String(input));
    const exchange: Exchange = {
      origin: url.origin,
      method: init.method ?? 'GET',
      path: url.pathname,
      search: url.search,
      ...(typeof init.body === 'string' ? { body: init.body } : {}),
      headers: new Headers(init.headers),
      ids: [],
    };
    log.push(exchange);
    let response: Response;
    try {
      response = await nodeFetch(String(input), init);
    } catch (error) {
      exchange.failed = true;
      throw error;
    }
    exchange.status = response.status;
    exchange.answer = response.headers;
    if (!exchange.headers.get('Accept')?.includes('text/event-stream') || !response.body) return response;
    // An event stream: one branch for the transport, the other read here for its event IDs.
    const [mine, theirs] = response.body.tee();
    void (async () => {
      const reader = theirs.pipeThrough(new TextDecoderStream()).getReader();
      try {
        for (;;) {
          const { done, value } = await reader.read();
          if (done) return;
          for (const match of value.matchAll(/^id: ?(\S+)$/gm)) exchange.ids.push(match[1] as string);
        }
      } catch {
        // The stream was cut: what it said before is recorded.
      }
    })();
    return new Response(mine, { status: response.status, headers: response.headers });
  };

/** One socket the client opened: its URL, the frames it sent (data frames as their place), the control frames it got. */
export interface SocketLog {
  readonly url: string;
  readonly sent: (ClientFrame | { readonly type: 'data'; readonly transfer: number; readonly offset: number; readonly length: number })[];
  readonly received: ServerFrame[];
  /** Bytes of data frames received, per transfer ID. */
  readonly data: Map<number, number>;
}

/** `ws`'s WebSocket as the transport uses it (no compression), recording each socket in `log`. */
export const recordingWebSocket = (log: SocketLog[]): WebSocketConstructor =>
  class extends WsSocket {
    readonly #entry: SocketLog;
    constructor(url: string) {
      super(url, undefined, { perMessageDeflate: false });
      const entry: SocketLog = { url, sent: [], received: [], data: new Map() };
      this.#entry = entry;
      log.push(entry);
      this.addEventListener('message', ({ data }) => {
        if (typeof data === 'string') {
          for (const frame of decodeServerFrames(data)) if (E.isRight(frame)) entry.received.push(frame.right);
          return;
        }
        const frame = decodeData(new Uint8Array(data as ArrayBuffer), WS_LARGE_CHUNK_SIZE);
        if (E.isRight(frame)) entry.data.set(frame.right.transfer, (entry.data.get(frame.right.transfer) ?? 0) + frame.right.chunk.length);
      });
    }
    override send(data: string | Uint8Array<ArrayBuffer>): void {
      if (typeof data === 'string') {
        for (const frame of decodeClientFrames(data)) if (E.isRight(frame)) this.#entry.sent.push(frame.right);
      } else {
        const frame = decodeData(data, WS_LARGE_CHUNK_SIZE);
        if (E.isRight(frame)) this.#entry.sent.push({ type: 'data', transfer: frame.right.transfer, offset: frame.right.offset, length: frame.right.chunk.length });
      }
      super.send(data);
    }
  } as unknown as WebSocketConstructor;

/** The calls a socket sent with operation `op`. */
export const callsOf = (socket: SocketLog, op: string): (ClientFrame & { readonly type: 'call' })[] =>
  socket.sent.filter((frame): frame is ClientFrame & { type: 'call' } => frame.type === 'call' && (frame as { op?: unknown }).op === op);

/** What {@link failoverScope} gives a spec: servers, proxies and clients, all closed after each case. */
export interface FailoverScope {
  /** Two nodes sharing one state (see {@link twoNodes}). */
  twoNodes(options?: Omit<ServerOptions, 'shared' | 'secret'>): Promise<TwoNodes>;
  /** A proxy in front of `url` that a spec can freeze or cut. */
  proxy(url: string): Promise<NodeProxy>;
  /** A client on `transport`, logged in as `userId`, with quick retries. */
  client(userId: string, transport: Transport, token: string): Promise<Client>;
}

/** Registers the clean-up of every failover spec (clients logged out, proxies and nodes closed) and returns the makers. */
export const failoverScope = (): FailoverScope => {
  const nodes: TwoNodes[] = [];
  const proxies: NodeProxy[] = [];
  const clients: Client[] = [];
  afterEach(async () => {
    await Promise.allSettled(clients.splice(0).map((c) => c.logout()));
    await Promise.allSettled(proxies.splice(0).map((p) => p.close()));
    await Promise.allSettled(nodes.splice(0).map((n) => n.close()));
  });
  return {
    async twoNodes(options) {
      const made = await twoNodes(options);
      nodes.push(made);
      return made;
    },
    async proxy(url) {
      const made = await nodeProxy(url);
      proxies.push(made);
      return made;
    },
    async client(userId, transport, token) {
      const made = createClient({ transport, retryDelays: [0, 50], requestTimeoutMs: 5_000 });
      await made.login({ userId, token });
      clients.push(made);
      return made;
    },
  };
};
