/**
 * What the server memory specs (`memory-*.spec.ts`) and the benchmark `bench/server-memory.ts` share:
 * the real server in a child process that reports its RSS (`memory-server-child.ts`), and raw clients
 * over real sockets — HTTP logins and message floods with a keep-alive agent, an event stream read by a
 * `node:net` socket that stops reading, and WebSocket sessions on raw `ws` sockets. Raw rather than
 * ferry's transports so that nothing on the client side reconnects, resumes or reads on its own.
 * @module
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { Agent, request } from 'node:http';
import { connect, type Socket } from 'node:net';
import { createInterface, type Interface } from 'node:readline';
import { WebSocket } from 'ws';
import { utf8 } from '../../src/core/bytes.js';
import { signToken } from '../../src/hub/tokens.js';
import type { MemoryReading, MemoryServerOptions } from './memory-server-child.js';

export type { MemoryReading } from './memory-server-child.js';

const entry = new URL('./memory-server-child.ts', import.meta.url).pathname;
const root = new URL('../..', import.meta.url).pathname;

/** The HMAC secret of the child servers: clients mint their own tokens with it. */
export const SECRET = 'memory-secret-20261126';

/** A token of the child server for `userId`, valid an hour. */
export const tokenFor = (userId: string): string => signToken(utf8(SECRET), { userId, expiresAt: Date.now() + 3_600_000 });

export const MiB = 1024 * 1024;
export const KiB = 1024;

/** A server in a child process, and its memory on request. */
export interface MemoryServer {
  readonly url: string;
  readonly wsUrl: string;
  /** Full GCs in the server, then its RSS now is the baseline its peak is measured from. */
  mark(): Promise<MemoryReading>;
  /** The server's peak RSS since `mark`, and its RSS after full GCs. */
  measure(): Promise<MemoryReading>;
  /** The value of one sample of `/metrics`, e.g. `ferry_refusals_total{limit="slowReader"}`; 0 if absent. */
  metric(sample: string): Promise<number>;
  /** Ends the child (its stdin) and waits for it to exit; killed after 5 s. */
  stop(): Promise<void>;
}

/**
 * Node flags of the measured server. The young generation starts at its full size (16 MiB semi-spaces,
 * V8's maximum here and what a busy server grows to anyway): otherwise V8 grows it during the first
 * flood and that growth, up to ~32 MiB of RSS that no GC gives back, is measured as if the server held it.
 */
export const MEASURED_NODE_ARGS = ['--expose-gc', '--min-semi-space-size=16'] as const;

/**
 * The messages of the floods: 30 KiB of text, near the 32 KiB a message may have, so each event
 * frame is about 30 KiB and the byte bounds, not the count bounds, are what holds them.
 */
export const BIG_TEXT = 'x'.repeat(30 * 1024);

/** Limits that let a flood through: no message or login rate (each spec states any other limit it sets). */
export const FLOOD_LIMITS = { messageRate: { limit: Infinity, windowMs: 3_000 }, loginRate: { limit: Infinity, windowMs: 1_000 } } as const;

/** Starts `memory-server-child.ts` (with {@link MEASURED_NODE_ARGS}) and resolves once it listens. */
export const startMemoryServer = async (options: Omit<MemoryServerOptions, 'secret'> = {}): Promise<MemoryServer> => {
  const json = JSON.stringify({ ...options, secret: SECRET }, (_key, value: unknown) => (value === Infinity ? 'Infinity' : value));
  const child: ChildProcess = spawn(process.execPath, [...MEASURED_NODE_ARGS, '--import', 'tsx', entry, json], { cwd: root, stdio: ['pipe', 'pipe', 'pipe'] });
  let stderr = '';
  child.stderr?.setEncoding('utf8').on('data', (text: string) => (stderr += text));
  const exited = new Promise<void>((done) => child.once('exit', () => done()));
  const lines: Interface = createInterface({ input: child.stdout as NodeJS.ReadableStream });
  const waiting: ((line: string) => void)[] = [];
  const queued: string[] = [];
  lines.on('line', (line) => {
    const next = waiting.shift();
    if (next) next(line);
    else queued.push(line);
  });
  const nextLine = (what: string, ms = 30_000): Promise<string> => {
    const ready = queued.shift();
    if (ready !== undefined) return Promise.resolve(ready);
    return new Promise<string>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`the memory server did not answer ${what} within ${ms} ms:\n${stderr}`)), ms);
      const gone = (): void => {
        clearTimeout(timer);
        reject(new Error(`the memory server exited before answering ${what}:\n${stderr}`));
      };
      child.once('exit', gone);
      waiting.push((line) => {
        clearTimeout(timer);
        child.off('exit', gone);
        resolve(line);
      });
    });
  };
  const started = JSON.parse(await nextLine('its start')) as { memoryServer?: { url: string; wsUrl: string } };
  if (!started.memoryServer) throw new Error(`the memory server printed ${JSON.stringify(started)} first`);
  const { url, wsUrl } = started.memoryServer;
  const ask = async (command: 'mark' | 'measure'): Promise<MemoryReading> => {
    child.stdin?.write(`${command}\n`);
    return JSON.parse(await nextLine(command)) as MemoryReading;
  };
  return {
    url,
    wsUrl,
    mark: () => ask('mark'),
    measure: () => ask('measure'),
    async metric(sample) {
      const text = await (await fetch(`${url}/metrics`)).text();
      const line = text.split('\n').find((l) => l.startsWith(`${sample} `));
      return line === undefined ? 0 : Number(line.slice(sample.length + 1));
    },
    async stop() {
      if (child.exitCode !== null || child.signalCode !== null) return;
      child.stdin?.end();
      const killer = setTimeout(() => child.kill('SIGKILL'), 5_000);
      await exited;
      clearTimeout(killer);
    },
  };
};

// ---- HTTP clients ------------------------------------------------------------------------------------

/** A session logged in over HTTP. */
export interface HttpSession {
  readonly userId: string;
  readonly token: string;
  readonly sessionId: string;
}

interface Answer {
  readonly status: number;
  readonly body: string;
}

/** One HTTP exchange with a small body; the answer read whole. */
const exchange = (url: string, method: string, headers: Record<string, string>, body: string | undefined, agent: Agent | undefined): Promise<Answer> =>
  new Promise<Answer>((resolve, reject) => {
    const req = request(url, { method, headers: { ...headers, ...(body === undefined ? {} : { 'Content-Length': String(Buffer.byteLength(body)) }) }, ...(agent ? { agent } : {}) }, (res) => {
      let text = '';
      res.setEncoding('utf8');
      res.on('data', (chunk: string) => (text += chunk));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body: text }));
      res.on('error', reject);
    });
    req.on('error', reject);
    req.end(body);
  });

/** Logs `userId` in over HTTP (`POST /v1/sessions`). */
export const httpLogin = async (url: string, userId: string, agent?: Agent): Promise<HttpSession> => {
  const token = tokenFor(userId);
  const answer = await exchange(`${url}/v1/sessions`, 'POST', { Authorization: `Bearer ${token}`, 'Content-Type': 'application/json' }, JSON.stringify({ userId }), agent);
  if (answer.status !== 201) throw new Error(`login of ${userId}: ${answer.status} ${answer.body}`);
  return { userId, token, sessionId: (JSON.parse(answer.body) as { sessionId: string }).sessionId };
};

/** The status `GET /v1/sessions/<id>/events` answers (the stream, if any, is closed at once). */
export const eventsStatus = (url: string, session: HttpSession): Promise<number> =>
  new Promise<number>((resolve, reject) => {
    const req = request(`${url}/v1/sessions/${session.sessionId}/events`, { headers: { Authorization: `Bearer ${session.token}` }, agent: false }, (res) => {
      resolve(res.statusCode ?? 0);
      res.destroy();
    });
    req.on('error', reject);
    req.end();
  });

/**
 * What the server knows of an HTTP session: `kept` (its events replay, numbered), `forgotten` (the hub
 * ended it and the server forgot it since: its stream only says why, unnumbered, and ends), or `unknown`.
 */
export const sessionState = (url: string, session: HttpSession): Promise<'kept' | 'forgotten' | 'unknown'> =>
  new Promise((resolve, reject) => {
    const req = request(`${url}/v1/sessions/${session.sessionId}/events`, { headers: { Authorization: `Bearer ${session.token}` }, agent: false }, (res) => {
      if (res.statusCode !== 200) {
        res.destroy();
        return resolve('unknown');
      }
      let text = '';
      res.on('data', (chunk: Buffer) => {
        text += chunk.toString('utf8');
        if (/(^|\n)id: /.test(text)) {
          resolve('kept');
          res.destroy();
        }
      });
      res.on('end', () => resolve(/(^|\n)id: /.test(text) ? 'kept' : text.includes('event: aborted') ? 'forgotten' : 'unknown'));
      res.on('error', () => undefined);
    });
    req.on('error', reject);
    req.end();
  });

/**
 * Sends `count` TEXT messages of `text` from `from` to `peerId`, `inFlight` at a time over a keep-alive
 * agent; rejects on the first answer other than 200.
 */
export const floodPeer = async (url: string, from: HttpSession, peerId: string, count: number, text: string, inFlight = 8): Promise<void> => {
  const agent = new Agent({ keepAlive: true, maxSockets: inFlight });
  const body = JSON.stringify({ messageType: 'TEXT', text });
  const target = `${url}/v1/sessions/${from.sessionId}/peers/${encodeURIComponent(peerId)}/messages`;
  const headers = { Authorization: `Bearer ${from.token}`, 'Content-Type': 'application/json' };
  let next = 0;
  const lane = async (): Promise<void> => {
    while (next < count) {
      next++;
      const answer = await exchange(target, 'POST', headers, body, agent);
      if (answer.status !== 200) throw new Error(`message to ${peerId}: ${answer.status} ${answer.body}`);
    }
  };
  try {
    await Promise.all(Array.from({ length: inFlight }, lane));
  } finally {
    agent.destroy();
  }
};

/** An event stream on a raw socket that stopped reading once the stream had begun. */
export interface StalledStream {
  readonly socket: Socket;
  /**
   * Reads again and resolves once the server has ended the connection (FIN or reset), with the bytes read
   * after the stall began; rejects if it is still open after `ms`.
   */
  drainToEnd(ms: number): Promise<{ readonly bytes: number; readonly how: 'end' | 'reset' }>;
}

/**
 * Opens `GET /v1/sessions/<id>/events` on a raw `node:net` socket, reads until the stream's first line
 * (`retry: 1000`, so the server has attached it to the session), then pauses the socket for good: the
 * kernel buffers fill and the server's unsent bytes stay with it.
 */
export const stalledEventStream = (url: string, session: HttpSession): Promise<StalledStream> =>
  new Promise<StalledStream>((resolve, reject) => {
    const { hostname, port } = new URL(url);
    const socket = connect({ host: hostname, port: Number(port) });
    let head = '';
    let bytes = 0;
    let ended: { how: 'end' | 'reset' } | undefined;
    const settled: ((how: 'end' | 'reset') => void)[] = [];
    const finish = (how: 'end' | 'reset'): void => {
      if (ended) return;
      ended = { how };
      for (const done of settled.splice(0)) done(how);
    };
    socket.on('end', () => finish('end'));
    socket.on('error', (error: NodeJS.ErrnoException) => {
      if (head.includes('retry: 1000')) finish(error.code === 'ECONNRESET' ? 'reset' : 'end');
      else reject(error);
    });
    socket.on('close', () => finish('end'));
    const onHead = (chunk: Buffer): void => {
      head += chunk.toString('latin1');
      if (!head.includes('retry: 1000')) return;
      socket.pause();
      socket.off('data', onHead);
      socket.on('data', (more: Buffer) => (bytes += more.length));
      if (!head.startsWith('HTTP/1.1 200')) return reject(new Error(`events: ${head.split('\r\n')[0] ?? ''}`));
      resolve({
        socket,
        drainToEnd: (ms) =>
          new Promise((done, fail) => {
            const timer = setTimeout(() => fail(new Error(`the stalled stream was still open ${ms} ms after reading again (${bytes} bytes read)`)), ms);
            const settle = (how: 'end' | 'reset'): void => {
              clearTimeout(timer);
              done({ bytes, how });
            };
            if (ended) settle(ended.how);
            else settled.push(settle);
            socket.resume();
          }),
      });
    };
    socket.on('data', onHead);
    socket.write(`GET /v1/sessions/${session.sessionId}/events HTTP/1.1\r\nHost: ${hostname}:${port}\r\nAuthorization: Bearer ${session.token}\r\nAccept: text/event-stream\r\n\r\n`);
  });

/**
 * Reads a session's event stream until `count` events of `type` arrived (a consumer that keeps up), then
 * closes it. Resolves with the number of bytes read.
 */
export const readEvents = (url: string, session: HttpSession, type: string, count: number): { readonly ready: Promise<void>; readonly done: Promise<number> } => {
  let ready: () => void = () => undefined;
  const isReady = new Promise<void>((r) => (ready = r));
  const done = new Promise<number>((resolve, reject) => {
    const req = request(`${url}/v1/sessions/${session.sessionId}/events`, { headers: { Authorization: `Bearer ${session.token}` }, agent: false }, (res) => {
      if (res.statusCode !== 200) return reject(new Error(`events: ${String(res.statusCode)}`));
      ready();
      const marker = `event: ${type}\n`;
      let seen = 0;
      let bytes = 0;
      let carry = '';
      res.setEncoding('utf8');
      res.on('data', (chunk: string) => {
        bytes += chunk.length;
        const text = carry + chunk;
        for (let at = text.indexOf(marker); at >= 0; at = text.indexOf(marker, at + 1)) seen++;
        carry = text.slice(-marker.length);
        if (seen >= count) {
          res.destroy();
          resolve(bytes);
        }
      });
      res.on('error', reject);
    });
    req.on('error', reject);
    req.end();
  });
  return { ready: isReady, done };
};

// ---- WebSocket clients -------------------------------------------------------------------------------

/** A raw WebSocket logged in with `hello`. */
export interface WsLogin {
  readonly ws: WebSocket;
  readonly sessionId: string;
  /** Events received (their `seq`), when the socket is left to read. */
  readonly seqs: number[];
  /** The last call ID used: IDs never repeat on a session, since the server answers a repeated one from its kept answers without running it. */
  lastCallId: number;
}

/** Opens a raw socket to `wsUrl` and logs `userId` in (or resumes `resume`); resolves at `welcome`. */
export const wsLogin = (wsUrl: string, userId: string, resume?: { readonly sessionId: string; readonly lastSeq: number }): Promise<WsLogin & { readonly resumed: boolean }> =>
  new Promise((resolve, reject) => {
    const ws = new WebSocket(wsUrl, { perMessageDeflate: false });
    const seqs: number[] = [];
    ws.on('error', reject);
    ws.on('open', () => ws.send(JSON.stringify({ type: 'hello', version: 1, userId, token: tokenFor(userId), ...(resume ? { resume } : {}) })));
    ws.on('message', (data, isBinary) => {
      if (isBinary) return;
      type Frame = { type: string; sessionId?: string; resumed?: boolean; seq?: number };
      const parsed = JSON.parse(String(data)) as Frame | Frame[];
      for (const frame of Array.isArray(parsed) ? parsed : [parsed]) {
        if (frame.type === 'welcome' && frame.sessionId !== undefined) resolve({ ws, sessionId: String(frame.sessionId), resumed: frame.resumed === true, seqs, lastCallId: 0 });
        else if (frame.type === 'event' && typeof frame.seq === 'number') seqs.push(frame.seq);
        else if (frame.type === 'error') reject(new Error(`hello of ${userId}: ${JSON.stringify(frame)}`));
      }
    });
  });

/**
 * Sends `count` TEXT messages of `text` to `peerId` on a logged-in raw socket, `inFlight` calls at a
 * time; rejects on the first error answer.
 */
export const wsFloodPeer = (login: WsLogin, peerId: string, count: number, text: string, inFlight = 16): Promise<void> =>
  new Promise<void>((resolve, reject) => {
    let sent = 0;
    let answered = 0;
    const send = (): void => {
      sent++;
      login.ws.send(JSON.stringify({ type: 'call', id: ++login.lastCallId, op: 'sendToPeer', peerId, message: { messageType: 'TEXT', text } }));
    };
    const onMessage = (data: unknown, isBinary: boolean): void => {
      if (isBinary) return;
      const parsed = JSON.parse(String(data)) as { type: string; id?: number } | { type: string; id?: number }[];
      for (const frame of Array.isArray(parsed) ? parsed : [parsed]) {
        if (frame.type === 'error') {
          login.ws.off('message', onMessage);
          return reject(new Error(`message to ${peerId}: ${JSON.stringify(frame).slice(0, 300)}`));
        }
        if (frame.type !== 'result') continue;
        answered++;
        if (answered === count) {
          login.ws.off('message', onMessage);
          return resolve();
        }
        if (sent < count) send();
      }
    };
    if (count === 0) return resolve();
    login.ws.on('message', onMessage);
    for (let i = 0; i < Math.min(inFlight, count); i++) send();
  });

/** Closes a raw socket and waits for the close. */
export const wsClose = (ws: WebSocket): Promise<void> =>
  new Promise<void>((resolve) => {
    if (ws.readyState === WebSocket.CLOSED) return resolve();
    ws.once('close', () => resolve());
    ws.close();
  });

// ---- measuring -----------------------------------------------------------------------------------------

/**
 * Sends `count` big messages to a user with no event stream (their replay is bounded), so the server's
 * JIT, socket buffers and allocator pools are at their steady state before a baseline is taken.
 */
export const warmUp = async (server: MemoryServer, count = 1_000): Promise<void> => {
  const sender = await wsLogin(server.wsUrl, 'warm-up-sender');
  await httpLogin(server.url, 'warm-up-receiver');
  await wsFloodPeer(sender, 'warm-up-receiver', count, BIG_TEXT);
  await wsClose(sender.ws);
};

/** Growth of the server's memory from a `mark` to a `measure`, in MiB. */
export interface Growth {
  /** Peak RSS over the baseline. */
  readonly peakRss: number;
  /** RSS after full GCs over the baseline. */
  readonly rss: number;
  /** V8 heap in use after full GCs over the baseline. */
  readonly heapUsed: number;
}

export const growth = (base: MemoryReading, end: MemoryReading): Growth => ({
  peakRss: (end.peakRss - base.rss) / MiB,
  rss: (end.rss - base.rss) / MiB,
  heapUsed: (end.heapUsed - base.heapUsed) / MiB,
});

/** Resolves with the time (`performance.now()`) at which `check` first held, polled every `everyMs`; rejects after `ms`. */
export const pollUntil = async (check: () => Promise<boolean>, ms: number, everyMs = 25): Promise<number> => {
  const started = performance.now();
  while (performance.now() - started < ms) {
    if (await check()) return performance.now();
    await new Promise((done) => setTimeout(done, everyMs));
  }
  throw new Error(`not within ${ms} ms`);
};
