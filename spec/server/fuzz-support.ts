/**
 * What the fuzz specs share: the server under attack in a child process (restarted when a generated input
 * kills it, so each run is judged on its own and fast-check can shrink a crash), tokens minted with its
 * secret, hostile JSON values described as small data (so a counterexample prints in a line and shrinks
 * well) and turned into text only when sent, a raw HTTP/1.1 exchange over `node:net`, and the record
 * of violations each run is judged by.
 *
 * `FUZZ_EXPLORE=1` turns a fuzz spec into a survey: every run is judged, nothing throws, and the first and
 * the smallest input of each distinct failure class are printed at the end. Without it, the first
 * violation fails the run and fast-check shrinks it.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { connect } from 'node:net';
import { utf8 } from '../../src/core/bytes.js';
import { signToken } from '../../src/hub/tokens.js';

const entry = new URL('./fuzz-server-child.ts', import.meta.url).pathname;

/** The HMAC secret of the child server: the spec mints its own tokens with it. */
export const SECRET = 'fuzz-secret-20261126';

const HOUR = 3_600_000;

/** A token of the child server for `userId` (valid an hour, or already expired). */
export const tokenFor = (userId: string, expired = false): string =>
  signToken(utf8(SECRET), { userId, expiresAt: Date.now() + (expired ? -HOUR : HOUR) });

/** A well-signed token of another server. */
export const foreignToken = (userId: string): string => signToken(utf8('another-secret'), { userId, expiresAt: Date.now() + HOUR });

// ---- the child server ------------------------------------------------------------------------------

/** How a child server ended. */
export interface Exit {
  readonly code: number | null;
  readonly signal: NodeJS.Signals | null;
}

/** One server process: its URLs, its output, and its exit once it happened. */
export interface Child {
  readonly url: string;
  readonly wsUrl: string;
  readonly process: ChildProcess;
  /** Set once the process exited. */
  exit: Exit | undefined;
  /** Resolves when the process exits. */
  readonly exited: Promise<Exit>;
  /** stderr since the start. */
  stderr: string;
  /** stdout after the line with the URLs: the server's JSON log lines. */
  stdout: string;
}

/** Starts a child server and resolves once it printed its URLs. */
const launch = (): Promise<Child> =>
  new Promise((resolve, reject) => {
    const proc = spawn(process.execPath, ['--import', 'tsx', entry, SECRET], { stdio: ['ignore', 'pipe', 'pipe'] });
    let started: Child | undefined;
    let out = '';
    let err = '';
    let resolveExit: (exit: Exit) => void = () => undefined;
    const exited = new Promise<Exit>((r) => (resolveExit = r));
    const timer = setTimeout(() => {
      proc.kill('SIGKILL');
      reject(new Error(`the fuzz server did not start within 20 s:\n${out}\n${err}`));
    }, 20_000);
    proc.stdout.setEncoding('utf8');
    proc.stderr.setEncoding('utf8');
    proc.stdout.on('data', (chunk: string) => {
      if (started) {
        started.stdout += chunk;
        return;
      }
      out += chunk;
      const lines = out.split('\n');
      const at = lines.findIndex((line) => line.startsWith('{"fuzzServer":'));
      if (at < 0) return;
      clearTimeout(timer);
      const { url, wsUrl } = (JSON.parse(lines[at] as string) as { fuzzServer: { url: string; wsUrl: string } }).fuzzServer;
      started = { url, wsUrl, process: proc, exit: undefined, exited, stderr: err, stdout: lines.slice(at + 1).join('\n') };
      resolve(started);
    });
    proc.stderr.on('data', (chunk: string) => {
      if (started) started.stderr += chunk;
      else err += chunk;
    });
    proc.on('exit', (code, signal) => {
      clearTimeout(timer);
      const exit = { code, signal };
      if (started) started.exit = exit;
      else reject(new Error(`the fuzz server exited (${String(code ?? signal)}) before listening:\n${out}\n${err}`));
      resolveExit(exit);
    });
  });

/** The server under attack, started again whenever a run killed it; `restarts` counts those crashes. */
export interface Target {
  /** The running server, started (again) if needed. */
  up(): Promise<Child>;
  /** The server of the current run, if any. */
  readonly current: Child | undefined;
  /** How many times the server had to be started again after it died. */
  readonly restarts: number;
  stop(): Promise<void>;
}

export const target = (): Target => {
  let current: Child | undefined;
  let restarts = 0;
  return {
    get current() {
      return current;
    },
    get restarts() {
      return restarts;
    },
    async up() {
      if (current && current.exit === undefined) return current;
      if (current) restarts++;
      current = await launch();
      return current;
    },
    async stop() {
      const child = current;
      current = undefined;
      if (!child || child.exit) return;
      child.process.kill('SIGTERM');
      const killer = setTimeout(() => child.process.kill('SIGKILL'), 5_000);
      await child.exited;
      clearTimeout(killer);
    },
  };
};

/** Whether `child` exits within `ms` (a crash is often reported just after the socket died). */
export const exitsWithin = async (child: Child, ms: number): Promise<Exit | undefined> =>
  child.exit ?? (await Promise.race([child.exited, new Promise<undefined>((r) => setTimeout(() => r(undefined), ms))]));

/** Where a child's output stood, so a run can tell what the server logged meanwhile. */
export interface Mark {
  readonly stdout: number;
  readonly stderr: number;
}

export const mark = (child: Child): Mark => ({ stdout: child.stdout.length, stderr: child.stderr.length });

/**
 * Faults the server logged since `since`: anything on stderr, and log lines at `error` or above (pino
 * levels: 50 error, 60 fatal) on stdout.
 */
export const faultsLogged = (child: Child, since: Mark): string => {
  const errors = child.stdout
    .slice(since.stdout)
    .split('\n')
    .filter((line) => {
      try {
        const level = (JSON.parse(line) as { level?: unknown }).level;
        return typeof level === 'number' && level >= 50;
      } catch {
        return false;
      }
    });
  return [...errors, child.stderr.slice(since.stderr)].join('\n').trim();
};

/** The error a crashed child printed (its first `…Error: message` line), to tell crashes apart. */
export const crashCause = (child: Child): string => /^\w*Error: .*$/m.exec(child.stderr)?.[0].slice(0, 80) ?? 'no error printed';

/** The last `chars` characters of a text, for a failure message. */
export const tail = (text: string, chars = 600): string => (text.length <= chars ? text : `…${text.slice(-chars)}`);

// ---- hostile JSON, described as data ------------------------------------------------------------------

/**
 * A JSON value described in a few fields, turned into text by {@link jsonOf}: counterexamples print
 * compactly ("nest 5000") and shrink by depth or length rather than character by character.
 */
export type Hostile =
  | { readonly nest: number; readonly of?: 'array' | 'object' }
  | { readonly repeat: string; readonly times: number }
  | { readonly text: string }
  | { readonly json: unknown };

/** The JSON text of a hostile value. Never recurses, so any depth is fine. */
export const jsonOf = (h: Hostile): string => {
  if ('nest' in h) return h.of === 'object' ? `${'{"a":'.repeat(h.nest)}1${'}'.repeat(h.nest)}` : `${'['.repeat(h.nest)}${']'.repeat(h.nest)}`;
  if ('repeat' in h) return JSON.stringify(h.repeat.repeat(h.times));
  if ('text' in h) return h.text;
  return JSON.stringify(h.json) ?? 'null';
};

/** A short description of a hostile value for a failure message. */
export const describeHostile = (h: Hostile): string => {
  if ('nest' in h) return h.of === 'object' ? `{"a":…×${h.nest}}` : `[…×${h.nest}]`;
  if ('repeat' in h) return `${JSON.stringify(h.repeat)}×${h.times}`;
  if ('text' in h) return clip(h.text);
  return clip(JSON.stringify(h.json) ?? 'undefined');
};

/** A text cut to `max` characters, with long runs of one character written as `x×N`. */
export const clip = (text: string, max = 200): string => {
  const runs = text.replace(/(.)\1{15,}/gsu, (run, ch: string) => `${ch}×${run.length / ch.length}`);
  return runs.length <= max ? runs : `${runs.slice(0, max)}…(${text.length} chars)`;
};

// ---- raw HTTP/1.1 ---------------------------------------------------------------------------------------

/** What came back for one request written on its own connection. */
export type HttpOutcome =
  | { readonly kind: 'answer'; readonly status: number; readonly headers: Readonly<Record<string, string>>; readonly body: Buffer }
  /**
   * The connection ended before a whole answer arrived; `reset` if it was reset rather than closed, which
   * can lose an early answer to a large request (see {@link exchange}).
   */
  | { readonly kind: 'closed'; readonly received: string; readonly reset: boolean }
  /** Nothing complete within the time limit. */
  | { readonly kind: 'timeout'; readonly received: string };

const headEnd = (buffer: Buffer): number => buffer.indexOf('\r\n\r\n');

/** Parses a response from the bytes so far: undefined while incomplete. Skips 1xx answers. */
const parseResponse = (buffer: Buffer, isHead: boolean, ended: boolean): HttpOutcome | undefined => {
  let start = 0;
  for (;;) {
    const rest = buffer.subarray(start);
    const end = headEnd(rest);
    if (end < 0) return undefined;
    const lines = rest.subarray(0, end).toString('latin1').split('\r\n');
    const status = Number(/^HTTP\/1\.[01] (\d{3})/.exec(lines[0] ?? '')?.[1] ?? NaN);
    const headers: Record<string, string> = {};
    for (const line of lines.slice(1)) {
      const colon = line.indexOf(':');
      if (colon > 0) headers[line.slice(0, colon).trim().toLowerCase()] = line.slice(colon + 1).trim();
    }
    const body = rest.subarray(end + 4);
    if (status >= 100 && status < 200) {
      start += end + 4;
      continue;
    }
    const answer = (b: Buffer): HttpOutcome => ({ kind: 'answer', status, headers, body: b });
    if (isHead || status === 204 || status === 304) return answer(Buffer.alloc(0));
    // An event stream never ends: its status and headers are the answer.
    if (headers['content-type']?.startsWith('text/event-stream')) return answer(Buffer.alloc(0));
    const length = headers['content-length'];
    if (length !== undefined) return body.length >= Number(length) ? answer(body.subarray(0, Number(length))) : undefined;
    if (headers['transfer-encoding']?.toLowerCase() === 'chunked') {
      return /(^|\r\n)0\r\n(.*\r\n)*\r\n/.test(body.toString('latin1')) || ended ? answer(body) : undefined;
    }
    return ended ? answer(body) : undefined;
  }
};

/**
 * Writes `request` on a new connection to `url`'s host and reads one response, within `timeoutMs`.
 * The socket is always destroyed afterwards.
 *
 * A server that answers early (401, 405, 413) and closes with a large body still unread makes its kernel
 * reset the connection, and the reset can discard the answer before it is read here: Node's server has
 * no lingering close. Such an outcome is `closed` with `reset`.
 */
export const exchange = (url: string, request: Buffer, options: { readonly isHead: boolean; readonly timeoutMs: number }): Promise<HttpOutcome> =>
  new Promise((resolve) => {
    const { hostname, port } = new URL(url);
    const socket = connect({ host: hostname, port: Number(port) });
    let received = Buffer.alloc(0);
    let done = false;
    let reset = false;
    const finish = (outcome: HttpOutcome): void => {
      if (done) return;
      done = true;
      clearTimeout(timer);
      socket.destroy();
      resolve(outcome);
    };
    const timer = setTimeout(() => finish({ kind: 'timeout', received: clip(received.toString('latin1'), 300) }), options.timeoutMs);
    socket.on('connect', () => socket.write(request));
    socket.on('data', (chunk: Buffer) => {
      received = Buffer.concat([received, chunk]);
      const parsed = parseResponse(received, options.isHead, false);
      if (parsed) finish(parsed);
    });
    const ended = (): void =>
      finish(parseResponse(received, options.isHead, true) ?? { kind: 'closed', received: clip(received.toString('latin1'), 300), reset });
    socket.on('end', ended);
    socket.on('close', ended);
    // A reset after the server answered and closed (it had unread request bytes) still counts as its answer.
    socket.on('error', () => {
      reset = true;
      ended();
    });
  });

// ---- violations ---------------------------------------------------------------------------------------

/** One thing a run got wrong: `kind` names its class (runs are grouped by it), `detail` the specifics. */
export interface Violation {
  readonly kind: string;
  readonly detail: string;
}

/** Thrown by a run that found violations: its message is the repro fast-check prints after shrinking. */
export class FuzzFailure extends Error {
  override readonly name = 'FuzzFailure';
  constructor(
    readonly violations: readonly Violation[],
    readonly repro: string,
  ) {
    super(`${violations.map((v) => `${v.kind}: ${v.detail}`).join('\n')}\nrepro: ${repro}`);
  }
}

/** Whether the survey mode is on (`FUZZ_EXPLORE=1`). */
export const exploring = process.env['FUZZ_EXPLORE'] === '1';

/** The survey of failure classes of one spec file: the first and the shortest repro of each. */
export interface Survey {
  /** Records a run's violations; throws a {@link FuzzFailure} unless exploring. */
  judge(violations: readonly Violation[], repro: string): void;
  /** The classes found, one line each (empty when none). */
  report(): string;
}

export const survey = (): Survey => {
  const classes = new Map<string, { count: number; detail: string; repro: string }>();
  return {
    judge(violations, repro) {
      if (violations.length === 0) return;
      for (const v of violations) {
        const seen = classes.get(v.kind);
        if (!seen) classes.set(v.kind, { count: 1, detail: v.detail, repro });
        else {
          seen.count++;
          if (repro.length < seen.repro.length) Object.assign(seen, { detail: v.detail, repro });
        }
      }
      if (!exploring) throw new FuzzFailure(violations, repro);
    },
    report: () =>
      [...classes.entries()].map(([kind, { count, detail, repro }]) => `- ${kind} (${count} runs): ${clip(detail, 300)}\n    repro: ${repro}`).join('\n'),
  };
};
