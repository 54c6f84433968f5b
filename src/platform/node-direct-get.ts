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
 * keeps bytes longer copies them. Over TLS Node keeps decrypting into the buffer after reading stopped,
 * so there each chunk is copied out of it as it arrives (the allocations come back, the rest is the same).
 *
 * Failures are plain `Error`s for the caller to map: a refused connection, a reset, a malformed head,
 * more or fewer bytes than `Content-Length`, and an abort (the signal's reason).
 * Loaded on demand by `http.ts`, never in browsers.
 * @module
 */
import { isIP, connect as netConnect, type Socket } from 'node:net';
import { type ConnectionOptions, connect as tlsConnect } from 'node:tls';

/** A parsed response head. */
export interface Head {
  readonly status: number;
  readonly headers: Headers;
}

/** An answer whose body is delimited by `Content-Length`, read as lent chunks. */
export interface DirectResponse extends Head {
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

const STATUS_LINE = /^HTTP\/1\.[01] ([1-5]\d\d)(?: [^\r\n]*)?$/;
const TOKEN = /^[!#$%&'*+.^_`|~0-9A-Za-z-]+$/;
/** Field values: visible ASCII, space, tab and obs-text (no CR, LF, NUL or other controls). */
const FIELD_VALUE = /^[\t\x20-\x7e\x80-\xff]*$/;
const HEAD_END = Buffer.from('\r\n\r\n', 'latin1');

/** `text` without leading and trailing spaces and tabs (by hand: a regex for it is quadratic on long runs of spaces). */
const trimSpaces = (text: string): string => {
  let from = 0;
  let to = text.length;
  while (from < to && (text[from] === ' ' || text[from] === '\t')) from++;
  while (to > from && (text[to - 1] === ' ' || text[to - 1] === '\t')) to--;
  return text.slice(from, to);
};

/**
 * Parses the response head at the start of `bytes`: the head and the length of its bytes, `undefined`
 * while the blank line that ends it has not arrived yet, or an `Error` naming what is malformed.
 * `scanned`: bytes already searched for that blank line, so each read is searched once.
 */
export const parseHead = (bytes: Uint8Array, scanned = 0): { readonly head: Head; readonly size: number } | undefined | Error => {
  // Only where a head that fits can end: the body after it may be a whole socket read.
  const window = Buffer.from(bytes.buffer, bytes.byteOffset, Math.min(bytes.length, MAX_HEAD + 4));
  const end = window.indexOf(HEAD_END, Math.max(0, scanned - 3));
  if (end < 0) return window.length === MAX_HEAD + 4 ? new Error(`the response head is larger than ${MAX_HEAD} bytes`) : undefined;
  const [statusLine = '', ...lines] = window.toString('latin1', 0, end).split('\r\n');
  const status = STATUS_LINE.exec(statusLine)?.[1];
  if (status === undefined) return new Error(`malformed status line ${JSON.stringify(statusLine.slice(0, 80))}`);
  const headers = new Headers();
  for (const line of lines) {
    const colon = line.indexOf(':');
    const name = line.slice(0, Math.max(colon, 0));
    const value = trimSpaces(line.slice(colon + 1));
    // Also refuses folded lines (obsolete since RFC 7230: the name would start with a space) and bare CR
    // or LF inside a value.
    if (!TOKEN.test(name) || !FIELD_VALUE.test(value)) return new Error(`malformed header line ${JSON.stringify(line.slice(0, 80))}`);
    headers.append(name, value);
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

/** Headers this module writes itself. */
const OWN_HEADERS = new Set(['host', 'connection', 'content-length', 'transfer-encoding']);

/**
 * The request head. Refuses a header it writes itself, a name that is not a token, and a value with
 * anything but visible ASCII, space and tab (CR or LF would end the head early).
 */
const requestHead = (url: URL, headers: Readonly<Record<string, string>>): string => {
  let head = `GET ${url.pathname}${url.search} HTTP/1.1\r\nHost: ${url.host}\r\n`;
  for (const [name, value] of Object.entries(headers)) {
    if (!TOKEN.test(name) || OWN_HEADERS.has(name.toLowerCase()) || !/^[\t\x20-\x7e]*$/.test(value)) {
      throw new TypeError(`header ${JSON.stringify(name)} cannot be sent`);
    }
    head += `${name}: ${value}\r\n`;
  }
  return `${head}Connection: close\r\n\r\n`;
};

/** Node's `onread` socket option: every read lands in `buffer`, and `callback` gets how many bytes it read. */
export interface OnRead {
  readonly buffer: Uint8Array;
  readonly callback: (bytes: number, buffer: Uint8Array) => boolean;
}

/**
 * A connection to `url`'s host and port (443 or 80 by default) that reads into `onread`: over TLS when
 * `secure` (SNI for host names, ALPN `http/1.1`, Node's default trust), over TCP otherwise; no Nagle.
 * Shared by the direct `GET` and `DirectWebSocket` (`node-direct-ws.ts`).
 */
export const connectReading = (url: URL, secure: boolean, onread: OnRead): Socket => {
  const host = url.hostname.replace(/^\[(.*)\]$/, '$1');
  const port = Number(url.port || (secure ? 443 : 80));
  // `onread` is a `net.Socket` option that `tls.connect` passes on; its types do not list it.
  const tlsOptions: ConnectionOptions & { readonly onread: OnRead } = {
    host,
    port,
    // SNI takes host names only.
    ...(isIP(host) === 0 ? { servername: host } : {}),
    ALPNProtocols: ['http/1.1'],
    onread,
  };
  const socket: Socket = secure ? tlsConnect(tlsOptions) : netConnect({ host, port, onread });
  socket.setNoDelay(true);
  return socket;
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
    // Over TCP a chunk is a view of `buffer`, lent: once `onread` returns `false`, Node reads nothing more
    // until `resume`. Over TLS that does not hold: Node decrypts every record the last TCP read brought
    // into the same buffer, one callback each, even after reading was stopped. So over TLS each chunk is
    // copied out of it at once.
    const lends = !secure;
    // Before the body: the head's bytes so far (copied out of `buffer`), and how many were searched.
    let head: { bytes: Buffer; length: number; scanned: number } | undefined = { bytes: Buffer.allocUnsafe(4096), length: 0, scanned: 0 };
    let answer: DirectResponse | undefined;
    let remaining = 0;
    // Chunks read and not handed over yet (at most one over TCP), whether the caller holds a view of
    // `buffer`, and a caller waiting for a chunk.
    const ready: Uint8Array[] = [];
    let viewOut = false;
    let waiter: { resolve(chunk: Uint8Array | undefined): void; reject(error: unknown): void } | undefined;
    let failure: { readonly error: unknown } | undefined;
    let settled = false;

    const fail = (error: unknown): void => {
      if (failure || (answer && remaining === 0 && ready.length === 0)) return;
      failure = { error };
      ready.length = 0;
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

    /** Bytes of the body; returns `false`, so the socket stops reading until the caller asks for more. */
    const body = (chunk: Uint8Array): false => {
      if (chunk.length > remaining) return fail(new Error(`the server sent more than the ${answer?.length} bytes of its Content-Length`)), false;
      remaining -= chunk.length;
      if (remaining === 0) finish();
      if (waiter) {
        const { resolve: give } = waiter;
        waiter = undefined;
        viewOut = chunk.buffer === buffer.buffer;
        give(chunk);
      } else ready.push(chunk);
      return false;
    };

    /** Adds a read to the head's bytes (doubling their room as needed) and parses what there is. */
    const onHead = (read: Uint8Array): boolean => {
      let pending = head as NonNullable<typeof head>;
      if (pending.length + read.length > pending.bytes.length) {
        const grown = Buffer.allocUnsafe(Math.max(pending.bytes.length * 2, pending.length + read.length));
        pending.bytes.copy(grown, 0, 0, pending.length);
        pending.bytes = grown;
      }
      pending.bytes.set(read, pending.length);
      pending.length += read.length;
      for (;;) {
        const parsed = parseHead(pending.bytes.subarray(0, pending.length), pending.scanned);
        if (parsed === undefined) {
          pending.scanned = pending.length;
          return true;
        }
        if (parsed instanceof Error) return fail(parsed), false;
        const { head: answered, size } = parsed;
        if (answered.status === 101) return fail(new Error('the server switched protocols (101) on a GET')), false;
        // A copy, as a plain Uint8Array (see `buffer`).
        const rest = new Uint8Array(pending.bytes.subarray(size, pending.length));
        if (answered.status < 200) {
          // An interim answer (100 Continue, 103 Early Hints): the real one follows.
          pending = head = { bytes: Buffer.from(rest), length: rest.length, scanned: 0 };
          continue;
        }
        const length = bodyLength(answered);
        if (length instanceof Error) return fail(length), false;
        if (length === 0 && rest.length > 0) return fail(new Error('the server sent a body after an empty Content-Length')), false;
        head = undefined;
        settled = true;
        if (length === undefined) {
          finish();
          resolve(undefined);
          return false;
        }
        remaining = length;
        answer = { ...answered, length, next, close };
        resolve(answer);
        if (length === 0) return finish(), false;
        return rest.length > 0 ? body(rest) : true;
      }
    };

    const onRead = (read: number, into: Uint8Array): boolean => {
      if (failure) return false;
      if (head !== undefined) return onHead(into.subarray(0, read));
      if (lends && (viewOut || ready.length > 0)) {
        // Node's TCP socket read after being told to stop: the lent chunk may be overwritten already.
        return fail(new Error('the socket read again while a chunk was lent')), false;
      }
      return body(lends ? into.subarray(0, read) : into.slice(0, read));
    };

    const next = (): Promise<Uint8Array | undefined> => {
      // The caller is done with the chunk it had.
      viewOut = false;
      if (failure) return Promise.reject(failure.error);
      const chunk = ready.shift();
      if (chunk) {
        viewOut = chunk.buffer === buffer.buffer;
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
      if (remaining > 0 || ready.length > 0) fail(new Error('closed by the caller'));
      else finish();
    }

    const socket = connectReading(url, secure, { buffer, callback: onRead });
    socket.on('error', fail);
    socket.on('close', () => {
      if (head !== undefined) fail(new Error('the connection closed before the response head'));
      else if (remaining > 0) fail(new Error(`the connection closed after ${(answer?.length ?? 0) - remaining} of ${answer?.length} bytes`));
    });
    socket.write(request, 'latin1');
  });
