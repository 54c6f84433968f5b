/**
 * A media `GET` for Node that reads the body into one reused buffer and lends each chunk to the caller,
 * for large downloads in the HTTP transport's Node stack (`directReadsFrom`).
 *
 * Why not `node:http`: its client gives every socket read a fresh buffer, and the stream machinery
 * passes each one on. For 30 MiB that is ~480 buffers, so V8 runs several full collections. A download
 * must also hash every byte, and on a 2-core machine that left it at 0.75–0.86 of a raw `GET`
 * (`npm run bench`, HTTP scenario). Node's `onread` socket option (`net` and `tls`) reads into a buffer
 * the caller provides. No HTTP client library exposes it, so the little HTTP a media `GET` needs is
 * spoken here:
 * - one request per connection, sent with `Connection: close`;
 * - a status line and headers; 1xx interim answers are skipped;
 * - a body delimited by `Content-Length`.
 *
 * An answer framed any other way (`Transfer-Encoding`, or no `Content-Length`) is not read. It
 * resolves `undefined`, and the caller asks again through `fetch`.
 *
 * Lending: after a chunk is handed over the socket stops reading (`onread` returns `false`). It reads
 * again only when the caller asks for the next chunk, so a chunk stays intact until then. A caller that
 * keeps bytes longer copies them.
 *
 * Failures are plain `Error`s for the caller to map: a refused connection, a reset, a malformed head,
 * more or fewer bytes than `Content-Length`, and an abort (the signal's reason).
 * Loaded on demand by `http.ts`, never in browsers.
 * @module
 */
import { isIP, connect as netConnect, type Socket } from 'node:net';
import { type ConnectionOptions, connect as tlsConnect } from 'node:tls';

/** An answer whose body is delimited by `Content-Length`, read as lent chunks. */
export interface DirectResponse {
  readonly status: number;
  readonly headers: Headers;
  /** The declared body length. */
  readonly length: number;
  /** The next chunk of the body; each is lent until the next call. Resolves `undefined` after the last. */
  next(): Promise<Uint8Array | undefined>;
  /** Closes the connection (at once, also mid-body). Idempotent. */
  close(): void;
}

/** What {@link directGet} sends besides the method and the path. */
export interface DirectInit {
  readonly headers: Readonly<Record<string, string>>;
  readonly signal: AbortSignal;
}

/** Bytes of the buffer a connection reads into: as large as Node's own socket reads, several times over. */
export const DIRECT_BUFFER = 256 * 1024;

/** The largest status line and headers accepted, as Node's own client (`--max-http-header-size`). */
export const MAX_HEAD = 16 * 1024;

/** A parsed response head. */
export interface Head {
  readonly status: number;
  readonly headers: Headers;
}

const STATUS_LINE = /^HTTP\/1\.[01] ([1-9]\d\d)(?: [^\r\n]*)?$/;
const HEADER_LINE = /^([!#$%&'*+.^_`|~0-9A-Za-z-]+):[ \t]*(.*?)[ \t]*$/;
const FIELD_VALUE = /^[\t\x20-\x7e\x80-\xff]*$/;

/**
 * Parses the response head at the start of `bytes`: the head and the length of its bytes, `undefined`
 * while the blank line that ends it has not arrived yet, or an `Error` naming what is malformed.
 */
export const parseHead = (bytes: Uint8Array): { readonly head: Head; readonly size: number } | undefined | Error => {
  // Only where a head that fits can end: the body after it may be a whole socket read.
  const window = Math.min(bytes.length, MAX_HEAD + 4);
  const text = Buffer.from(bytes.buffer, bytes.byteOffset, window).toString('latin1');
  const end = text.indexOf('\r\n\r\n');
  if (end < 0) return window === MAX_HEAD + 4 ? new Error(`the response head is larger than ${MAX_HEAD} bytes`) : undefined;
  const [statusLine = '', ...lines] = text.slice(0, end).split('\r\n');
  const status = STATUS_LINE.exec(statusLine)?.[1];
  if (status === undefined) return new Error(`malformed status line ${JSON.stringify(statusLine.slice(0, 80))}`);
  const headers = new Headers();
  for (const line of lines) {
    const field = HEADER_LINE.exec(line);
    // Also refuses folded lines (obsolete since RFC 7230) and bare CR or LF inside a value.
    if (!field || !FIELD_VALUE.test(field[2] ?? '')) return new Error(`malformed header line ${JSON.stringify(line.slice(0, 80))}`);
    headers.append(field[1] as string, field[2] as string);
  }
  return { head: { status: Number(status), headers }, size: end + 4 };
};

/**
 * The body length a head declares: a number, `undefined` when the body is framed another way (a
 * `Transfer-Encoding`, or up to the close), or an `Error` for a `Content-Length` that is malformed or
 * given twice with different values.
 */
export const bodyLength = (head: Head): number | undefined | Error => {
  if (head.status === 204 || head.status === 304) return 0;
  if (head.headers.has('Transfer-Encoding')) return undefined;
  const declared = head.headers.get('Content-Length');
  if (declared === null) return undefined;
  const values = new Set(declared.split(',').map((value) => value.trim()));
  const [value = ''] = values;
  if (values.size !== 1 || !/^\d+$/.test(value) || !Number.isSafeInteger(Number(value))) {
    return new Error(`malformed Content-Length ${JSON.stringify(declared.slice(0, 80))}`);
  }
  return Number(value);
};

/** The request head, refusing header names or values that would end it early (CR or LF in a token). */
const requestHead = (url: URL, headers: Readonly<Record<string, string>>): string => {
  let head = `GET ${url.pathname}${url.search} HTTP/1.1\r\nHost: ${url.host}\r\n`;
  for (const [name, value] of Object.entries(headers)) {
    if (!HEADER_LINE.test(`${name}: x`) || /[\r\n]/.test(value)) throw new TypeError(`header ${JSON.stringify(name)} cannot be sent`);
    head += `${name}: ${value}\r\n`;
  }
  return `${head}Connection: close\r\n\r\n`;
};

/**
 * Sends `GET url` on a new connection and resolves with the answer once its head has arrived:
 * a {@link DirectResponse} when the body has a `Content-Length`, `undefined` when it is framed another
 * way (the connection is closed; ask again through `fetch`). Rejects when the connection fails, the head
 * is malformed, or the signal aborts.
 * @example
 * const answer = await directGet(url, { headers: { Authorization: `Bearer ${token}` }, signal });
 * for (let chunk = await answer?.next(); chunk; chunk = await answer.next()) hash.update(chunk);
 */
export const directGet = (href: string, init: DirectInit): Promise<DirectResponse | undefined> =>
  new Promise((resolve, reject) => {
    const { signal } = init;
    if (signal.aborted) return reject(signal.reason);
    const url = new URL(href);
    const secure = url.protocol === 'https:';
    if (!secure && url.protocol !== 'http:') return reject(new TypeError(`directGet speaks http: and https:, not ${url.protocol}`));
    let request: string;
    try {
      request = requestHead(url, init.headers);
    } catch (error) {
      return reject(error);
    }

    // A plain Uint8Array, not a Buffer: chunks are views of it, and a caller copying a chunk with
    // `slice()` must get a copy (`Buffer#slice` makes another view).
    const buffer = new Uint8Array(DIRECT_BUFFER);
    // Before the body: the head's bytes so far (copies, so `buffer` can be read into again).
    let pendingHead: Buffer | undefined = Buffer.alloc(0);
    let answer: DirectResponse | undefined;
    let remaining = 0;
    // A chunk read and not yet handed over (the socket waits meanwhile), and a caller waiting for one.
    let lent: Uint8Array | undefined;
    let waiter: { resolve(chunk: Uint8Array | undefined): void; reject(error: unknown): void } | undefined;
    let failure: { readonly error: unknown } | undefined;
    let settled = false;

    const fail = (error: unknown): void => {
      if (failure || (answer && remaining === 0 && !lent)) return;
      failure = { error };
      lent = undefined;
      socket.destroy();
      signal.removeEventListener('abort', onAbort);
      if (!settled) {
        settled = true;
        reject(error);
      }
      waiter?.reject(error);
      waiter = undefined;
    };
    const onAbort = (): void => fail(signal.reason);
    signal.addEventListener('abort', onAbort, { once: true });

    /** The body is complete: nothing more is read, and the connection is not needed any more. */
    const finish = (): void => {
      signal.removeEventListener('abort', onAbort);
      socket.destroy();
    };

    const hand = (chunk: Uint8Array): void => {
      if (waiter) {
        const { resolve: give } = waiter;
        waiter = undefined;
        give(chunk);
      } else lent = chunk;
    };

    /** Bytes of the body, from the head's copy or the socket's buffer; `false` stops the socket reading. */
    const body = (chunk: Uint8Array): boolean => {
      if (chunk.length > remaining) {
        fail(new Error(`the server sent more than the ${answer?.length} bytes of its Content-Length`));
        return false;
      }
      remaining -= chunk.length;
      if (remaining === 0) finish();
      hand(chunk);
      return false;
    };

    const onHead = (): boolean => {
      for (;;) {
        const parsed = parseHead(pendingHead as Buffer);
        if (parsed === undefined) return true;
        if (parsed instanceof Error) return fail(parsed), false;
        const { head, size } = parsed;
        const rest = new Uint8Array((pendingHead as Buffer).buffer, (pendingHead as Buffer).byteOffset + size, (pendingHead as Buffer).length - size);
        if (head.status < 200) {
          // An interim answer (100 Continue, 103 Early Hints): the real one follows.
          pendingHead = Buffer.from(rest);
          continue;
        }
        const length = bodyLength(head);
        if (length instanceof Error) return fail(length), false;
        pendingHead = undefined;
        if (length === 0 && rest.length > 0) return fail(new Error('the server sent a body after an empty Content-Length')), false;
        settled = true;
        if (length === undefined) {
          finish();
          resolve(undefined);
          return false;
        }
        remaining = length;
        answer = { ...head, length, next, close };
        resolve(answer);
        if (length === 0) return finish(), false;
        return rest.length > 0 ? body(rest) : true;
      }
    };

    const onRead = (read: number, into: Uint8Array): boolean => {
      if (failure) return false;
      if (pendingHead === undefined) return body(into.subarray(0, read));
      pendingHead = Buffer.concat([pendingHead, into.subarray(0, read)]);
      return onHead();
    };

    const next = (): Promise<Uint8Array | undefined> => {
      if (failure) return Promise.reject(failure.error);
      if (lent) {
        const chunk = lent;
        lent = undefined;
        return Promise.resolve(chunk);
      }
      if (remaining === 0) return Promise.resolve(undefined);
      if (waiter) return Promise.reject(new Error('next() called again before the last one settled'));
      return new Promise((give, refuse) => {
        waiter = { resolve: give, reject: refuse };
        socket.resume();
      });
    };
    function close(): void {
      if (remaining > 0 || lent) fail(new Error('closed by the caller'));
      else finish();
    }

    const host = url.hostname.replace(/^\[(.*)\]$/, '$1');
    const port = Number(url.port || (secure ? 443 : 80));
    const onread = { buffer, callback: onRead };
    // `onread` is a `net.Socket` option that `tls.connect` passes on; its types do not list it.
    const tlsOptions: ConnectionOptions & { readonly onread: typeof onread } = {
      host,
      port,
      // SNI takes host names only.
      ...(isIP(host) === 0 ? { servername: host } : {}),
      ALPNProtocols: ['http/1.1'],
      onread,
    };
    const socket: Socket = secure ? tlsConnect(tlsOptions) : netConnect({ host, port, onread });
    socket.setNoDelay(true);
    socket.on('error', fail);
    socket.on('close', () => {
      if (pendingHead !== undefined) fail(new Error('the connection closed before the response head'));
      else if (remaining > 0) fail(new Error(`the connection closed after ${(answer?.length ?? 0) - remaining} of ${answer?.length} bytes`));
    });
    socket.write(request);
  });
