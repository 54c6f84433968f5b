/**
 * One JSON request to a ferry server with the transport contracts applied: Bearer auth, the signal
 * honoured before and during the call, and every failure a `FaultError` — the server's own failure from
 * its JSON body, `Network` for dropped links and transient statuses (5xx, 408, 429), never a raw error
 * (the rules are in `http-failure.ts`, shared with the media half). With several nodes, a request also
 * tells the node choice whether its node answered (`reach`, `node-choice.ts`): a gateway's 502, 503 or
 * 504 is then `Network` at once, without waiting out a `Retry-After`, as the next request goes elsewhere.
 * @module
 */
import { abortFault, throwIfAborted } from '../src/core/abort.js';
import type { Clock } from '../src/core/clock.js';
import { Failure, fault } from '../src/core/failure.js';
import { describeError, failureOfResponse, ignore } from './http-failure.js';
import { type Reach, timedOut, UNAVAILABLE_STATUSES } from './node-choice.js';

/** A request: method, optional JSON body or raw body and headers, and the signal that aborts it. */
export interface RequestOptions {
  readonly method: string;
  readonly json?: unknown;
  readonly headers?: Readonly<Record<string, string>>;
  readonly signal: AbortSignal;
  /** Told whether the request's node answered, when the transport has several (`reachOf`). */
  readonly reach?: Reach | undefined;
}

/**
 * A request function bound to a `fetch`, a token (or where to read the current one, as it changes on
 * renewal) and the clock a `Retry-After` is waited on (default: the system clock); resolves with the
 * JSON body, or `undefined`.
 */
export const httpRequest =
  (context: { readonly fetch: typeof globalThis.fetch; readonly token: string | (() => string); readonly clock?: Clock }) =>
  async (url: string, options: RequestOptions): Promise<unknown> => {
    const { method, json, headers, signal, reach } = options;
    throwIfAborted(signal);
    let response: Response;
    try {
      response = await context.fetch(url, {
        method,
        headers: {
          Authorization: `Bearer ${typeof context.token === 'string' ? context.token : context.token()}`,
          ...(json === undefined ? {} : { 'Content-Type': 'application/json' }),
          ...headers,
        },
        ...(json === undefined ? {} : { body: JSON.stringify(json) }),
        signal,
      });
    } catch (error) {
      if (!signal.aborted || timedOut(signal)) reach?.unreachable();
      if (signal.aborted) throw abortFault(signal);
      throw fault(Failure.network(`${method} failed: ${describeError(error)}`), error);
    }
    if (reach && UNAVAILABLE_STATUSES.has(response.status)) {
      void response.body?.cancel().catch(ignore);
      reach.unreachable();
      throw fault(Failure.network(`HTTP ${response.status} from ${method}: the node is unavailable`));
    }
    reach?.answered();
    if (!response.ok) throw fault(await failureOfResponse(response, { method, what: url, signal, ...(context.clock ? { clock: context.clock } : {}) }));
    if (response.status === 204) return undefined;
    const text = await response.text();
    try {
      return text === '' ? undefined : (JSON.parse(text) as unknown);
    } catch {
      throw fault(Failure.unknown(`the server answered ${response.status} with a body that is not JSON`));
    }
  };
