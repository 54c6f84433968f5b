/**
 * A `fetch` for Node on `node:http(s)` with keep-alive, for the HTTP transport's default on Node. Node
 * 20's global `fetch` copies every request body twice and held about one file's worth of those copies
 * during a 30 MiB upload (`npm run bench`, HTTP scenario); this one hands the body to the socket as is.
 * It supports what the transport uses: method, headers, a `Uint8Array`, string or `ReadableStream` body
 * (each piece written, and its write finished, before the next is read: sources may reuse one buffer), a
 * signal, and a streamed response. Loaded on demand by `http.ts`, never in browsers.
 * @module
 */
import { type ClientRequest, type IncomingMessage, Agent as HttpAgent, request as httpRequest } from 'node:http';
import { Agent as HttpsAgent, request as httpsRequest } from 'node:https';

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
    if (body !== undefined && body !== null && typeof body !== 'string' && !(body instanceof Uint8Array) && !(body instanceof ReadableStream)) {
      return reject(new TypeError('nodeFetch sends only string, Uint8Array or ReadableStream bodies'));
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
        const response = new Response(empty ? null : bodyOf(res), { status, headers });
        Object.defineProperty(response, 'url', { value: url.href });
        resolve(response);
      },
    );
    req.on('error', reject);
    if (body instanceof ReadableStream) void pump(body as ReadableStream<Uint8Array>, req);
    else req.end(body ?? undefined);
  });

/** Bytes the response stream holds before it pauses the socket. */
const BODY_HIGH_WATER = 256 * 1024;

/**
 * The response body as a byte stream of the socket's own chunks. `Readable.toWeb` copies every chunk
 * into a new `Uint8Array` in Node 20: for a 30 MiB download that was 30 MiB more garbage and several
 * more full collections (`npm run bench`, HTTP scenario).
 */
const bodyOf = (res: IncomingMessage): ReadableStream<Uint8Array> =>
  new ReadableStream<Uint8Array>(
    {
      start(controller) {
        let open = true;
        const finish = (error?: Error): void => {
          if (!open) return;
          open = false;
          if (error) controller.error(error);
          else controller.close();
        };
        res.on('data', (chunk: Buffer) => {
          if (!open) return;
          controller.enqueue(chunk);
          if ((controller.desiredSize ?? 0) <= 0) res.pause();
        });
        res.once('end', () => finish());
        res.on('error', (error) => finish(error));
        // A socket closed before the end (a reset, a server that died) is an error, not a short body.
        res.once('close', () => {
          if (!res.complete) finish(new Error('the connection closed before the response ended'));
        });
      },
      pull() {
        res.resume();
      },
      cancel() {
        // Not with the reason: that would make `res` emit it as an 'error' nobody listens for any more.
        res.destroy();
      },
    },
    { highWaterMark: BODY_HIGH_WATER, size: (chunk) => chunk.byteLength },
  );

/** Writes `body` into `req` piece by piece; a failure on either side stops both. */
const pump = async (body: ReadableStream<Uint8Array>, req: ClientRequest): Promise<void> => {
  const reader = body.getReader();
  try {
    for (;;) {
      const { done, value } = await reader.read();
      if (done) break;
      await new Promise<void>((resolve, reject) => req.write(value, (error) => (error ? reject(error) : resolve())));
    }
    req.end();
  } catch (error) {
    // The request's own error (a reset, an abort) already reached the caller through `req`'s 'error'.
    req.destroy(error instanceof Error ? error : new Error(String(error)));
    reader.cancel(error).catch(() => undefined);
  }
};
