/**
 * A `fetch` for Node on `node:http(s)` with keep-alive, for the HTTP transport's default on Node. Node
 * 20's global `fetch` copies every request body twice and held about one file's worth of those copies
 * during a 30 MiB upload (`npm run bench`, HTTP scenario); this one hands the body to the socket as is.
 * It supports what the transport uses: method, headers, a `Uint8Array` or string body, a signal, and a
 * streamed response. Loaded on demand by `http.ts`, never in browsers.
 * @module
 */
import { Agent as HttpAgent, request as httpRequest } from 'node:http';
import { Agent as HttpsAgent, request as httpsRequest } from 'node:https';
import { Readable } from 'node:stream';

const agents = { http: new HttpAgent({ keepAlive: true }), https: new HttpsAgent({ keepAlive: true }) };

/** Statuses whose responses carry no body, so a `Response` must be built without one. */
const NULL_BODY = new Set([101, 204, 205, 304]);

/** `fetch` over `node:http`. */
export const nodeFetch = (input: string | URL | Request, init: RequestInit = {}): Promise<Response> =>
  new Promise<Response>((resolve, reject) => {
    const url = new URL(input instanceof Request ? input.url : String(input));
    const { signal } = init;
    if (signal?.aborted) return reject(signal.reason);
    const body = init.body;
    if (body !== undefined && body !== null && typeof body !== 'string' && !(body instanceof Uint8Array)) {
      return reject(new TypeError('nodeFetch sends only string or Uint8Array bodies'));
    }
    const method = (init.method ?? 'GET').toUpperCase();
    const requestHeaders: Record<string, string> = {};
    new Headers(init.headers).forEach((value, name) => {
      requestHeaders[name] = value;
    });
    const secure = url.protocol === 'https:';
    const req = (secure ? httpsRequest : httpRequest)(
      url,
      {
        method,
        headers: requestHeaders,
        agent: secure ? agents.https : agents.http,
        ...(signal ? { signal } : {}),
      },
      (res) => {
        const status = res.statusCode ?? 0;
        const headers = new Headers();
        for (const [name, value] of Object.entries(res.headers)) {
          if (value !== undefined) headers.set(name, Array.isArray(value) ? value.join(', ') : value);
        }
        const empty = NULL_BODY.has(status) || method === 'HEAD';
        if (empty) res.resume();
        const response = new Response(empty ? null : (Readable.toWeb(res) as ReadableStream<Uint8Array>), { status, headers });
        Object.defineProperty(response, 'url', { value: url.href });
        resolve(response);
      },
    );
    req.on('error', reject);
    req.end(body ?? undefined);
  });
