/**
 * The server's structured logs: `pino` JSON lines, with what must never be written (tokens) redacted
 * wherever it appears, and the request ID every log line of a request or WebSocket call carries.
 *
 * What is logged is chosen field by field (method, path without its query, status, sizes, user ID);
 * headers and bodies are never handed to the logger, and the redaction is the second line of defence.
 * @module
 */
import { randomUUID } from 'node:crypto';
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Socket } from 'node:net';
import { hostname } from 'node:os';
import { type DestinationStream, type Logger, pino } from 'pino';
import { describeFailure } from '../core/failure.js';
import { failureAnswered } from './http-util.js';

/** The logger `startServer` takes: pino's, so an application passes the one it already has. */
export type { Logger } from 'pino';

/** Levels, most to least severe; `silent` writes nothing. */
export type LogLevel = 'fatal' | 'error' | 'warn' | 'info' | 'debug' | 'trace' | 'silent';

/** Every {@link LogLevel}, for checking command-line and environment values. */
export const LOG_LEVELS: readonly LogLevel[] = ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'];

/** Whether `value` names a {@link LogLevel}. */
export const isLogLevel = (value: unknown): value is LogLevel => typeof value === 'string' && (LOG_LEVELS as readonly string[]).includes(value);

/** Paths whose values are replaced by `[redacted]` in every line, however a caller built its object. */
const REDACTED = ['authorization', '*.authorization', '*.headers.authorization', 'headers.authorization', 'token', '*.token', 'secret', '*.secret'];

/** One destination on fd 1 for every logger of the process (specs start many servers). */
let stdout: DestinationStream | undefined;
const standardOutput = (): DestinationStream => (stdout ??= pino.destination({ dest: 1, sync: true }));

/** Options of {@link createLogger}. */
export interface CreateLoggerOptions {
  /** The lowest level written. Default: `info`. @example { level: 'debug' } */
  readonly level?: LogLevel;
  /** Where JSON lines go. Default: standard output, written synchronously. @example { destination: pino.destination('/var/log/ferry.log') } */
  readonly destination?: DestinationStream;
}

/**
 * A pino logger writing JSON lines, with tokens and secrets redacted.
 * @example
 * const logger = createLogger({ level: 'info' });
 * const server = await startServer({ logger });
 */
export const createLogger = (options: CreateLoggerOptions = {}): Logger => {
  const settings = {
    level: options.level ?? 'info',
    base: { service: 'ferry', pid: process.pid, hostname: hostname() },
    timestamp: pino.stdTimeFunctions.isoTime,
    redact: { paths: REDACTED, censor: '[redacted]' },
  };
  // Synchronous writes to stdout by default: lines keep their order and none is lost when the process
  // exits (after a drain, or on a crash); a few microseconds a line is nothing beside a request.
  return pino(settings, options.destination ?? standardOutput());
};

/** The longest incoming `X-Request-Id` kept. */
const MAX_REQUEST_ID = 64;
/** Characters an incoming request ID may have: safe in a header, a log line and a URL alike. */
const SAFE_ID = /^[A-Za-z0-9._:-]+$/;

/**
 * The ID of a request: the caller's `X-Request-Id` when it is 1 to 64 safe characters (letters, digits,
 * `.`, `_`, `:`, `-`), so a proxy's ID follows the request through; otherwise a new random UUID.
 * @example requestIdOf(req.headers['x-request-id']) // 'b1946ac9-…' or the caller's
 */
export const requestIdOf = (header: string | readonly string[] | undefined, generate: () => string = randomUUID): string =>
  typeof header === 'string' && header.length <= MAX_REQUEST_ID && SAFE_ID.test(header) ? header : generate();

/** The path of a request URL without its query (which may hold anything a client put there). */
export const pathOf = (url: string | undefined): string => {
  const path = (url ?? '/').split('?')[0] ?? '/';
  return path.length > 256 ? `${path.slice(0, 256)}…` : path;
};

/** Bytes a connection had read and written when its latest request closed (keep-alive serves several). */
const counted = new WeakMap<Socket, { readonly read: number; readonly written: number }>();

/**
 * Starts the log of one HTTP request: gives it its ID (echoed in `X-Request-Id`) and writes one line when
 * its response closes, at `level` (or `error` for a server fault, `warn` for a full disk): method, path
 * without the query, status (none if nothing was answered), duration, bytes read and written on the connection for it (headers
 * included), `aborted` if the response did not finish, and the failure's tag if it answered one.
 * Returns the request's child logger, whose lines carry the same `reqId`.
 * @example const reqLog = logRequest(logger, req, res); // {"reqId":"…","method":"PATCH","path":"/v1/uploads/…","status":204,…}
 */
export const logRequest = (logger: Logger, req: IncomingMessage, res: ServerResponse, level: 'info' | 'debug' = 'info'): Logger => {
  const reqId = requestIdOf(req.headers['x-request-id']);
  res.setHeader('X-Request-Id', reqId);
  const log = logger.child({ reqId });
  const startedAt = performance.now();
  const { socket } = req;
  // Counted from the end of the connection's previous request, so this request's head is included.
  const { read, written } = counted.get(socket) ?? { read: 0, written: 0 };
  res.once('close', () => {
    counted.set(socket, { read: socket.bytesRead, written: socket.bytesWritten });
    const failure = failureAnswered(res);
    const line = {
      method: req.method,
      path: pathOf(req.url),
      // Nothing was answered if the headers never went: Node's default 200 would be a lie.
      ...(res.headersSent ? { status: res.statusCode } : {}),
      ms: Math.round((performance.now() - startedAt) * 10) / 10,
      bytesIn: socket.bytesRead - read,
      bytesOut: socket.bytesWritten - written,
      ...(res.writableFinished ? {} : { aborted: true }),
      ...(failure ? { failure: failure._tag } : {}),
    };
    // The client going away or the server closing answers 503 `Interrupted`: not a fault.
    if (failure?._tag === 'InsufficientStorage') log.warn({ ...line, detail: describeFailure(failure) }, 'request refused: out of space');
    else if (failure && res.statusCode >= 500 && failure._tag !== 'Interrupted') log.error({ ...line, detail: describeFailure(failure) }, 'request failed');
    else log[level](line, 'request');
  });
  return log;
};
