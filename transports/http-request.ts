/**
 * One JSON request to a ferry server with the transport contracts applied: Bearer auth, the signal
 * honoured before and during the call, and every failure a `FaultError` — the server's own failure from
 * its JSON body, `Network` for dropped links and transient statuses (5xx, 408, 429), never a raw error.
 * @module
 */
import { abortFault, throwIfAborted } from '../src/abort.js';
import { decodeFailure } from '../src/codec.js';
import { Failure, type FaultError, fault } from '../src/failure.js';

/** A request: method, optional JSON body or raw body and headers, and the signal that aborts it. */
export interface RequestOptions {
  readonly method: string;
  readonly json?: unknown;
  readonly headers?: Readonly<Record<string, string>>;
  readonly signal: AbortSignal;
}

/** The failure a non-2xx response stands for. */
export const failureFromResponse = async (response: Response): Promise<FaultError> => {
  if (response.status >= 500 || response.status === 408 || response.status === 429) {
    return fault(Failure.network(`the server answered ${response.status}`));
  }
  let body: unknown;
  try {
    body = await response.json();
  } catch {
    body = undefined;
  }
  const carried = body !== null && typeof body === 'object' && 'failure' in body ? (body as { failure: unknown }).failure : undefined;
  if (carried !== undefined) return fault(decodeFailure(carried));
  return fault(
    response.status === 401
      ? Failure.invalidToken(`the server answered ${response.status}`)
      : response.status === 404 || response.status === 410
        ? Failure.notExist(`${response.url} (${response.status})`)
        : Failure.unknown(`the server answered ${response.status}`),
  );
};

/** A request function bound to a `fetch` and a token; resolves with the JSON body, or `undefined`. */
export const httpRequest =
  (context: { readonly fetch: typeof globalThis.fetch; readonly token: string }) =>
  async (url: string, options: RequestOptions): Promise<unknown> => {
    const { method, json, headers, signal } = options;
    throwIfAborted(signal);
    let response: Response;
    try {
      response = await context.fetch(url, {
        method,
        headers: {
          Authorization: `Bearer ${context.token}`,
          ...(json === undefined ? {} : { 'Content-Type': 'application/json' }),
          ...headers,
        },
        ...(json === undefined ? {} : { body: JSON.stringify(json) }),
        signal,
      });
    } catch (error) {
      if (signal.aborted) throw abortFault(signal);
      throw fault(Failure.network(error instanceof Error ? error.message : String(error)), error);
    }
    if (!response.ok) throw await failureFromResponse(response);
    if (response.status === 204) return undefined;
    const text = await response.text();
    try {
      return text === '' ? undefined : (JSON.parse(text) as unknown);
    } catch {
      throw fault(Failure.unknown(`the server answered ${response.status} with a body that is not JSON`));
    }
  };
