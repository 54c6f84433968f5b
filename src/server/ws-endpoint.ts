/**
 * The WebSocket endpoint of the server (`/v1/ws`, upgraded on the same `node:http` server, same hub):
 * one socket per client carrying JSON control frames and binary data frames (`docs/protocol-ws.md`).
 * This file owns a socket's life: authentication by the first frame within `authTimeoutMs`, ping/pong,
 * decoding and dispatch, and teardown; `ws-sessions.ts` keeps sessions across sockets (grace, replay and
 * eviction in `server-sessions.ts`, shared with the event streams), `ws-transfer-calls.ts` moves bytes
 * with credit, `ws-output.ts` bounds what waits to be sent. A socket is one `Connection` object with its
 * handlers on the prototype, and one ping timer serves every socket: a logged-in socket holds fields, not
 * closures or timers of its own (decision 119).
 * @module
 */
import type { IncomingMessage } from 'node:http';
import type { Duplex } from 'node:stream';
import * as E from 'fp-ts/lib/Either.js';
import { type WebSocket, WebSocketServer } from 'ws';
import { type Clock, systemClock, type TimerHandle, unrefTimer } from '../core/clock.js';
import { offeredFileName } from '../core/files.js';
import { describeFailure, Failure, FaultError, failureOf, fault } from '../core/failure.js';
import type { Hub } from '../hub/hub.js';
import type { HubEvent } from '../hub/message-bus.js';
import { type CallFrame, chunkSizeOf, DATA_HEADER_SIZE, type ClientFrame, CloseCode, decodeClientFrame, decodeClientFrames, decodeData, type ServerFrame, WS_CHUNK_SIZE, WS_MAX_DATA_FRAME, WS_MAX_FRAME, WS_PROTOCOL_VERSIONS, uploadCredit, WS_UPLOAD_WINDOW } from '../protocol/ws-frames.js';
import { memberCountsAnswer, presenceAnswer } from '../protocol/messaging-codec.js';
import { DEFAULT_SERVER_LIMITS, type ServerLimits } from './server-limits.js';
import { PerKeyCount } from './per-key-count.js';
import { RunJoiner, SocketOutput, type WsOutputOptions } from './ws-output.js';
import { type WsSession, type WsSessions, wsSessions } from './ws-sessions.js';
import { WsSocketSink } from './ws-sink.js';
import { every } from './clock-interval.js';
import { type ServerTransfer, serverRead, serverUpload } from './ws-transfer-calls.js';

/** Options of {@link wsRoute}. */
export interface WsRouteOptions {
  readonly hub: Hub;
  /** The path upgraded, e.g. `/v1/ws`; other paths are refused with 404. */
  readonly path: string;
  /** A socket that has not sent a valid `hello` within this long is closed. Default: 10 s. */
  readonly authTimeoutMs?: number;
  /** A ping goes out this often; a socket that answered nothing since the previous one is cut. Default: 15 s. */
  readonly pingIntervalMs?: number;
  /** How long a session outlives its socket, for the client to resume it (on the hub's clock). Default: 60 s. */
  readonly graceMs?: number;
  /**
   * The clock of the socket timers (the hello deadline, pings, the cut of a peer that does not close).
   * Default: the system clock: they watch real sockets, whose peers answer in real time, so a hub on
   * virtual time (a spec fast-forwarding days) must not cut them (decision 82).
   * @example { clock: virtualClock() } // a spec that drives pings itself
   */
  readonly clock?: Clock;
  /**
   * Told of an exception a handler threw (a bug: it was answered as a server fault to that call alone).
   * Default: `console.error`. @example { onFault: (error, where) => logger.error({ err: error, where }, 'ws handler failed') }
   */
  readonly onFault?: (error: unknown, where: string) => void;
  /** Told when a socket is cut for reading too slowly (metrics). */
  readonly onSlowReader?: () => void;
  /** Told when a call is refused, or a session forgotten early, by a limit of the endpoint's own (metrics). */
  readonly onLimit?: (limit: 'transfersPerUser' | 'sessionsPerUser') => void;
  /** The server's limits on sessions per user, their replay and slow readers. Default: `DEFAULT_SERVER_LIMITS`. */
  readonly limits?: Pick<ServerLimits, 'sessionsPerUser' | 'replayBytes' | 'slowReaderBytes' | 'transfersPerUser'>;
  /** Told of each call at debug level (`reqId` is `<sessionId>:<call id>`; never a token or a message). Default: none. */
  readonly logger?: { debug(fields: Readonly<Record<string, unknown>>, message: string): void };
  /**
   * Whether a `hello` may resume a session another server sharing the hub's bus and secret held (its
   * server died or closed): on when the bus is shared. Default: `false`. @example { adopt: true }
   */
  readonly adopt?: boolean;
}

/** The WebSocket endpoint: hand it the server's `upgrade` events. */
export interface WsRoute {
  upgrade(req: IncomingMessage, socket: Duplex, head: Buffer): void;
  /**
   * Closes every socket (code 1001, so clients may reconnect to a restarted server, or another one) and
   * forgets the sessions: logged out at the hub, or with `handOver` left on the bus for their clients to
   * resume through another server sharing it.
   */
  close(options?: { readonly handOver?: boolean }): void;
}

/** The answer to a call whose handler threw: a fault of the server, not of the call's arguments. */
const serverFault = Failure.unknown('the server failed on this request (logged); try again');

/** Bad frames tolerated per socket (each answered with an error frame) before it is closed. */
const MAX_BAD_FRAMES = 100;
/**
 * Frames a client may send before its welcome (while the hub logs it in): a client that pipelines calls
 * behind its hello is served in order; more than this is not a client waiting for an answer.
 */
const MAX_EARLY_FRAMES = 64;

const errorFrame = (failure: Failure, id?: number): ServerFrame => ({
  type: 'error',
  ...(id === undefined ? {} : { id }),
  failure,
  message: describeFailure(failure),
});

/** The bytes of a `ws` message as one buffer (fragments are concatenated by `ws` with the default binaryType). */
const bytesOf = (data: Buffer | ArrayBuffer | Buffer[]): Buffer =>
  Array.isArray(data) ? Buffer.concat(data) : Buffer.isBuffer(data) ? data : Buffer.from(data);

/** A running transfer of a socket, by its transfer ID. */
interface Running {
  readonly transfer: ServerTransfer;
  readonly controller: AbortController;
  failure?: Failure;
}

/** What every socket of one endpoint shares (one object per endpoint, not per socket). */
interface Endpoint {
  readonly hub: Hub;
  readonly options: WsRouteOptions;
  readonly clock: Clock;
  readonly authTimeoutMs: number;
  readonly onFault: (error: unknown, where: string) => void;
  readonly sessions: WsSessions;
  /**
   * Appends running by user and upload ID, so a session's cleanup terminates an upload only after its
   * append stopped. Registered once the hub accepted the upload as the user's: an append to someone
   * else's ID never takes the owner's place (as over tus).
   */
  readonly appends: Map<string, Promise<unknown>>;
  /**
   * Removes what is left of `uploadId` once its append (if one runs) stopped, unless it completed: the
   * cleanup of a session that was kicked or logged out. Never rejects; a cleanup that fails leaves the
   * partial upload to the sweep.
   */
  removeUnfinished(userId: string, uploadId: string): void;
  /** Transfers running per user, over all their sockets (each holds a file and buffers). */
  readonly transfersByUser: PerKeyCount;
  readonly transfersPerUser: number;
  readonly connections: Set<Connection>;
  /** The options of every socket's output. */
  readonly output: WsOutputOptions;
  /**
   * The failure a call answers with: the one it was refused with (a `FaultError`), or for anything else
   * thrown (a bug), a server fault that names nothing internal, the bug being logged.
   */
  failureOfCall(error: unknown, where: string): Failure;
}

const appendKey = (userId: string, uploadId: string): string => `${userId}\n${uploadId}`;

/**
 * Records `uploadId` as one of the session's unfinished uploads. False when the session's cleanup already
 * ran (it ended while the upload was being created or accepted): the caller removes the upload itself.
 */
const ownUpload = (s: WsSession, uploadId: string): boolean => {
  if (s.uploads === 'ended') return false;
  if (s.uploads === undefined) s.uploads = new Set([uploadId]);
  else s.uploads.add(uploadId);
  return true;
};

/** The session no longer needs to remove `uploadId` at its end: it completed or was terminated. */
const disownUpload = (s: WsSession, uploadId: string): void => {
  if (s.uploads instanceof Set) s.uploads.delete(uploadId);
};

const either = <T>(result: E.Either<Failure, T>): T => {
  if (E.isLeft(result)) throw fault(result.left);
  return result.right;
};

/**
 * A socket's 'error' (a frame over maxPayload, a bad opcode, a reset) is followed by 'close'; that is where
 * teardown happens. One function for every socket.
 */
const ignoreError = (): void => undefined;

/**
 * The connection of each socket, for the socket's listeners: functions shared by every socket (`this` is
 * the socket, as `ws` emits), not three closures per socket (decision 119).
 */
const connectionOf = new WeakMap<WebSocket, Connection>();

function onMessage(this: WebSocket, raw: Buffer | ArrayBuffer | Buffer[], isBinary: boolean): void {
  const connection = connectionOf.get(this);
  if (!connection) return;
  connection.alive = true;
  connection.receive(bytesOf(raw), isBinary);
}

function onPong(this: WebSocket): void {
  const connection = connectionOf.get(this);
  if (connection) connection.alive = true;
}

function onClose(this: WebSocket): void {
  connectionOf.get(this)?.closed();
  connectionOf.delete(this);
}

/**
 * One socket: its state, and its handling of frames as methods on the prototype rather than dozens of
 * closures per socket (decision 119). It is also the socket's session sink (`WsSocketSink`): events and
 * answers of its session go out through its output.
 */
class Connection extends WsSocketSink<SocketOutput> {
  /** Transfers of this socket by transfer ID; `undefined` until its first. */
  private transfers: Map<number, Running> | undefined;
  session: WsSession | undefined;
  private maxTransfer = 0;
  private badFrames = 0;
  /** Whether the peer sent anything (a pong included) since the last ping. */
  alive = true;
  /** The most media bytes of a data frame either way: by the version of the client's hello. */
  private chunkSize = WS_CHUNK_SIZE;
  /** Whether the client's hello said it reads `events` frames (runs of events, decision 127). */
  private eventRuns = false;
  /**
   * The uploads of this socket, oldest first: they share WS_UPLOAD_WINDOW of credit (see
   * {@link Connection.uploadWindow}); `undefined` until its first, as a Set's table is most of an idle
   * session's cost beyond `ws`'s own.
   */
  private uploading: Set<number> | undefined;
  /** The hello deadline, until a session is held; dropped once cleared. */
  private authTimer: TimerHandle | undefined;
  /** Frames that came while the hello was being answered, handled after it in order; `undefined` otherwise. */
  private early: { readonly bytes: Buffer; readonly isBinary: boolean }[] | undefined;

  constructor(
    readonly ws: WebSocket,
    private readonly endpoint: Endpoint,
  ) {
    super(ws, new SocketOutput(ws, endpoint.output), endpoint.options.onSlowReader);
    this.authTimer = endpoint.clock.setTimeout(() => this.refuse(Failure.invalidToken(`no hello within ${endpoint.authTimeoutMs} ms`), CloseCode.policy), endpoint.authTimeoutMs);
    unrefTimer(this.authTimer);
  }

  /** Listens to its socket, with the listeners every socket shares. */
  listen(): void {
    connectionOf.set(this.ws, this);
    this.ws.on('message', onMessage);
    this.ws.on('pong', onPong);
    this.ws.on('error', ignoreError);
    this.ws.on('close', onClose);
  }

  private stopAuthTimer(): void {
    this.endpoint.clock.clearTimeout(this.authTimer);
    // Not kept once cleared: a timer and its callback for every logged-in socket (decision 119).
    this.authTimer = undefined;
  }

  private refuse(failure: Failure, code: number): void {
    this.output.sendText(errorFrame(failure));
    this.output.end(code, describeFailure(failure).slice(0, 120));
  }

  private bad(failure: Failure, id?: number): void {
    this.output.sendText(errorFrame(failure, id));
    if (++this.badFrames > MAX_BAD_FRAMES) this.output.end(CloseCode.policy, 'too many bad frames');
  }

  /**
   * The last resort: whatever a handler throws is a bug of ours, never the caller's. It is logged and
   * answered as a server fault to that call alone; the socket, the session and the process go on.
   */
  private guarded(id: number | undefined, frame: ClientFrame | Buffer, s: WsSession | undefined): void {
    try {
      if (Buffer.isBuffer(frame)) this.data(frame);
      else this.control(s as WsSession, frame);
    } catch (error) {
      this.endpoint.onFault(error, id === undefined ? 'frame' : `call ${id}`);
      if (this.ws.readyState === this.ws.OPEN) this.output.sendText(errorFrame(serverFault, id));
    }
  }

  private async hello(text: string): Promise<void> {
    const { hub, sessions } = this.endpoint;
    const decoded = decodeClientFrame(text);
    if (E.isLeft(decoded) || decoded.right.type !== 'hello') {
      return this.refuse(E.isLeft(decoded) ? decoded.left : Failure.notLoggedIn(), CloseCode.policy);
    }
    const frame = decoded.right;
    if (!WS_PROTOCOL_VERSIONS.includes(frame.version)) return this.refuse(Failure.invalidArgument('version', `expected one of ${WS_PROTOCOL_VERSIONS.join(', ')}`), CloseCode.policy);
    this.chunkSize = chunkSizeOf(frame.version);
    this.eventRuns = frame.eventRuns === true;
    const claims = hub.authenticate(frame.token);
    if (E.isLeft(claims)) return this.refuse(claims.left, CloseCode.loginRefused);
    const resume = claims.right.userId === frame.userId ? frame.resume : undefined;
    // The hello deadline runs until a session is held: a login the hub never answers is cut by it too.
    const known = resume ? sessions.get(resume.sessionId) : undefined;
    if (known && resume && known.hub.userId === frame.userId) return this.resumeOn(known, resume.lastSeq, frame.batch === true);
    const ended = resume ? sessions.tombstone(resume.sessionId, claims.right.userId) : undefined;
    if (ended && resume) return this.endedOn(resume.sessionId, ended.seq ?? resume.lastSeq + 1, ended.event);
    // Held by another server sharing the bus (it died, closed, or the client moved): taken over here.
    if (resume && !known) {
      const adopted = await sessions.adopt(resume.sessionId, claims.right.userId, frame.token, resume.lastSeq);
      if (adopted.state === 'ended') return this.endedOn(resume.sessionId, adopted.seq, adopted.event);
      // A socket gone meanwhile leaves the session to its grace, as a drop does.
      if (adopted.state === 'resumed') return this.ws.readyState === this.ws.OPEN ? this.resumeOn(adopted.session, resume.lastSeq, frame.batch === true) : undefined;
    }
    const login = await hub.login(frame.userId, frame.token);
    if (E.isLeft(login)) return this.refuse(login.left, CloseCode.loginRefused);
    // The socket went while the hub logged it in: nobody is there to hold the session.
    if (this.ws.readyState !== this.ws.OPEN) {
      hub.logout(login.right).catch((error: unknown) => this.endpoint.onFault(error, 'logout'));
      return;
    }
    this.stopAuthTimer();
    const session = sessions.open(login.right);
    this.session = session;
    sessions.attach(session, this, 0);
    this.welcome(session, false, frame.batch === true);
  }

  /** The welcome, then batching if the client reads batches (and runs, if it reads those), then the session's events. */
  private welcome(session: WsSession, resumed: boolean, batch: boolean): void {
    const expiresAt = this.endpoint.hub.tokenExpiresAt(session.hub);
    this.output.sendText({ type: 'welcome', sessionId: session.id, resumed, chunkSize: this.chunkSize, window: WS_UPLOAD_WINDOW, ...(expiresAt === undefined ? {} : { expiresAt }) });
    // After the welcome, which so always goes alone: a client reads it before it reads anything else.
    if (batch) this.output.batch(this.eventRuns);
    this.endpoint.sessions.pump(session);
  }

  /** The client resumes `resumed`: its events after `lastSeq`; an ended session's last ones, then the close that says it ended. */
  private resumeOn(resumed: WsSession, lastSeq: number, batch: boolean): void {
    this.stopAuthTimer();
    this.session = resumed;
    this.endpoint.sessions.attach(resumed, this, lastSeq);
    this.welcome(resumed, true, batch);
  }

  /**
   * A session the hub ended (a login elsewhere) and that was forgotten since, or that ended while another
   * server held it: the client is told so, as if it had resumed an ended session, instead of logging in
   * afresh and taking the session back.
   */
  private endedOn(sessionId: string, seq: number, event: HubEvent): void {
    this.output.sendText({ type: 'welcome', sessionId, resumed: true, chunkSize: this.chunkSize, window: WS_UPLOAD_WINDOW });
    this.output.sendText({ type: 'event', seq, event });
    this.output.end(CloseCode.sessionEnded, 'the session ended');
  }

  /**
   * Runs a call whose answer is kept for resends and goes to whichever socket the session has then. A
   * call the hub answers synchronously (messages, channels) is answered in the same turn: no promise
   * per message.
   */
  private answer(s: WsSession, id: number, run: () => unknown): void {
    const kept = s.answers?.get(id);
    if (kept) return this.output.sendText(kept);
    if (s.running?.has(id) === true) return;
    let value: unknown;
    try {
      value = run();
    } catch (error) {
      return settle(this.endpoint.sessions, s, id, errorFrame(this.endpoint.failureOfCall(error, `call ${id}`), id));
    }
    if (!(value instanceof Promise)) return settle(this.endpoint.sessions, s, id, { type: 'result', id, value: value ?? null });
    (s.running ??= new Set()).add(id);
    const { endpoint } = this;
    value
      .then(
        (v: unknown) => settle(this.endpoint.sessions, s, id, { type: 'result', id, value: v ?? null }),
        (error: unknown) => settle(this.endpoint.sessions, s, id, errorFrame(endpoint.failureOfCall(error, `call ${id}`), id)),
      )
      .catch((error: unknown) => {
        endpoint.onFault(error, `call ${id}`);
        try {
          settle(this.endpoint.sessions, s, id, errorFrame(serverFault, id));
        } catch (again) {
          endpoint.onFault(again, `call ${id}`);
          if (this.ws.readyState === this.ws.OPEN) this.output.sendText(errorFrame(serverFault, id));
        }
      });
  }

  /** The credit of upload `transfer` beyond its kept offset now: its share of the socket's by age ({@link uploadCredit}). */
  private uploadWindow(transfer: number): number {
    let rank = 0;
    for (const other of this.uploading ?? []) {
      if (other === transfer) break;
      rank++;
    }
    return uploadCredit(rank, this.uploading?.size ?? 0);
  }

  private transfer(s: WsSession, call: CallFrame & { readonly op: 'append' | 'read' }): void {
    const { hub, appends, transfersByUser } = this.endpoint;
    if (call.transfer <= this.maxTransfer) return this.bad(Failure.invalidArgument('transfer', `transfer IDs must increase; ${call.transfer} after ${this.maxTransfer}`), call.id);
    this.maxTransfer = call.transfer;
    const userId = s.hub.userId;
    if (!transfersByUser.acquire(userId)) {
      this.endpoint.options.onLimit?.('transfersPerUser');
      return this.output.sendText(errorFrame(Failure.limitExceeded('WebSocket transfers at once per user', this.endpoint.transfersPerUser), call.id));
    }
    const controller = new AbortController();
    // Counted before it starts, so its first credit is its share.
    if (call.op === 'append') (this.uploading ??= new Set()).add(call.transfer);
    let started: ReturnType<typeof serverUpload> | ReturnType<typeof serverRead>;
    try {
      started =
        call.op === 'append'
          ? serverUpload(hub, userId, this.output, call, controller, () => this.uploadWindow(call.transfer), (uploadId) => {
              appends.set(appendKey(userId, uploadId), done);
              if (!ownUpload(s, uploadId)) this.endpoint.removeUnfinished(userId, uploadId);
            })
          : serverRead(hub, this.output, call, controller, this.chunkSize);
    } catch (error) {
      transfersByUser.release(userId);
      this.uploading?.delete(call.transfer);
      throw error;
    }
    // The user's slot and the socket's share go back however the transfer ends, before its answer is built.
    void started.done.catch(() => undefined).finally(() => {
      transfersByUser.release(userId);
      this.uploading?.delete(call.transfer);
    });
    const entry: Running = { transfer: started.transfer, controller };
    const transfers = (this.transfers ??= new Map());
    transfers.set(call.transfer, entry);
    const done: Promise<unknown> = started.done.then((state) => {
      if (call.op === 'append' && 'complete' in state && state.complete) disownUpload(s, state.uploadId);
      return state;
    });
    done
      .then(
        (value): ServerFrame => ({ type: 'result', id: call.id, value }),
        (error: unknown) => errorFrame(entry.failure ?? this.endpoint.failureOfCall(error, `transfer ${call.transfer}`), call.id),
      )
      .then((frame) => {
        transfers.delete(call.transfer);
        const key = call.op === 'append' && typeof call.uploadId === 'string' ? appendKey(userId, call.uploadId) : undefined;
        if (key !== undefined && appends.get(key) === done) appends.delete(key);
        this.output.sendText(frame);
      })
      .catch((error: unknown) => this.endpoint.onFault(error, `transfer ${call.transfer}`));
  }

  private call(s: WsSession, c: CallFrame): void {
    if (s.ended) return this.output.sendText(errorFrame(Failure.notLoggedIn(), c.id));
    const { hub, appends, sessions, options } = this.endpoint;
    const who = s.hub;
    options.logger?.debug({ reqId: `${s.id}:${c.id}`, userId: who.userId, op: c.op }, 'ws call');
    switch (c.op) {
      case 'append':
      case 'read':
        return this.transfer(s, c);
      case 'createUpload':
        return this.answer(s, c.id, async () => {
          const created = await hub.createUpload(who.userId, { size: c.size, fileName: c.fileName });
          if (ownUpload(s, created.uploadId)) return created;
          // The session ended while the hub was creating it: nobody can use it, and the cleanup has run.
          this.endpoint.removeUnfinished(who.userId, created.uploadId);
          throw fault(Failure.notLoggedIn());
        });
      case 'getUpload':
        return this.answer(s, c.id, () => hub.uploadStatus(who.userId, c.uploadId));
      case 'terminateUpload':
        return this.answer(s, c.id, async () => {
          if (typeof c.uploadId === 'string') await appends.get(appendKey(who.userId, c.uploadId))?.catch(() => undefined);
          await hub.terminateUpload(who.userId, c.uploadId);
          if (typeof c.uploadId === 'string') disownUpload(s, c.uploadId);
        });
      case 'getMedia':
        return this.answer(s, c.id, async () => {
          const { mediaId, size, sha256, fileName } = await hub.mediaInfo(c.mediaId);
          return { mediaId, size, sha256, fileName: offeredFileName(fileName, mediaId) };
        });
      case 'sendToPeer':
        return this.answer(s, c.id, async () =>
          either(await hub.sendToPeer(who, c.peerId, c.message, { messageId: c.messageId, enableOfflineMessaging: c.enableOfflineMessaging })),
        );
      case 'join':
        return this.answer(s, c.id, async () => either(await hub.joinChannel(who, c.channelId)));
      case 'leave':
        return this.answer(s, c.id, async () => either(await hub.leaveChannel(who, c.channelId)));
      case 'sendToChannel':
        return this.answer(s, c.id, async () => either(await hub.sendToChannel(who, c.channelId, c.message, { messageId: c.messageId })));
      case 'members':
        return this.answer(s, c.id, async () => ({ members: either(await hub.channelMembers(who, c.channelId)) }));
      case 'channelMemberCounts':
        return this.answer(s, c.id, async () => memberCountsAnswer(either(await hub.channelMemberCounts(who, c.channelIds))));
      case 'queryPresence':
        return this.answer(s, c.id, async () => presenceAnswer(either(await hub.queryPresence(who, c.peerIds))));
      case 'subscribePresence':
        return this.answer(s, c.id, async () => either(await hub.subscribePresence(who, c.peerIds)));
      case 'unsubscribePresence':
        return this.answer(s, c.id, async () => either(await hub.unsubscribePresence(who, c.peerIds)));
      case 'renewToken':
        return this.answer(s, c.id, async () => either(await hub.renewToken(who, c.token)));
      case 'logout':
        this.output.sendText({ type: 'result', id: c.id, value: null });
        return sessions.logout(s);
    }
  }

  private data(frame: Buffer): void {
    const decoded = decodeData(frame, this.chunkSize);
    if (E.isLeft(decoded)) return this.bad(decoded.left);
    const { transfer: id, offset, chunk } = decoded.right;
    const entry = this.transfers?.get(id);
    // Data may still arrive for a transfer that just ended (cancelled, failed): dropped. Data for one
    // never opened is a client bug, reported.
    if (!entry) return id > this.maxTransfer ? this.bad(Failure.invalidArgument('transfer', `unknown transfer ${id}`)) : undefined;
    const failure = entry.transfer.receive(offset, chunk);
    if (failure) {
      entry.failure = failure;
      entry.controller.abort(fault(failure));
    }
  }

  private control(s: WsSession, frame: ClientFrame): void {
    switch (frame.type) {
      case 'call':
        return this.call(s, frame);
      case 'cancel':
        return this.transfers?.get(frame.transfer)?.controller.abort(fault(Failure.interrupted('cancelled by the client')));
      case 'credit':
        return this.transfers?.get(frame.transfer)?.transfer.credit(frame.limit);
      case 'ping':
        return this.output.sendText({ type: 'pong' });
      case 'hello':
        return this.bad(Failure.alreadyLoggedIn());
    }
  }

  private greet(text: string): void {
    this.early = [];
    void this.hello(text)
      .catch((error: unknown) => {
        this.endpoint.onFault(error, 'hello');
        this.refuse(serverFault, CloseCode.serverError);
      })
      .finally(() => {
        const waiting = this.early ?? [];
        this.early = undefined;
        for (const frame of waiting) if (this.ws.readyState === this.ws.OPEN) this.receive(frame.bytes, frame.isBinary);
      });
  }

  /** A frame from the peer. */
  receive(bytes: Buffer, isBinary: boolean): void {
    // `maxPayload` admits version 2's data frames; text frames, and data frames of version 1, stay
    // within WS_MAX_FRAME as before, refused the way `ws` refuses a frame over `maxPayload`.
    if (bytes.length > (isBinary ? this.chunkSize + DATA_HEADER_SIZE : WS_MAX_FRAME)) return void this.ws.close(CloseCode.tooBig, 'frame too big');
    if (this.early) {
      if (this.early.length >= MAX_EARLY_FRAMES) return this.refuse(Failure.invalidArgument('frame', `at most ${MAX_EARLY_FRAMES} frames before the welcome`), CloseCode.policy);
      this.early.push({ bytes, isBinary });
      return;
    }
    const s = this.session;
    if (!s) {
      if (isBinary) return this.refuse(Failure.notLoggedIn(), CloseCode.policy);
      return this.greet(bytes.toString('utf8'));
    }
    if (isBinary) return this.guarded(undefined, bytes, s);
    // One frame or a batch: each handled as if it came alone, until a bad one closes the socket.
    for (const decoded of decodeClientFrames(bytes.toString('utf8'))) {
      if (this.ws.readyState !== this.ws.OPEN) return;
      if (E.isLeft(decoded)) this.bad(decoded.left.failure, decoded.left.id);
      else this.guarded(decoded.right.type === 'call' ? decoded.right.id : undefined, decoded.right, s);
    }
  }

  /** The socket closed: its transfers stop, its session waits out its grace. */
  closed(): void {
    this.endpoint.connections.delete(this);
    this.stopAuthTimer();
    this.output.close();
    for (const entry of this.transfers?.values() ?? []) entry.controller.abort(fault(Failure.network('the socket closed')));
    if (this.session) this.endpoint.sessions.detach(this.session, this);
  }
}

/** A call's answer: kept for resends, sent to whichever socket the session has now. */
const settle = (sessions: WsSessions, s: WsSession, id: number, frame: ServerFrame): void => {
  s.running?.delete(id);
  sessions.answersOf(s).keep(id, frame);
  s.sink?.send(frame);
};

/** The WebSocket endpoint over `hub`. */
export const wsRoute = (options: WsRouteOptions): WsRoute => {
  const { hub, path } = options;
  const clock = options.clock ?? systemClock;
  const onFault = options.onFault ?? ((error: unknown, where: string) => console.error(`ferry server: ws ${where} failed`, error));
  // The largest frame of any version; each socket holds its client to its own version's limits (`receive`).
  const wss = new WebSocketServer({ noServer: true, maxPayload: WS_MAX_DATA_FRAME, perMessageDeflate: false });
  const connections = new Set<Connection>();
  const appends = new Map<string, Promise<unknown>>();
  const transfersPerUser = options.limits?.transfersPerUser ?? DEFAULT_SERVER_LIMITS.transfersPerUser;
  const removeUnfinished = (userId: string, uploadId: string): void => {
    void Promise.resolve()
      .then(() => appends.get(appendKey(userId, uploadId)))
      .catch(() => undefined)
      // Only what is still unfinished: an upload completed meanwhile (over HTTP, or by the hub) is media.
      .then(() => hub.uploadStatus(userId, uploadId))
      .then((status) => (status.complete ? undefined : hub.terminateUpload(userId, uploadId)))
      .catch(() => undefined);
  };
  const sessions = wsSessions({
    hub,
    ...(options.limits ? { sessionsPerUser: options.limits.sessionsPerUser, replayBytes: options.limits.replayBytes } : {}),
    onEvicted: () => options.onLimit?.('sessionsPerUser'),
    onFault,
    ...(options.graceMs === undefined ? {} : { graceMs: options.graceMs }),
    ...(options.adopt === undefined ? {} : { adopt: options.adopt }),
    onEnded: (session) => {
      if (session.uploads instanceof Set) for (const uploadId of session.uploads) removeUnfinished(session.hub.userId, uploadId);
      session.uploads = 'ended';
    },
  });
  const endpoint: Endpoint = {
    hub,
    options,
    clock,
    authTimeoutMs: options.authTimeoutMs ?? 10_000,
    onFault,
    sessions,
    appends,
    removeUnfinished,
    transfersByUser: new PerKeyCount(transfersPerUser),
    transfersPerUser,
    connections,
    output: {
      clock,
      // One for the endpoint: a channel message's run is joined once for all its members (decision 127).
      runs: new RunJoiner(),
      ...(options.limits ? { maxBufferedBytes: options.limits.slowReaderBytes } : {}),
      ...(options.onSlowReader ? { onTooSlow: options.onSlowReader } : {}),
    },
    failureOfCall(error, where) {
      if (error instanceof FaultError || (error instanceof Error && (error.name === 'AbortError' || error.name === 'TimeoutError'))) return failureOf(error);
      onFault(error, where);
      return serverFault;
    },
  };
  // One ping timer for every socket, not one per socket: each tick pings every socket and cuts those that
  // answered nothing since the previous tick (so a silent peer goes within two periods, as before).
  const stopPinger = every(clock, options.pingIntervalMs ?? 15_000, () => {
    for (const connection of connections) {
      if (!connection.alive) {
        connection.ws.terminate();
        continue;
      }
      connection.alive = false;
      connection.ws.ping();
    }
  });
  const connect = (ws: WebSocket): void => {
    const connection = new Connection(ws, endpoint);
    connections.add(connection);
    connection.listen();
  };

  return {
    upgrade(req, socket, head) {
      // Node's server stops listening to a socket's errors once it emits 'upgrade': a reset before our
      // answer would be an unhandled 'error', the end of the process.
      socket.on('error', ignoreError);
      let pathname: string | undefined;
      try {
        pathname = new URL(`http://server${(req.url ?? '/').split('?')[0] ?? '/'}`).pathname;
      } catch {
        pathname = undefined;
      }
      if (pathname !== path) {
        // Destroyed once written: the server's idle timeout no longer watches an upgraded socket.
        socket.end('HTTP/1.1 404 Not Found\r\nConnection: close\r\nContent-Length: 0\r\n\r\n', () => socket.destroy());
        return;
      }
      wss.handleUpgrade(req, socket, head, connect);
    },
    close(closing) {
      stopPinger();
      for (const { ws } of [...connections]) {
        ws.close(1001, 'the server is closing');
        ws.terminate();
      }
      sessions.close(closing);
      wss.close();
    },
  };
};
