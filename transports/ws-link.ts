/**
 * The client's link to a ferry WebSocket server: one socket at a time, the login by `hello`, calls
 * matched to answers by ID, events in order, transfers' frames routed by transfer ID, data frames sent
 * in one FIFO gated by the bytes the socket has not written yet, a heartbeat, and reconnection.
 *
 * On a dropped socket the link reconnects (when, and how often, is the link machine's: `machines/link.ts`,
 * the delay table on the injected clock) and resumes the same server session (missed
 * events replayed after the last `seq`); calls waiting for an answer are resent with their IDs, which the
 * server answers once. If the server no longer knows the session, the link logs in afresh and rejoins
 * its channels (`onFreshLogin`). Transfers in flight fail with `Network`: the transfer machine asks the
 * hub's offset and resumes. Standard WebSocket API only: runs in Node (with `ws`) and in browsers.
 *
 * With the nodes of a cluster (decision 96) each socket opens at the node the transport's choice says
 * (`node-choice.ts`): the first login and every reconnect try the current node, then the next while
 * nodes do not answer (refused, cut before the welcome, or silent for `NODE_ANSWER_MS`), each at most
 * once per attempt; a reconnect at another node sends the same `resume: { sessionId, lastSeq }`.
 * @module
 */
import * as E from 'fp-ts/lib/Either.js';
import { abortableReleasing, abortFault } from '../src/core/abort.js';
import { type Clock, type TimerHandle, unrefTimer } from '../src/core/clock.js';
import { decodeFailure } from '../src/protocol/codec.js';
import { Failure, type FaultError, failureOf, fault } from '../src/core/failure.js';
import { IdMap } from '../src/core/id-map.js';
import { createActor } from 'xstate';
import { type LinkAttemptOutcome, type LinkEnding, type LinkEvent, type LinkState, linkMachine, linkStateOf } from '../machines/link.js';
import { answeredWithin, movedOn, NODE_ANSWER_MS, type Nodes, onEachNode } from './node-choice.js';
import type { Credentials } from './transport.js';
import { textBatcher } from '../src/protocol/ws-batch.js';
import type { WebSocketConstructor, WebSocketLike } from '../src/platform/websocket.js';
import { type ClientFrame, CloseCode, type DataFrame, decodeData, decodeServerFrame, decodeServerFrames, type ServerFrame, WS_CHUNK_SIZE, WS_LARGE_CHUNK_SIZE, WS_PROTOCOL_VERSION } from '../src/protocol/ws-frames.js';

/** A call's body: the `call` frame without `type` and `id`. */
export type CallBody = { readonly op: string } & Readonly<Record<string, unknown>>;

/** What a transfer hears from the link. */
export interface TransferHandler {
  ack?(offset: number, limit: number): void;
  data?(frame: DataFrame): void;
}

/** Options of {@link openLink}. */
export interface LinkOptions {
  /** The WebSocket URLs of the nodes (one for a single server) and the transport's choice among them. */
  readonly nodes: Nodes;
  readonly WebSocket: WebSocketConstructor;
  readonly credentials: Credentials;
  readonly clock: Clock;
  readonly reconnectDelays: readonly number[];
  readonly heartbeatMs: number;
  readonly highWaterMark: number;
  /** Every event frame's payload, in order, once (replays are deduplicated by `seq`). */
  readonly onEvent: (event: unknown) => void;
  readonly onConnection: (state: 'RECONNECTING' | 'CONNECTED') => void;
  /** The session ended for good: why, unless we closed it ourselves. */
  readonly onEnd: (ending: LinkEnding | undefined) => void;
  /** After a reconnect that had to log in afresh: the session must rejoin its channels. */
  readonly onFreshLogin: () => void;
}

/** An open link. */
export interface Link {
  readonly state: LinkState;
  /** When the token of the first login expires, if the server said (`welcome.expiresAt`). */
  readonly expiresAt: number | undefined;
  /** The most media bytes of a data frame on the current socket (the welcome's `chunkSize`, by protocol version). */
  readonly chunkSize: number;
  /** Renews the token (`renewToken` call); later logins on a new socket use it. Resolves with the answer. */
  renew(token: string, signal: AbortSignal): Promise<unknown>;
  /** A call; waits while reconnecting (until the signal aborts). Transfer calls (`transfer`) are not resent. */
  call(body: CallBody, signal: AbortSignal | undefined, transfer?: number): Promise<unknown>;
  /** Sends a control frame if a socket is open; dropped otherwise (cancel and credit die with their socket). */
  control(frame: ClientFrame): void;
  /**
   * Sends a data frame in FIFO order once the bytes the socket has not written are under the high-water
   * mark; rejects (and drops the frame) when the signal aborts first. Resolves without sending if the
   * socket drops. Once it resolved the caller may reuse `frame`: the standard `send` copies it; a socket
   * with `sendOwned` (Node) masks it in place, and this resolves once the socket wrote it.
   */
  data(frame: Uint8Array<ArrayBuffer>, signal: AbortSignal): Promise<void>;
  /** A new transfer ID and its handler; `end` it when the transfer ends. */
  transfer(handler: TransferHandler): { readonly id: number; end(): void };
  /**
   * The caller is done with the chunk of a data frame it was handed (and so is everyone it lent it to):
   * a socket that pools what it receives (`WebSocketLike.recycle`) may reuse the memory. Once per chunk.
   */
  recycle(chunk: Uint8Array): void;
  /** Logs out (bounded by the signal) and closes. Idempotent. */
  close(signal: AbortSignal): Promise<void>;
}

/**
 * A call waiting for its answer. It is its own abort listener (`handleEvent`), so a call allocates no
 * closures beyond its promise's: with a hundred messages in flight this is per-message cost.
 */
class Pending {
  sent = false;
  constructor(
    readonly id: number,
    readonly body: CallBody,
    readonly transfer: number | undefined,
    private readonly signal: AbortSignal | undefined,
    private readonly waiting: IdMap<Pending>,
    private readonly onValue: (value: unknown) => void,
    private readonly onError: (error: FaultError) => void,
  ) {
    signal?.addEventListener('abort', this, { once: true });
  }
  /** The call's signal aborted: it stops waiting (an answer that comes later is dropped). */
  handleEvent(): void {
    this.waiting.delete(this.id);
    this.onError(abortFault(this.signal as AbortSignal));
  }
  resolve(value: unknown): void {
    this.signal?.removeEventListener('abort', this);
    this.onValue(value);
  }
  reject(error: FaultError): void {
    this.signal?.removeEventListener('abort', this);
    this.onError(error);
  }
}

const OPEN = 1;

/** A session to resume: its ID and the last event seen. */
type Resume = { readonly sessionId: string; readonly lastSeq: number };

/** Opens a socket to `url` and logs in; rejects with the server's failure or `Network`. */
const handshake = (url: string, options: LinkOptions, credentials: Credentials, resume: Resume | undefined) =>
  new Promise<{ socket: WebSocketLike; welcome: Extract<ServerFrame, { type: 'welcome' }>; early: unknown[] }>((resolve, reject) => {
    const socket = new options.WebSocket(url);
    socket.binaryType = 'arraybuffer';
    const { userId, token } = credentials;
    let welcomed = false;
    // `batch`: this client reads text frames holding several control frames; `eventRuns`: and `events` frames.
    socket.onopen = () =>
      socket.send(JSON.stringify({ type: 'hello', version: WS_PROTOCOL_VERSION, userId, token, batch: true, eventRuns: true, ...(resume ? { resume } : {}) }));
    socket.onerror = () => undefined;
    socket.onclose = (event: { code: number; reason: string }) =>
      reject(fault(Failure.network(`the socket closed during login (${event.code}${event.reason ? ` ${event.reason}` : ''})`)));
    // Frames right behind the welcome (replayed events) may arrive before the link takes the socket over.
    const early: unknown[] = [];
    socket.onmessage = (event: { data: unknown }) => {
      if (welcomed) return early.push(event.data);
      const frame = typeof event.data === 'string' ? decodeServerFrame(event.data) : E.left(Failure.unknown('binary frame before welcome'));
      if (E.isRight(frame) && frame.right.type === 'welcome') {
        welcomed = true;
        return resolve({ socket, welcome: frame.right, early });
      }
      socket.close();
      reject(fault(E.isRight(frame) && frame.right.type === 'error' ? decodeFailure(frame.right.failure) : Failure.unknown('the server did not welcome the login')));
    };
  });

/**
 * {@link handshake}, stopped by `signal`: on abort it rejects at once, and the socket is closed once it
 * has opened (closing one still connecting is not portable across WebSocket implementations).
 */
const opened = (url: string, options: LinkOptions, credentials: Credentials, resume: Resume | undefined, signal: AbortSignal): ReturnType<typeof handshake> => {
  if (signal.aborted) return Promise.reject(abortFault(signal));
  return abortableReleasing(handshake(url, options, credentials, resume), signal, ({ socket }) => socket.close(CloseCode.normal));
};

/**
 * {@link opened} at `node`, telling the node choice what came of it: a node that did not answer (the
 * socket closed before the welcome, or, with another node to try, no welcome within `NODE_ANSWER_MS`)
 * is unreachable; a welcome or a refusal is an answer.
 */
const openedAt = async (node: number, options: LinkOptions, credentials: Credentials, resume: Resume | undefined, signal: AbortSignal): ReturnType<typeof handshake> => {
  const { nodes } = options;
  const answerMs = nodes.urls.length > 1 ? NODE_ANSWER_MS : undefined;
  try {
    const result = await answeredWithin(options.clock, answerMs, signal, (within) => opened(nodes.urls[node] as string, options, credentials, resume, within));
    nodes.answered(node);
    return result;
  } catch (error) {
    if (!signal.aborted) {
      if (failureOf(error)._tag === 'Network') nodes.unreachable(node);
      else nodes.answered(node);
    }
    throw error;
  }
};

/** {@link openedAt} the current node, and the next ones while nodes do not answer, each at most once. */
const openedOnNodes = (options: LinkOptions, credentials: Credentials, resume: Resume | undefined, signal: AbortSignal): ReturnType<typeof handshake> => {
  const { nodes } = options;
  let node = nodes.current;
  return onEachNode(
    nodes.urls.length,
    () => {
      node = nodes.current;
      return openedAt(node, options, credentials, resume, signal);
    },
    (error) => !signal.aborted && movedOn(nodes, node, error),
  );
};

/** Logs in over a new socket; the link then keeps itself connected until `close` or the session ends. */
export const openLink = async (options: LinkOptions, signal: AbortSignal): Promise<Link> => {
  const { clock } = options;
  let credentials = options.credentials;
  const first = await openedOnNodes(options, credentials, undefined, signal);

  let socket: WebSocketLike | undefined = first.socket;
  /** The last socket attached, kept while reconnecting: it takes back received memory (`recycle`). */
  let recycler: WebSocketLike = first.socket;
  let sessionId = first.welcome.sessionId;
  /** The link machine's state, mirrored for the per-call and per-frame paths (they never ask the actor). */
  let state: Link['state'] = 'open';
  let lastSeq = 0;
  let nextId = 1;
  let nextTransfer = 1;
  /** The data frame size of the current socket's protocol (a server of version 1 says 64 KiB). */
  let chunkSize = Math.min(WS_LARGE_CHUNK_SIZE, Math.max(1, first.welcome.chunkSize || WS_CHUNK_SIZE));
  /** Bytes handed to `sendOwned` and not written yet (the socket's `bufferedAmount` counts them too). */
  let owned = 0;
  /** The frames handed to `sendOwned` and not written yet: released to their senders if the socket drops. */
  const handed = new Set<{ readonly resolve: () => void }>();
  let lastHeard = clock.now();
  /** Whether the socket of the last reconnect is a fresh login (the server no longer knew the session). */
  let freshLogin = false;
  // Not a `Map`: its churn would make the young GC promote every call's objects (`src/core/id-map.ts`).
  const pending = new IdMap<Pending>();
  const transfers = new Map<number, TransferHandler>();
  const outbox: { readonly frame: Uint8Array<ArrayBuffer>; readonly resolve: () => void }[] = [];
  let pumpTimer: TimerHandle | undefined;
  let heartbeat: TimerHandle | undefined;

  // Control frames of one turn go out as one text frame (the server reads batches from any client).
  const batch = textBatcher((text) => {
    if (socket?.readyState === OPEN) socket.send(text);
  });
  const send = (frame: ClientFrame): void => {
    if (socket?.readyState === OPEN) batch.push(frame);
  };
  const sendCall = (id: number, entry: Pending): void => {
    entry.sent = true;
    send({ type: 'call', id, ...entry.body } as ClientFrame);
  };
  /**
   * Sends queued data frames while the socket's unwritten bytes are under the high-water mark. A socket
   * with `sendOwned` says when it wrote each frame, which wakes this, and then a frame goes only if it
   * fits under the mark with those still unwritten (or none is), so a control frame waits behind at most
   * the mark or one frame; the standard API has no drain event, so without it this polls while frames
   * wait.
   */
  const pump = (): void => {
    clock.clearTimeout(pumpTimer);
    pumpTimer = undefined;
    // Control frames queued before a data frame leave before it.
    if (outbox.length > 0) batch.flush();
    const current = socket;
    const mark = options.highWaterMark;
    while (current?.readyState === OPEN && outbox.length > 0) {
      const next = outbox[0] as (typeof outbox)[number];
      if (current.sendOwned ? owned > 0 && owned + next.frame.length > mark : current.bufferedAmount >= mark) break;
      outbox.shift();
      if (current.sendOwned) {
        const bytes = next.frame.length;
        owned += bytes;
        handed.add(next);
        current.sendOwned(next.frame, () => {
          // Once only: a frame of a dropped socket was released by `dropped` (`owned` restarted with the next).
          if (!handed.delete(next)) return;
          owned -= bytes;
          next.resolve();
          pump();
        });
      } else {
        current.send(next.frame);
        next.resolve();
      }
    }
    if (outbox.length > 0 && current?.readyState === OPEN && !current.sendOwned) pumpTimer = clock.setTimeout(pump, 1);
  };
  /** The link ended (closed, or the session ended for good): nothing more will move. */
  const release = (ending: LinkEnding | undefined): void => {
    clock.clearTimeout(heartbeat);
    clock.clearTimeout(pumpTimer);
    batch.clear();
    releaseHanded();
    socket?.close(CloseCode.normal);
    socket = undefined;
    const all = pending.snapshot();
    pending.clear();
    for (const [, entry] of all) entry.reject(fault(Failure.notLoggedIn()));
    options.onEnd(ending);
  };

  /** Event `seq`, unless it was seen already (a replay overlaps what came before it). */
  const heard = (seq: number, event: unknown): void => {
    if (seq <= lastSeq) return;
    lastSeq = seq;
    options.onEvent(event);
  };
  const onFrame = (frame: ServerFrame): void => {
    switch (frame.type) {
      case 'result':
      case 'error': {
        const entry = frame.id === undefined ? undefined : pending.get(frame.id);
        if (!entry || frame.id === undefined) return;
        pending.delete(frame.id);
        if (frame.type === 'result') entry.resolve(frame.value);
        else entry.reject(fault(decodeFailure(frame.failure)));
        return;
      }
      case 'event':
        return heard(frame.seq, frame.event);
      case 'events':
        // Events `seq`, `seq` + 1, …, each as if it came in an `event` frame.
        for (let i = 0; i < frame.events.length; i++) heard(frame.seq + i, frame.events[i]);
        return;
      case 'ack':
        return transfers.get(frame.transfer)?.ack?.(frame.offset, frame.limit);
      default:
        return;
    }
  };
  const onMessage = (message: unknown): void => {
    lastHeard = clock.now();
    if (typeof message === 'string') {
      // A frame this client does not understand is skipped: a newer server never breaks an older client.
      for (const frame of decodeServerFrames(message)) if (E.isRight(frame)) onFrame(frame.right);
      return;
    }
    const bytes = message instanceof ArrayBuffer ? new Uint8Array(message) : ArrayBuffer.isView(message) ? new Uint8Array(message.buffer, message.byteOffset, message.byteLength) : undefined;
    const data = bytes ? decodeData(bytes, chunkSize) : undefined;
    const decoded = data && E.isRight(data) ? data.right : undefined;
    const handler = decoded ? transfers.get(decoded.transfer)?.data : undefined;
    if (decoded && handler) handler(decoded);
    // Nobody takes it (a transfer that ended, a malformed frame): its memory is free again.
    else if (bytes) recycler.recycle?.(bytes);
  };
  const attach = (next: WebSocketLike, early: readonly unknown[], welcome: Extract<ServerFrame, { type: 'welcome' }>): void => {
    socket = next;
    recycler = next;
    owned = 0;
    chunkSize = Math.min(WS_LARGE_CHUNK_SIZE, Math.max(1, welcome.chunkSize || WS_CHUNK_SIZE));
    lastHeard = clock.now();
    next.onmessage = (event: { data: unknown }) => onMessage(event.data);
    next.onclose = (event: { code: number; reason: string }) => {
      if (socket !== next) return;
      socket = undefined;
      // The hub's `aborted` event, with its cause, came before this close when the hub ended the session.
      if (event.code === CloseCode.sessionEnded) return tell({ type: 'END', ending: { reason: event.reason || 'the server ended the session', cause: 'BANNED_BY_SERVER' } });
      if (event.code === CloseCode.loginRefused) return tell({ type: 'END', ending: { reason: event.reason || 'the server refused the login', cause: 'LOGIN_FAILURE' } });
      dropped();
      tell({ type: 'DROPPED' });
    };
    for (const message of early) onMessage(message);
  };

  const dropped = (): void => {
    // Transfers die with their socket; calls wait to be resent on the next one.
    batch.clear();
    for (const [id, entry] of pending.snapshot()) {
      if (entry.transfer === undefined) entry.sent = false;
      else {
        pending.delete(id);
        entry.reject(fault(Failure.network('the socket closed')));
      }
    }
    for (const waiting of outbox.splice(0)) waiting.resolve();
    releaseHanded();
  };
  /** Frames a gone socket still held: nothing more will be written from them, so their senders may go on. */
  const releaseHanded = (): void => {
    const all = [...handed];
    handed.clear();
    owned = 0;
    for (const waiting of all) waiting.resolve();
  };
  /** One reconnect attempt (the link machine decides when): a new socket resuming the session. */
  const reconnect = async (attemptSignal: AbortSignal): Promise<LinkAttemptOutcome> => {
    let next: Awaited<ReturnType<typeof handshake>>;
    try {
      next = await openedOnNodes(options, credentials, { sessionId, lastSeq }, attemptSignal);
    } catch (error) {
      const failure = (error as FaultError).failure;
      // A server back from a restart may refuse for a while (login rate); any other refusal is final.
      if (failure?._tag === 'TooOften') return { type: 'retry', afterMs: failure.retryAfterMs };
      if (!failure || failure._tag === 'Network' || failure._tag === 'Unknown' || failure._tag === 'Interrupted') throw error;
      return {
        type: 'ended',
        ending: { reason: `the server refused the login: ${failure._tag}`, cause: failure._tag === 'TokenExpired' ? 'TOKEN_EXPIRED' : 'LOGIN_FAILURE' },
      };
    }
    if (attemptSignal.aborted) {
      // Closing began while the socket opened: it is not taken.
      next.socket.close(CloseCode.normal);
      throw abortFault(attemptSignal);
    }
    sessionId = next.welcome.sessionId;
    freshLogin = !next.welcome.resumed;
    if (freshLogin) lastSeq = 0;
    attach(next.socket, next.early, next.welcome);
    return { type: 'restored' };
  };

  const actor = createActor(linkMachine, { clock, input: { delays: options.reconnectDelays, reconnect } });
  /** Tells the link machine, unless it has finished (an ended link takes nothing more). */
  const tell = (event: LinkEvent): void => {
    if (actor.getSnapshot().status === 'active') actor.send(event);
  };
  actor.subscribe((snapshot) => {
    state = linkStateOf(snapshot.value);
  });
  actor.on('dropped', () => options.onConnection('RECONNECTING'));
  actor.on('restored', () => {
    if (freshLogin) options.onFreshLogin();
    options.onConnection('CONNECTED');
    for (const [id, entry] of pending.snapshot()) if (!entry.sent) sendCall(id, entry);
  });
  actor.on('ended', ({ ending }) => release(ending));
  actor.start();

  const beat = (): void => {
    const silent = clock.now() - lastHeard;
    if (state === 'open' && silent >= 2 * options.heartbeatMs) socket?.close();
    else if (state === 'open' && silent >= options.heartbeatMs) send({ type: 'ping' });
    if (state !== 'ended') {
      // The socket keeps a process alive while it is open; the heartbeat alone must not.
      heartbeat = clock.setTimeout(beat, options.heartbeatMs / 2);
      unrefTimer(heartbeat);
    }
  };
  attach(first.socket, first.early, first.welcome);
  beat();

  const link: Link = {
    get state() {
      return state;
    },
    expiresAt: first.welcome.expiresAt,
    get chunkSize() {
      return chunkSize;
    },
    async renew(token, renewSignal) {
      const answer = await link.call({ op: 'renewToken', token }, renewSignal);
      credentials = { ...credentials, token };
      return answer;
    },
    call(body, callSignal, transfer) {
      if (state === 'ended' || state === 'closing') return Promise.reject(fault(Failure.notLoggedIn()));
      if (callSignal?.aborted) return Promise.reject(abortFault(callSignal));
      const id = nextId++;
      return new Promise<unknown>((resolve, reject) => {
        const entry = new Pending(id, body, transfer, callSignal, pending, resolve, reject);
        pending.set(id, entry);
        if (state === 'open') sendCall(id, entry);
      });
    },
    control: send,
    data(frame, dataSignal) {
      if (dataSignal.aborted) return Promise.reject(abortFault(dataSignal));
      return new Promise<void>((resolve, reject) => {
        const onDataAbort = (): void => {
          const at = outbox.indexOf(waiting);
          if (at >= 0) outbox.splice(at, 1);
          reject(abortFault(dataSignal));
        };
        const waiting = {
          frame,
          resolve: () => {
            dataSignal.removeEventListener('abort', onDataAbort);
            resolve();
          },
        };
        dataSignal.addEventListener('abort', onDataAbort, { once: true });
        outbox.push(waiting);
        pump();
      });
    },
    transfer(handler) {
      const id = nextTransfer++;
      transfers.set(id, handler);
      return { id, end: () => transfers.delete(id) };
    },
    recycle(chunk) {
      // Through the last socket attached, also while reconnecting: the pool is the platform's, not the socket's.
      recycler.recycle?.(chunk);
    },
    async close(closeSignal) {
      if (state === 'ended' || state === 'closing') return;
      // The logout leaves before the machine closes: from `closing` on, no call starts.
      const logout = state === 'open' ? link.call({ op: 'logout' }, closeSignal) : undefined;
      tell({ type: 'CLOSE' });
      try {
        await logout;
      } catch {
        // The server forgets the session when its grace runs out anyway; the goal is a closed link.
      } finally {
        tell({ type: 'CLOSED' });
      }
    },
  };
  return link;
};
