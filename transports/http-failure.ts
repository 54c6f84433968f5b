/**
 * What an HTTP answer means in the transport's failure contract, for both halves of the HTTP transport
 * (media in `http-media.ts`, messaging in `http-request.ts`):
 * - a refusal by one of ferry's limits (its JSON body says `TooOften`, `LimitExceeded`, `QuotaExceeded`,
 *   `InsufficientStorage` or `Rejected`) is final, whatever its status (429, 507);
 * - otherwise the status alone decides the transient cases, whatever the body says, so a proxy's 502 page
 *   and our own 503 mean the same: 5xx, 408 and 429 are `Network` (after honouring a bounded `Retry-After`);
 * - otherwise the server's own failure (its JSON body, or the `Ferry-Failure` header of a HEAD) wins;
 * - otherwise the status says it: 409/423 `Conflict` (a stock tus server's offset mismatch or lock),
 *   404/410 `NotExist`, 413 `SizeOverflow`, 401 `InvalidToken`, 400 `InvalidArgument`, else `Unknown`.
 * @module
 */
import { abortable, abortFault } from '../src/core/abort.js';
import { type Clock, systemClock } from '../src/core/clock.js';
import { MAX_RETRY_AFTER_MS } from '../machines/retry.js';
import { decodeFailure } from '../src/protocol/codec.js';
import { Failure } from '../src/core/failure.js';
import { MAX_FILE_SIZE } from '../src/core/limits.js';
import { FAILURE_HEADER } from '../src/protocol/http-wire.js';
import { pause } from './pause.js';

/** What a request was, to name it in failures. */
export interface Subject {
  readonly method: string;
  /** e.g. `upload Xyz…` or `media Xyz…`, for `NotExist`. */
  readonly what: string;
  /** The declared size, for `SizeOverflow` when the server did not say. */
  readonly size?: number;
  /** The caller's signal: reading the error body and waiting for `Retry-After` stop when it aborts. */
  readonly signal: AbortSignal | undefined;
  /** The clock the `Retry-After` wait runs on (the transport's). Default: the system clock. */
  readonly clock?: Clock;
}

/**
 * For promises nobody awaits whose failure changes nothing: cancelling a stream that already failed,
 * best-effort cleanup after an abort. Named, so each use says why it may drop the error.
 */
export const ignore = (): void => undefined;

/** One line about whatever `fetch` threw: undici puts the socket error in `cause`. */
export const describeError = (error: unknown): string => {
  const message = error instanceof Error ? error.message : String(error);
  const cause = error instanceof Error && error.cause instanceof Error ? `: ${error.cause.message}` : '';
  return `${message}${cause}`;
};

/** The failure in our `Ferry-Failure` header (percent-encoded JSON), if there is one we can read. */
const headerFailure = (response: Response): Failure | undefined => {
  const header = response.headers.get(FAILURE_HEADER);
  if (header === null) return undefined;
  try {
    return decodeFailure(JSON.parse(decodeURIComponent(header)) as unknown);
  } catch {
    return undefined;
  }
};

/** The server's `{ failure, message }` error body, if it sent one we can read. */
const errorBody = async (response: Response, signal: AbortSignal | undefined): Promise<{ failure?: Failure; message?: string }> => {
  let text: string;
  try {
    text = await (signal ? abortable(response.text(), signal) : response.text());
  } catch (error) {
    if (signal?.aborted) throw abortFault(signal);
    // The link dropped while the error body was coming: the status still says what happened.
    return { message: describeError(error) };
  }
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch {
    // Not JSON (a proxy's HTML page, or HEAD without a body): our server also sends the failure in a header.
    const failure = headerFailure(response);
    return failure ? { failure } : {};
  }
  if (json === null || typeof json !== 'object') return {};
  const { failure, message } = json as { failure?: unknown; message?: unknown };
  return {
    ...(failure === undefined ? {} : { failure: decodeFailure(failure) }),
    ...(typeof message === 'string' ? { message } : {}),
  };
};

/** Seconds or an HTTP date in `Retry-After`, as a delay in ms; `undefined` when absent or malformed. */
export const retryAfterMs = (header: string | null, now = Date.now()): number | undefined => {
  if (header === null) return undefined;
  if (/^\d+$/.test(header.trim())) return Number(header.trim()) * 1000;
  const date = Date.parse(header);
  return Number.isNaN(date) ? undefined : Math.max(0, date - now);
};

/** Failures a ferry server answers when a limit refuses a request: never retried by the transport. */
const REFUSALS: ReadonlySet<string> = new Set(['TooOften', 'LimitExceeded', 'QuotaExceeded', 'InsufficientStorage', 'Rejected']);

/** The failure a non-2xx `response` to `subject` stands for (see the module's rules). */
export const failureOfResponse = async (response: Response, subject: Subject): Promise<Failure> => {
  const { status } = response;
  const body = await errorBody(response, subject.signal);
  const detail = `HTTP ${status} from ${subject.method}${body.message === undefined ? '' : `: ${body.message}`}`;
  // A refusal by one of ferry's limits (429 TooOften or LimitExceeded, 507 InsufficientStorage) is final:
  // the app decides when to try again, as Agora's TOO_OFTEN asks it to. A proxy's bare 429 or 5xx is not.
  if (body.failure && REFUSALS.has(body.failure._tag)) return body.failure;
  if (status === 408 || status === 429 || status >= 500) {
    // The transfer machine retries `Network` with its own delays and knows nothing of `Retry-After`, so
    // a server asking for a pause (429, 503) gets it here, bounded so the idle watchdog is not starved.
    const clock = subject.clock ?? systemClock;
    const wait = status === 429 || status === 503 ? retryAfterMs(response.headers.get('Retry-After'), clock.now()) : undefined;
    if (wait !== undefined && wait > 0) await pause(clock, Math.min(wait, MAX_RETRY_AFTER_MS), subject.signal);
    return Failure.network(detail);
  }
  if (body.failure) return body.failure;
  if (status === 409 || status === 423) return Failure.conflict(detail);
  if (status === 404 || status === 410) return Failure.notExist(subject.what);
  if (status === 413) return Failure.sizeOverflow(subject.size ?? 0, MAX_FILE_SIZE);
  if (status === 401) return Failure.invalidToken(detail);
  if (status === 400) return Failure.invalidArgument('request', detail);
  return Failure.unknown(status >= 400 && status < 500 ? detail : `unexpected ${detail}`);
};
