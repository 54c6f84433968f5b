/**
 * The media half of the HTTP transport: uploads over tus 1.0.0 (`/v1/uploads`) and downloads with `GET`
 * and `Range` (`/v1/media/:id`), over an injected `fetch`, so it runs the same in Node and in browsers.
 * `http.ts` composes it with the session and messaging half.
 *
 * Uploads go one PATCH per window of bytes: tus acknowledges an offset only when a request ends, and
 * progress must come from acknowledged offsets, so one PATCH for 30 MiB would report nothing until the
 * end (and look idle to the client's watchdog on a slow link). The window adapts to the measured
 * throughput, aiming at about two seconds per request (`nextWindow`).
 *
 * On Node (`streamUploads`) each window is a streamed body read from the source as the socket takes
 * it, so windows can grow to 16 MiB without a buffer; elsewhere a window is copied into one buffer.
 *
 * Creating without leaving a record on abort, and terminating what is already gone, are duties of every
 * transport (`transport-duties.ts`): this file does only the requests.
 *
 * Failures follow the transport's failure contract (`http-failure.ts`): every rejection is a
 * `FaultError`; a dropped link, 5xx, 408 and 429 are `Network`, 409 and 423 are `Conflict` (both mean
 * "ask the offset and try again"), and the rest is final.
 *
 * With several nodes (`HttpContext.nodes`, decision 96) each request goes where the transport's node
 * choice says, with the session ID valid there; a node that does not answer is reported, and `HEAD`,
 * `GET` (before its first byte) and `DELETE` go again to the next node at once: they do nothing twice.
 * A `PATCH` or a `POST` is not repeated here: its failure (`Network`) goes to the transfer machine,
 * whose resume asks the new node's offset (`HEAD`) and sends from there.
 * @module
 */
import { abortable, abortFault, throwIfAborted } from '../src/core/abort.js';
import { toBase64, utf8 } from '../src/core/bytes.js';
import { Failure, FaultError, failureOf, fault } from '../src/core/failure.js';
import { CHUNK_SIZE } from '../src/core/limits.js';
import { type Clock, systemClock } from '../src/core/clock.js';
import { describeError, failureOfResponse, ignore, type Subject } from './http-failure.js';
import { movedOn, type Nodes, onEachNode, type Reach, reachOf, timedOut, UNAVAILABLE_STATUSES } from './node-choice.js';
import type { ByteSource, Session } from './transport.js';
import type { DirectGet } from '../src/platform/defaults.js';
import { HTTP_PATHS, OFFSET_STREAM, SESSION_HEADER, TUS_RESUMABLE } from '../src/protocol/http-wire.js';

/** What the media half needs from the composed transport. */
export interface HttpContext {
  /** Base URL of the server, e.g. `http://127.0.0.1:8080` (a trailing slash is ignored). */
  readonly url: string;
  /** The login token, sent as `Authorization: Bearer <token>`; or where to read the current one (renewal). */
  readonly token: string | (() => string);
  /** The `fetch` to use: the global one, or a faster or instrumented one behind the same signature. */
  readonly fetch: typeof globalThis.fetch;
  /**
   * Send each upload window as a streamed body (`ReadableStream`, `duplex: 'half'`) read from the source
   * as the socket takes it, rather than copied into a buffer first: no window buffer, so windows can be
   * larger (fewer round trips). Needs a `fetch` that streams request bodies over HTTP/1.1, as Node's do;
   * browsers stream them only over HTTP/2.
   */
  readonly streamUploads?: boolean;
  /**
   * The messaging session these transfers belong to, sent as `Ferry-Session`, so the server refuses
   * them once that session has ended (the same user logged in elsewhere). Stock tus clients send none.
   */
  readonly sessionId?: string | (() => string);
  /**
   * A `GET` on its own connection that lends body chunks from one reused buffer (`node-direct-get.ts`),
   * used for reads of at least `directReadsFrom` bytes; without it every read goes through `fetch`.
   */
  readonly directGet?: DirectGet;
  /** The smallest read (bytes from the offset to the end) that goes through `directGet`. Default: 1 MiB. */
  readonly directReadsFrom?: number;
  /** The clock a server's `Retry-After` is waited on. Default: the system clock. */
  readonly clock?: Clock;
  /**
   * The nodes of a cluster and where the session stands among them (`http.ts`): when given, every request
   * goes to the node {@link HttpNodes.place} says, with its session ID, instead of `url` and `sessionId`.
   */
  readonly nodes?: HttpNodes;
}

/** Where one request goes: a node's index and base URL, and the session ID to send there, if any. */
export interface Placement {
  readonly node: number;
  /** The node's base URL, without a trailing slash. */
  readonly base: string;
  readonly sessionId?: string;
}

/** The nodes of a transport with several, and where its session is among them. */
export interface HttpNodes {
  readonly nodes: Nodes;
  /**
   * Where the next request goes: the current node, once the session is known there (waits while it
   * moves; rejects with `Interrupted` when `signal` aborts first).
   */
  place(signal: AbortSignal): Promise<Placement>;
}


/** The media methods of a session. */
export type HttpMedia = Pick<Session, 'createUpload' | 'getUpload' | 'appendUpload' | 'terminateUpload' | 'getMedia' | 'readMedia'>;

const KiB = 1024;
const MiB = 1024 * KiB;

/** Bounds and target of the upload window (bytes per PATCH). */
export const WINDOW = {
  initial: 1 * MiB,
  min: 256 * KiB,
  /** With a buffered body: a larger window saves little (round trips are a few ms) and costs its size in memory. */
  max: 2 * MiB,
  /** With a streamed body nothing is buffered, so only the progress granularity bounds it. */
  maxStreamed: 16 * MiB,
  /** A request shorter than `lowMs` grows the window, one longer than `highMs` shrinks it. */
  lowMs: 1_000,
  highMs: 3_000,
  targetMs: 2_000,
} as const;

const clamp = (value: number, low: number, high: number): number => Math.min(high, Math.max(low, value));

/**
 * The next window after a PATCH of `sent` bytes took `elapsedMs` while the window was `current`: kept
 * within the 1–3 s band, otherwise sized for `targetMs` at the measured rate, in multiples of 64 KiB
 * within {@link WINDOW}'s bounds. It grows to that size at once: a PATCH's time runs until the server
 * acknowledged its bytes, so one sample hardly overstates the link (on loopback a streamed 30 MiB
 * took 5 PATCHes growing by at most 2× and 3 this way, ~8% less time in interleaved runs). It shrinks
 * by half at most per request: one slow sample (a pause, a stall) must not collapse it. Only a full
 * window measures the link: the last, shorter one is mostly latency.
 */
export const nextWindow = (current: number, sent: number, elapsedMs: number, max: number = WINDOW.max): number => {
  if (sent < current || (elapsedMs >= WINDOW.lowMs && elapsedMs <= WINDOW.highMs)) return current;
  const ideal = (sent * WINDOW.targetMs) / Math.max(elapsedMs, 1);
  const stepped = Math.max(ideal, current / 2);
  return clamp(Math.round(stepped / CHUNK_SIZE) * CHUNK_SIZE, WINDOW.min, max);
};

/**
 * Reads a `ByteSource` from an offset in pieces of a requested size. A piece is valid until the next
 * is asked for (sources may reuse one buffer).
 */
const cursorOf = (source: ByteSource, offset: number, chunkSize: number, signal: AbortSignal) => {
  const chunks = source.chunks(offset, chunkSize, signal)[Symbol.asyncIterator]();
  let chunk: Uint8Array | undefined;
  let used = 0;
  let at = offset;
  return {
    /** The next piece of at most `max` bytes. */
    async take(max: number): Promise<Uint8Array> {
      while (chunk === undefined || used === chunk.length) {
        const next = await abortable(chunks.next(), signal);
        if (next.done) throw fault(Failure.invalidArgument('source', `ended at byte ${at} of ${source.size}`));
        [chunk, used] = [next.value, 0];
      }
      const piece = chunk.subarray(used, used + Math.min(max, chunk.length - used));
      used += piece.length;
      at += piece.length;
      return piece;
    },
    /** Not awaited: a source stuck in a read it does not abort must not hold up the caller. */
    close(): void {
      chunks.return?.().catch(ignore);
    },
  };
};
type Cursor = ReturnType<typeof cursorOf>;

/** `length` bytes of `cursor` as a stream that reads a piece only when the previous one was taken. */
const streamOf = (cursor: Cursor, length: number): ReadableStream<Uint8Array> => {
  let left = length;
  return new ReadableStream<Uint8Array>(
    {
      async pull(controller) {
        const piece = await cursor.take(left);
        left -= piece.length;
        controller.enqueue(piece);
        if (left === 0) controller.close();
      },
    },
    // Nothing read ahead: the piece in the queue must be written before the source reuses its buffer.
    { highWaterMark: 0 },
  );
};

/**
 * Bytes read from the source per piece of a streamed window: each piece is one socket write, awaited
 * before the next read (sources may reuse one buffer), so larger pieces mean fewer round trips through
 * the event loop; a path source holds one such buffer.
 */
const STREAM_PIECE = 1 * MiB;

/**
 * The smallest read that goes through `directGet` by default: a new connection per read costs a
 * handshake (two more round trips over TLS), which a keep-alive `fetch` saves on small media.
 */
export const DIRECT_READS_FROM = 1 * MiB;

/** The most of a failure's body read through `directGet` to learn the server's failure. */
const MAX_ERROR_BODY = 64 * KiB;

/** The status, headers and body chunks of a `GET`, however it was sent. */
interface Body {
  readonly status: number;
  readonly headers: Headers;
  /** The next chunk, lent until the next call; `undefined` after the last. */
  next(): Promise<Uint8Array | undefined>;
  close(): void;
  /** The failure a passed non-2xx status (`Ask.pass`) stands for, from its body. */
  failure(): Promise<Failure>;
}

/** One request of the media half. */
interface Ask extends Subject {
  readonly method: 'GET' | 'HEAD' | 'POST' | 'PATCH' | 'DELETE';
  readonly url: string;
  readonly headers?: Readonly<Record<string, string>>;
  readonly body?: Uint8Array<ArrayBuffer> | ReadableStream<Uint8Array>;
  /** Statuses besides 2xx that the caller handles itself. */
  readonly pass?: readonly number[];
  /** The node it goes to, and the session ID sent there. */
  readonly at: Placement;
}

/** A non-negative decimal integer header, `undefined` if absent or malformed. */
const countHeader = (response: Response, name: string): number | undefined => {
  const value = response.headers.get(name);
  return value !== null && /^\d+$/.test(value) && Number.isSafeInteger(Number(value)) ? Number(value) : undefined;
};

/** A header the protocol requires in this answer; its absence is a server we cannot talk to. */
const requiredCount = (response: Response, name: string, method: string): number => {
  const value = countHeader(response, name);
  if (value === undefined) throw fault(Failure.unknown(`the server's answer to ${method} lacks a valid ${name}`));
  return value;
};

/** An ID as one path segment. Dot segments would be resolved away by URL parsing, so they are refused here. */
const segment = (argument: 'uploadId' | 'mediaId', id: string): string => {
  if (typeof id !== 'string' || id === '' || id === '.' || id === '..') {
    throw fault(Failure.invalidArgument(argument, `malformed ID ${JSON.stringify(id)}`));
  }
  return encodeURIComponent(id);
};

/**
 * The ID at the end of a tus `Location` (absolute or relative to the creation URL): the media ID.
 * Query and fragment are not part of it.
 */
export const uploadIdOf = (location: string, uploadsUrl: string): string | undefined => {
  let path: string;
  try {
    path = new URL(location, uploadsUrl).pathname;
  } catch {
    return undefined;
  }
  const last = path.split('/').pop();
  if (last === undefined || last === '') return undefined;
  try {
    return decodeURIComponent(last);
  } catch {
    return undefined;
  }
};

/** The SHA-256 in a strong (or weak) `ETag` of 64 hex digits, lowercase. */
const sha256Of = (etag: string | null): string | undefined => /^(?:W\/)?"([0-9a-fA-F]{64})"$/.exec(etag?.trim() ?? '')?.[1]?.toLowerCase();

/**
 * The file name of a `Content-Disposition` header (RFC 6266): the UTF-8 `filename*` if present and
 * decodable, else the quoted or plain `filename`; `undefined` without one (a server that sends none).
 */
const dispositionName = (header: string | null): string | undefined => {
  if (header === null) return undefined;
  const extended = /;\s*filename\*\s*=\s*UTF-8'[^']*'([^;\s]+)/i.exec(header)?.[1];
  if (extended !== undefined) {
    try {
      return decodeURIComponent(extended);
    } catch {
      // Broken percent-encoding: the plain parameter below is the server's fallback for exactly this.
    }
  }
  const plain = /;\s*filename\s*=\s*(?:"((?:[^"\\]|\\.)*)"|([^;\s]+))/i.exec(header);
  if (!plain) return undefined;
  return plain[1] !== undefined ? plain[1].replace(/\\(.)/g, '$1') : plain[2];
};

/**
 * The media methods of an HTTP session.
 * @example
 * const media = httpMedia({ url: server.url, token, fetch: globalThis.fetch });
 * const upload = await media.createUpload({ size: bytes.length, fileName: 'a.bin' }, { signal });
 */
export const httpMedia = (ctx: HttpContext): HttpMedia => {
  const { token, sessionId, nodes } = ctx;
  const base = ctx.url.replace(/\/+$/, '');
  const uploadsUrl = (at: Placement): string => `${at.base}${HTTP_PATHS.uploads}`;
  const uploadUrl = (at: Placement, uploadId: string): string => `${uploadsUrl(at)}/${segment('uploadId', uploadId)}`;
  const mediaUrl = (at: Placement, mediaId: string): string => `${at.base}${HTTP_PATHS.media}/${segment('mediaId', mediaId)}`;
  const clock = ctx.clock ?? systemClock;
  const count = nodes ? nodes.nodes.urls.length : 1;

  /** Where the next request goes: the one server, or the node the transport's choice says. */
  const place = (signal: AbortSignal): Promise<Placement> =>
    nodes
      ? nodes.place(signal)
      : Promise.resolve({ node: 0, base, ...(sessionId === undefined ? {} : { sessionId: typeof sessionId === 'string' ? sessionId : sessionId() }) });
  /** What a request to `at` tells the node choice (nothing with one node). */
  const reach = (at: Placement): Reach | undefined => (nodes ? reachOf(nodes.nodes, at.node) : undefined);
  /**
   * `run` at the placed node; an idempotent request whose node stopped answering under it goes again
   * to the next node, at most once per node.
   */
  const placed = <T>(signal: AbortSignal, idempotent: boolean, run: (at: Placement) => Promise<T>): Promise<T> => {
    let node = 0;
    return onEachNode(
      idempotent ? count : 1,
      async () => {
        const at = await place(signal);
        node = at.node;
        return run(at);
      },
      (error) => !signal.aborted && nodes !== undefined && movedOn(nodes.nodes, node, error),
    );
  };

  /** The headers of every request: the current token, the session at its node, then the request's own. */
  const headersOf = (ask: Ask): Record<string, string> => ({
    Authorization: `Bearer ${typeof token === 'string' ? token : token()}`,
    ...(ask.at.sessionId === undefined ? {} : { [SESSION_HEADER]: ask.at.sessionId }),
    ...ask.headers,
  });

  /**
   * What a request that got no answer fails with: `Interrupted` if its signal aborted, else `Network`.
   * Either way but a cancel, its node did not answer (a deadline's abort is a node too slow to answer).
   */
  const unsent = (ask: Ask, error: unknown): FaultError => {
    if (!ask.signal?.aborted || timedOut(ask.signal)) reach(ask.at)?.unreachable();
    return ask.signal?.aborted ? abortFault(ask.signal) : fault(Failure.network(`${ask.method} failed: ${describeError(error)}`), error);
  };

  /**
   * A status from a node that is going away (or a gateway whose node is gone), with several nodes:
   * `Network` at once, the node reported; `undefined` for any other status, the node reported as answering.
   */
  const unavailable = (ask: Ask, status: number): FaultError | undefined => {
    const told = reach(ask.at);
    if (told && UNAVAILABLE_STATUSES.has(status)) {
      told.unreachable();
      return fault(Failure.network(`HTTP ${status} from ${ask.method}: the node is unavailable`));
    }
    told?.answered();
    return undefined;
  };

  /** One request: 2xx (or a `pass` status) resolves, anything else rejects with its failure. */
  const send = async (ask: Ask): Promise<Response> => {
    const { signal } = ask;
    throwIfAborted(signal);
    let response: Response;
    try {
      response = await ctx.fetch(ask.url, {
        method: ask.method,
        headers: headersOf(ask),
        ...(ask.body === undefined ? {} : { body: ask.body }),
        // Required by `fetch` for a streamed body.
        ...(ask.body instanceof ReadableStream ? { duplex: 'half' } : {}),
        ...(signal === undefined ? {} : { signal }),
      });
    } catch (error) {
      throw unsent(ask, error);
    }
    if (signal?.aborted) {
      void response.body?.cancel().catch(ignore);
      throw abortFault(signal);
    }
    const gone = unavailable(ask, response.status);
    if (gone) {
      void response.body?.cancel().catch(ignore);
      throw gone;
    }
    if (response.ok || ask.pass?.includes(response.status)) return response;
    throw fault(await failureOfResponse(response, { ...ask, clock }));
  };

  /** A `GET` through `fetch`, its body read with the stream's reader. */
  const openFetched = async (ask: Ask): Promise<Body> => {
    const response = await send(ask);
    // Taken at the first read: a reader locks the body, which `failure` may still have to read.
    let reader: ReadableStreamDefaultReader<Uint8Array> | undefined;
    return {
      status: response.status,
      headers: response.headers,
      next: async () => {
        reader ??= response.body?.getReader();
        return reader ? ((await reader.read()).value ?? undefined) : undefined;
      },
      close: () => void (reader ?? response.body)?.cancel().catch(ignore),
      failure: () => failureOfResponse(response, { ...ask, clock }),
    };
  };

  /**
   * A `GET` through `directGet`; `undefined` when the answer's body is framed in a way only `fetch`
   * reads (ask again there). A failure's body is short JSON: it is read whole to name the failure.
   */
  const openDirect = async (ask: Ask & { readonly signal: AbortSignal }): Promise<Body | undefined> => {
    const get = ctx.directGet as DirectGet;
    let answer: Awaited<ReturnType<DirectGet>>;
    try {
      answer = await get(ask.url, { headers: headersOf(ask), signal: ask.signal });
    } catch (error) {
      throw unsent(ask, error);
    }
    if (answer === undefined) return undefined;
    const gone = unavailable(ask, answer.status);
    if (gone) {
      answer.close();
      throw gone;
    }
    if (answer.status >= 200 && answer.status < 300) return { ...answer, failure: () => Promise.resolve(Failure.unknown(`unexpected HTTP ${answer.status}`)) };
    const chunks: Uint8Array[] = [];
    let size = 0;
    try {
      while (size < MAX_ERROR_BODY) {
        const chunk = await answer.next();
        if (chunk === undefined) break;
        chunks.push(chunk.slice());
        size += chunk.length;
      }
    } catch {
      // The status decides; a body cut short only loses the server's own failure.
    } finally {
      answer.close();
    }
    const response = new Response(size === 0 ? null : new Blob(chunks as Uint8Array<ArrayBuffer>[]), { status: answer.status, headers: answer.headers });
    const failure = (): Promise<Failure> => failureOfResponse(response, { ...ask, clock });
    if (ask.pass?.includes(answer.status)) return { status: answer.status, headers: answer.headers, next: async () => undefined, close: ignore, failure };
    throw fault(await failure());
  };

  /**
   * Drops a body we do not read, so the connection can be reused or closed. An empty one (an answer to
   * `HEAD`, or `Content-Length: 0` as a creation's 201) is read to its end instead: a browser reports a
   * body cancelled or left unread as an aborted load (chromium's console: `POST /v1/uploads
   * net::ERR_ABORTED`, `HEAD /v1/media/… net::ERR_ABORTED`), though nothing failed.
   */
  const discard = (response: Response, method: string): void => {
    if (method === 'HEAD' || response.headers.get('Content-Length') === '0') void response.arrayBuffer().catch(ignore);
    else void response.body?.cancel().catch(ignore);
  };

  const getUpload: HttpMedia['getUpload'] = async (uploadId, { signal }) => {
    throwIfAborted(signal);
    const response = await placed(signal, true, (at) =>
      send({ method: 'HEAD', url: uploadUrl(at, uploadId), headers: TUS_RESUMABLE, signal, what: `upload ${uploadId}`, at }),
    );
    discard(response, 'HEAD');
    const offset = requiredCount(response, 'Upload-Offset', 'HEAD');
    const size = requiredCount(response, 'Upload-Length', 'HEAD');
    return { uploadId, size, offset, complete: offset === size };
  };

  return {
    async createUpload({ size, fileName }, { signal }) {
      throwIfAborted(signal);
      const metadata = fileName === '' ? {} : { 'Upload-Metadata': `filename ${toBase64(utf8(fileName))}` };
      const at = await place(signal);
      const response = await send({
        method: 'POST',
        url: uploadsUrl(at),
        headers: { ...TUS_RESUMABLE, 'Upload-Length': String(size), ...metadata },
        signal,
        what: 'the uploads endpoint',
        size,
        at,
      });
      discard(response, 'POST');
      const location = response.headers.get('Location');
      const uploadId = location === null ? undefined : uploadIdOf(location, uploadsUrl(at));
      if (uploadId === undefined) throw fault(Failure.unknown(`the server's answer to POST lacks a valid Location (${String(location)})`));
      return { uploadId, size, offset: 0, complete: false };
    },

    getUpload,

    async appendUpload(uploadId, offset, source, { signal, onProgress }) {
      throwIfAborted(signal);
      const { size } = source;
      if (!Number.isSafeInteger(offset) || offset < 0 || offset > size) {
        throw fault(Failure.invalidArgument('offset', `expected 0 to ${size}, got ${offset}`));
      }
      // Nothing to send: the server's own state is the answer (it may already be complete).
      if (offset === size) return getUpload(uploadId, { signal });
      // One node for the whole call: a node that stops answering fails it, and the resume asks the next.
      const target = await place(signal);
      const url = uploadUrl(target, uploadId);

      const streamed = ctx.streamUploads === true;
      const cursor = cursorOf(source, offset, streamed ? STREAM_PIECE : CHUNK_SIZE, signal);
      /** Buffered windows: allocated once at the largest window this upload can use, and reused (after a 204 the server has read every byte of the last body). */
      const buffer = streamed ? undefined : new Uint8Array(Math.min(WINDOW.max, size - offset));
      let window: number = WINDOW.initial;
      let at = offset;
      try {
        while (at < size) {
          const length = Math.min(window, size - at);
          let body: Uint8Array<ArrayBuffer> | ReadableStream<Uint8Array>;
          if (buffer === undefined) body = streamOf(cursor, length);
          else {
            for (let filled = 0; filled < length; ) {
              const piece = await cursor.take(length - filled);
              buffer.set(piece, filled);
              filled += piece.length;
            }
            body = buffer.subarray(0, length);
          }
          const started = performance.now();
          const response = await send({
            method: 'PATCH',
            url,
            headers: { ...TUS_RESUMABLE, 'Content-Type': OFFSET_STREAM, 'Upload-Offset': String(at), ...(streamed ? { 'Content-Length': String(length) } : {}) },
            body,
            signal,
            what: `upload ${uploadId}`,
            size,
            at: target,
          });
          discard(response, 'PATCH');
          const acknowledged = requiredCount(response, 'Upload-Offset', 'PATCH');
          if (acknowledged > at && acknowledged <= size) onProgress(acknowledged);
          if (acknowledged !== at + length) {
            throw fault(Failure.conflict(`the server acknowledged offset ${acknowledged} after PATCH of bytes ${at} to ${at + length}`));
          }
          window = nextWindow(window, length, performance.now() - started, streamed ? WINDOW.maxStreamed : WINDOW.max);
          at = acknowledged;
        }
      } finally {
        cursor.close();
      }
      return { uploadId, size, offset: at, complete: true };
    },

    async terminateUpload(uploadId, { signal }) {
      throwIfAborted(signal);
      // Idempotent: a node that does not answer leaves the removal to the next.
      discard(await placed(signal, true, (at) => send({ method: 'DELETE', url: uploadUrl(at, uploadId), headers: TUS_RESUMABLE, signal, what: `upload ${uploadId}`, at })), 'DELETE');
    },

    async getMedia(mediaId, { signal }) {
      throwIfAborted(signal);
      const response = await placed(signal, true, (at) => send({ method: 'HEAD', url: mediaUrl(at, mediaId), signal, what: `media ${mediaId}`, at }));
      discard(response, 'HEAD');
      const size = requiredCount(response, 'Content-Length', 'HEAD');
      const sha256 = sha256Of(response.headers.get('ETag'));
      if (sha256 === undefined) throw fault(Failure.unknown(`the server's answer to HEAD lacks a SHA-256 ETag (${String(response.headers.get('ETag'))})`));
      return { mediaId, size, sha256, fileName: dispositionName(response.headers.get('Content-Disposition')) ?? mediaId };
    },

    async *readMedia(mediaId, offset, { signal, expected }) {
      throwIfAborted(signal);
      if (!Number.isSafeInteger(offset) || offset < 0) throw fault(Failure.invalidArgument('offset', `expected a byte offset, got ${offset}`));
      const direct = ctx.directGet !== undefined && expected !== undefined && expected >= (ctx.directReadsFrom ?? DIRECT_READS_FROM);
      let ask: Ask & { readonly signal: AbortSignal } | undefined;
      // Until its first byte a GET does nothing twice: a node that does not answer leaves it to the next.
      const body = await placed(signal, true, async (at) => {
        ask = {
          method: 'GET',
          url: mediaUrl(at, mediaId),
          ...(offset === 0 ? {} : { headers: { Range: `bytes=${offset}-` } }),
          signal,
          what: `media ${mediaId}`,
          pass: [416],
          at,
        };
        return (direct ? await openDirect(ask) : undefined) ?? (await openFetched(ask));
      });
      const { at } = ask as Ask;
      try {
        if (body.status === 416) {
          // A range starting at the end is unsatisfiable in HTTP but is simply nothing left to read here.
          const total = /^bytes \*\/(\d+)$/.exec(body.headers.get('Content-Range') ?? '')?.[1];
          if (total !== undefined && Number(total) === offset) return;
          throw fault(await body.failure());
        }
        let skip = 0;
        if (body.status === 206) {
          const start = /^bytes (\d+)-\d+\/\d+$/.exec(body.headers.get('Content-Range') ?? '')?.[1];
          if (Number(start) !== offset) throw fault(Failure.unknown(`asked for bytes from ${offset}, got ${String(body.headers.get('Content-Range'))}`));
        } else if (offset > 0) {
          // A server (or proxy) that ignores `Range` sends it all: drop what we did not ask for.
          skip = offset;
        }
        for (;;) {
          let bytes: Uint8Array | undefined;
          try {
            bytes = await abortable(body.next(), signal);
          } catch (error) {
            if (signal.aborted && !timedOut(signal)) throw abortFault(signal);
            // The node stopped sending: the resume asks the next one for the rest (`Range`).
            if (!(error instanceof FaultError) || failureOf(error)._tag === 'Network') reach(at)?.unreachable();
            if (signal.aborted) throw abortFault(signal);
            if (error instanceof FaultError) throw error;
            throw fault(Failure.network(`GET body: ${describeError(error)}`), error);
          }
          if (bytes === undefined) return;
          if (skip > 0) {
            const dropped = Math.min(skip, bytes.length);
            skip -= dropped;
            bytes = bytes.subarray(dropped);
            if (bytes.length === 0) continue;
          }
          yield bytes;
          throwIfAborted(signal);
        }
      } finally {
        // Stops the download on abort, error or a consumer that stopped early; a no-op after the end.
        body.close();
      }
    },
  };
};
