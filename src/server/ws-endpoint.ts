/**
 * The WebSocket endpoint of the server (`/v1/ws`, upgraded on the same `node:http` server, same hub):
 * one socket per client carrying JSON control frames and binary data frames (`docs/protocol-ws.md`).
 * This file owns a socket's life: authentication by the first frame within `authTimeoutMs`, ping/pong,
 * decoding and dispatch, and teardown; `ws-sessions.ts` keeps sessions across sockets (grace, replay and
 * eviction in `server-sessions.ts`, shared with the event streams), `ws-transfer-calls.ts` moves bytes
 * with credit, `ws-output.ts` bounds what waits to be sent.
 * @module
 */
import type { IncomingMessage } from 'node:http';
import type { Duplex } from 'node:stream';
import * as E from 'fp-ts/lib/Either.js';
import { type WebSocket, WebSocketServer } from 'ws';
import { type Clock, systemClock, unrefTimer } from '../core/clock.js';
import { offeredFileName } from '../core/files.js';
import { describeFailure, Failure, FaultError, failureOf, fault } from '../core/failure.js';
import type { Hub } from '../hub/hub.js';
import type { HubEvent } from '../hub/message-bus.js';
import { type CallFrame, chunkSizeOf, DATA_HEADER_SIZE, type ClientFrame, CloseCode, decodeClientFrame, decodeClientFrames, decodeData, type ServerFrame, WS_CHUNK_SIZE, WS_MAX_DATA_FRAME, WS_MAX_FRAME, WS_MIN_UPLOAD_WINDOW, WS_PROTOCOL_VERSIONS, WS_UPLOAD_WINDOW } from '../protocol/ws-frames.js';
import { memberCountsAnswer, presenceAnswer } from '../protocol/messaging-codec.js';
import { DEFAULT_SERVER_LIMITS, type ServerLimits } from './server-limits.js';
import { PerKeyCount } from './per-key-count.js';
import { wsOutput } from './ws-output.js';
import { type WsSession, wsSessions } from './ws-sessions.js';
import { wsSink } from './ws-sink.js';
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

/** The WebSocket endpoint over `hub`. */
export const wsRoute = (options: WsRouteOptions): WsRoute => {
  const { hub, path } = options;
  const authTimeoutMs = options.authTimeoutMs ?? 10_000;
  const pingIntervalMs = options.pingIntervalMs ?? 15_000;
  const clock = options.clock ?? systemClock;
  const onFault = options.onFault ?? ((error: unknown, where: string) => console.error(`ferry server: ws ${where} failed`, error));
  /**
   * The failure a call answers with: the one it was refused with (a `FaultError`), or for anything else
   * thrown (a bug), a server fault that names nothing internal, the bug being logged.
   */
  const failureOfCall = (error: unknown, where: string): Failure => {
    if (error instanceof FaultError || (error instanceof Error && (error.name === 'AbortError' || error.name === 'TimeoutError'))) return failureOf(error);
    onFault(error, where);
    return serverFault;
  };
  // The largest frame of any version; each socket holds its client to its own version's limits (`receive`).
  const wss = new WebSocketServer({ noServer: true, maxPayload: WS_MAX_DATA_FRAME, perMessageDeflate: false });
  const sockets = new Set<WebSocket>();
  /**
   * Appends running by user and upload ID, so a session's cleanup terminates an upload only after its
   * append stopped. Registered once the hub accepted the upload as the user's: an append to someone
   * else's ID never takes the owner's place (as over tus).
   */
  const appends = new Map<string, Promise<unknown>>();
  const appendKey = (userId: string, uploadId: string): string => `${userId}\n${uploadId}`;
  /** Transfers running per user, over all their sockets (each holds a file and buffers). */
  const transfersPerUser = options.limits?.transfersPerUser ?? DEFAULT_SERVER_LIMITS.transfersPerUser;
  const transfersByUser = new PerKeyCount(transfersPerUser);
  const sessions = wsSessions({
    hub,
    ...(options.limits ? { sessionsPerUser: options.limits.sessionsPerUser, replayBytes: options.limits.replayBytes } : {}),
    onEvicted: () => options.onLimit?.('sessionsPerUser'),
    onFault,
    ...(options.graceMs === undefined ? {} : { graceMs: options.graceMs }),
    ...(options.adopt === undefined ? {} : { adopt: options.adopt }),
    onEnded: (session) => {
      const userId = session.hub.userId;
      for (const uploadId of session.uploads) {
        // Settled, never rejected: a cleanup that fails leaves the partial upload to the sweep.
        void Promise.resolve()
          .then(() => appends.get(appendKey(userId, uploadId)))
          .catch(() => undefined)
          // Only what is still unfinished: an upload completed meanwhile (over HTTP, or by the hub) is media.
          .then(() => hub.uploadStatus(userId, uploadId))
          .then((status) => (status.complete ? undefined : hub.terminateUpload(userId, uploadId)))
          .catch(() => undefined);
      }
      session.uploads.clear();
    },
  });

  const connection = (ws: WebSocket): void => {
    sockets.add(ws);
    const output = wsOutput(ws, {
      clock,
      ...(options.limits ? { maxBufferedBytes: options.limits.slowReaderBytes } : {}),
      ...(options.onSlowReader ? { onTooSlow: options.onSlowReader } : {}),
    });
    const transfers = new Map<number, { readonly transfer: ServerTransfer; readonly controller: AbortController; failure?: Failure }>();
    let session: WsSession | undefined;
    let maxTransfer = 0;
    let badFrames = 0;
    let alive = true;
    /** The most media bytes of a data frame either way: by the version of the client's hello. */
    let chunkSize = WS_CHUNK_SIZE;

    const sink = wsSink(ws, output, options.onSlowReader);
    const refuse = (failure: Failure, code: number): void => {
      output.sendText(errorFrame(failure));
      output.end(code, describeFailure(failure).slice(0, 120));
    };
    const bad = (failure: Failure, id?: number): void => {
      output.sendText(errorFrame(failure, id));
      if (++badFrames > MAX_BAD_FRAMES) output.end(CloseCode.policy, 'too many bad frames');
    };
    /**
     * The last resort: whatever a handler throws is a bug of ours, never the caller's. It is logged and
     * answered as a server fault to that call alone; the socket, the session and the process go on.
     */
    const guarded = (id: number | undefined, run: () => void): void => {
      try {
        run();
      } catch (error) {
        onFault(error, id === undefined ? 'frame' : `call ${id}`);
        if (ws.readyState === ws.OPEN) output.sendText(errorFrame(serverFault, id));
      }
    };
    const authTimer = clock.setTimeout(() => refuse(Failure.invalidToken(`no hello within ${authTimeoutMs} ms`), CloseCode.policy), authTimeoutMs);
    unrefTimer(authTimer);
    const stopPinger = every(clock, pingIntervalMs, () => {
      if (!alive) return ws.terminate();
      alive = false;
      ws.ping();
    });

    const hello = async (text: string): Promise<void> => {
      const decoded = decodeClientFrame(text);
      if (E.isLeft(decoded) || decoded.right.type !== 'hello') {
        return refuse(E.isLeft(decoded) ? decoded.left : Failure.notLoggedIn(), CloseCode.policy);
      }
      const frame = decoded.right;
      if (!WS_PROTOCOL_VERSIONS.includes(frame.version)) return refuse(Failure.invalidArgument('version', `expected one of ${WS_PROTOCOL_VERSIONS.join(', ')}`), CloseCode.policy);
      chunkSize = chunkSizeOf(frame.version);
      const claims = hub.authenticate(frame.token);
      if (E.isLeft(claims)) return refuse(claims.left, CloseCode.loginRefused);
      const resume = claims.right.userId === frame.userId ? frame.resume : undefined;
      /** The client resumes `resumed`: its events after `lastSeq`; an ended session's last ones, then the close that says it ended. */
      const resumeOn = (resumed: WsSession, lastSeq: number): void => {
        clock.clearTimeout(authTimer);
        session = resumed;
        sessions.attach(resumed, sink, lastSeq);
        const expiresAt = hub.tokenExpiresAt(resumed.hub);
        output.sendText({ type: 'welcome', sessionId: resumed.id, resumed: true, chunkSize, window: WS_UPLOAD_WINDOW, ...(expiresAt === undefined ? {} : { expiresAt }) });
        // After the welcome, which so always goes alone: a client reads it before it reads anything else.
        if (frame.batch === true) output.batch();
        sessions.pump(resumed);
      };
      /**
       * A session the hub ended (a login elsewhere) and that was forgotten since, or that ended while another
       * server held it: the client is told so, as if it had resumed an ended session, instead of logging in
       * afresh and taking the session back.
       */
      const endedOn = (sessionId: string, seq: number, event: HubEvent): void => {
        output.sendText({ type: 'welcome', sessionId, resumed: true, chunkSize, window: WS_UPLOAD_WINDOW });
        output.sendText({ type: 'event', seq, event });
        output.end(CloseCode.sessionEnded, 'the session ended');
      };
      // The hello deadline runs until a session is held: a login the hub never answers is cut by it too.
      const known = resume ? sessions.get(resume.sessionId) : undefined;
      if (known && resume && known.hub.userId === frame.userId) return resumeOn(known, resume.lastSeq);
      const ended = resume ? sessions.tombstone(resume.sessionId, claims.right.userId) : undefined;
      if (ended && resume) return endedOn(resume.sessionId, ended.seq ?? resume.lastSeq + 1, ended.event);
      // Held by another server sharing the bus (it died, closed, or the client moved): taken over here.
      if (resume && !known) {
        const adopted = await sessions.adopt(resume.sessionId, claims.right.userId, frame.token, resume.lastSeq);
        if (adopted.state === 'ended') return endedOn(resume.sessionId, adopted.seq, adopted.event);
        // A socket gone meanwhile leaves the session to its grace, as a drop does.
        if (adopted.state === 'resumed') return ws.readyState === ws.OPEN ? resumeOn(adopted.session, resume.lastSeq) : undefined;
      }
      const login = await hub.login(frame.userId, frame.token);
      if (E.isLeft(login)) return refuse(login.left, CloseCode.loginRefused);
      // The socket went while the hub logged it in: nobody is there to hold the session.
      if (ws.readyState !== ws.OPEN) {
        hub.logout(login.right).catch((error: unknown) => onFault(error, 'logout'));
        return;
      }
      clock.clearTimeout(authTimer);
      session = sessions.open(login.right);
      sessions.attach(session, sink, 0);
      const expiresAt = hub.tokenExpiresAt(session.hub);
      output.sendText({ type: 'welcome', sessionId: session.id, resumed: false, chunkSize, window: WS_UPLOAD_WINDOW, ...(expiresAt === undefined ? {} : { expiresAt }) });
      if (frame.batch === true) output.batch();
      sessions.pump(session);
    };

    /**
     * Runs a call whose answer is kept for resends and goes to whichever socket the session has then. A
     * call the hub answers synchronously (messages, channels) is answered in the same turn: no promise
     * per message.
     */
    const answer = (s: WsSession, id: number, run: () => unknown): void => {
      const kept = s.answers.get(id);
      if (kept) return output.sendText(kept);
      if (s.running.has(id)) return;
      let value: unknown;
      try {
        value = run();
      } catch (error) {
        return settle(s, id, errorFrame(failureOfCall(error, `call ${id}`), id));
      }
      if (!(value instanceof Promise)) return settle(s, id, { type: 'result', id, value: value ?? null });
      s.running.add(id);
      value
        .then(
          (v: unknown) => settle(s, id, { type: 'result', id, value: v ?? null }),
          (error: unknown) => settle(s, id, errorFrame(failureOfCall(error, `call ${id}`), id)),
        )
        .catch((error: unknown) => {
          onFault(error, `call ${id}`);
          guarded(id, () => settle(s, id, errorFrame(serverFault, id)));
        });
    };
    /** A call's answer: kept for resends, sent to whichever socket the session has now. */
    const settle = (s: WsSession, id: number, frame: ServerFrame): void => {
      s.running.delete(id);
      s.answers.keep(id, frame);
      s.sink?.send(frame);
    };
    const either = <T>(result: E.Either<Failure, T>): T => {
      if (E.isLeft(result)) throw fault(result.left);
      return result.right;
    };

    // The uploads of this socket share WS_UPLOAD_WINDOW of credit, so what a chat message may wait behind
    // does not grow with their number.
    let uploading = 0;
    const uploadWindow = (): number => Math.max(WS_MIN_UPLOAD_WINDOW, Math.floor(WS_UPLOAD_WINDOW / Math.max(1, uploading)));

    const transfer = (s: WsSession, call: CallFrame & { readonly op: 'append' | 'read' }): void => {
      if (call.transfer <= maxTransfer) return bad(Failure.invalidArgument('transfer', `transfer IDs must increase; ${call.transfer} after ${maxTransfer}`), call.id);
      maxTransfer = call.transfer;
      const userId = s.hub.userId;
      if (!transfersByUser.acquire(userId)) {
        options.onLimit?.('transfersPerUser');
        return output.sendText(errorFrame(Failure.limitExceeded('WebSocket transfers at once per user', transfersPerUser), call.id));
      }
      const controller = new AbortController();
      // Counted before it starts, so its first credit is its share.
      if (call.op === 'append') uploading++;
      let started: ReturnType<typeof serverUpload> | ReturnType<typeof serverRead>;
      try {
        started =
          call.op === 'append'
            ? serverUpload(hub, userId, output, call, controller, uploadWindow, (uploadId) => {
                s.uploads.add(uploadId);
                appends.set(appendKey(userId, uploadId), done);
              })
            : serverRead(hub, output, call, controller, chunkSize);
      } catch (error) {
        transfersByUser.release(userId);
        if (call.op === 'append') uploading--;
        throw error;
      }
      // The user's slot and the socket's share go back however the transfer ends, before its answer is built.
      void started.done.catch(() => undefined).finally(() => {
        transfersByUser.release(userId);
        if (call.op === 'append') uploading--;
      });
      const entry: { readonly transfer: ServerTransfer; readonly controller: AbortController; failure?: Failure } = { transfer: started.transfer, controller };
      transfers.set(call.transfer, entry);
      const done: Promise<unknown> = started.done.then((state) => {
        if (call.op === 'append' && 'complete' in state && state.complete) s.uploads.delete(state.uploadId);
        return state;
      });
      done
        .then(
          (value): ServerFrame => ({ type: 'result', id: call.id, value }),
          (error: unknown) => errorFrame(entry.failure ?? failureOfCall(error, `transfer ${call.transfer}`), call.id),
        )
        .then((frame) => {
          transfers.delete(call.transfer);
          const key = call.op === 'append' && typeof call.uploadId === 'string' ? appendKey(userId, call.uploadId) : undefined;
          if (key !== undefined && appends.get(key) === done) appends.delete(key);
          output.sendText(frame);
        })
        .catch((error: unknown) => onFault(error, `transfer ${call.transfer}`));
    };

    const call = (s: WsSession, c: CallFrame): void => {
      if (s.ended) return output.sendText(errorFrame(Failure.notLoggedIn(), c.id));
      const who = s.hub;
      options.logger?.debug({ reqId: `${s.id}:${c.id}`, userId: who.userId, op: c.op }, 'ws call');
      switch (c.op) {
        case 'append':
        case 'read':
          return transfer(s, c);
        case 'createUpload':
          return answer(s, c.id, async () => {
            const created = await hub.createUpload(who.userId, { size: c.size, fileName: c.fileName });
            s.uploads.add(created.uploadId);
            return created;
          });
        case 'getUpload':
          return answer(s, c.id, () => hub.uploadStatus(who.userId, c.uploadId));
        case 'terminateUpload':
          return answer(s, c.id, async () => {
            if (typeof c.uploadId === 'string') await appends.get(appendKey(who.userId, c.uploadId))?.catch(() => undefined);
            await hub.terminateUpload(who.userId, c.uploadId);
            if (typeof c.uploadId === 'string') s.uploads.delete(c.uploadId);
          });
        case 'getMedia':
          return answer(s, c.id, async () => {
            const { mediaId, size, sha256, fileName } = await hub.mediaInfo(c.mediaId);
            return { mediaId, size, sha256, fileName: offeredFileName(fileName, mediaId) };
          });
        case 'sendToPeer':
          return answer(s, c.id, async () =>
            either(await hub.sendToPeer(who, c.peerId, c.message, { messageId: c.messageId, enableOfflineMessaging: c.enableOfflineMessaging })),
          );
        case 'join':
          return answer(s, c.id, async () => either(await hub.joinChannel(who, c.channelId)));
        case 'leave':
          return answer(s, c.id, async () => either(await hub.leaveChannel(who, c.channelId)));
        case 'sendToChannel':
          return answer(s, c.id, async () => either(await hub.sendToChannel(who, c.channelId, c.message, { messageId: c.messageId })));
        case 'members':
          return answer(s, c.id, async () => ({ members: either(await hub.channelMembers(who, c.channelId)) }));
        case 'channelMemberCounts':
          return answer(s, c.id, async () => memberCountsAnswer(either(await hub.channelMemberCounts(who, c.channelIds))));
        case 'queryPresence':
          return answer(s, c.id, async () => presenceAnswer(either(await hub.queryPresence(who, c.peerIds))));
        case 'subscribePresence':
          return answer(s, c.id, async () => either(await hub.subscribePresence(who, c.peerIds)));
        case 'unsubscribePresence':
          return answer(s, c.id, async () => either(await hub.unsubscribePresence(who, c.peerIds)));
        case 'renewToken':
          return answer(s, c.id, async () => either(await hub.renewToken(who, c.token)));
        case 'logout':
          output.sendText({ type: 'result', id: c.id, value: null });
          return sessions.logout(s);
      }
    };

    const data = (frame: Buffer): void => {
      const decoded = decodeData(frame, chunkSize);
      if (E.isLeft(decoded)) return bad(decoded.left);
      const { transfer: id, offset, chunk } = decoded.right;
      const entry = transfers.get(id);
      // Data may still arrive for a transfer that just ended (cancelled, failed): dropped. Data for one
      // never opened is a client bug, reported.
      if (!entry) return id > maxTransfer ? bad(Failure.invalidArgument('transfer', `unknown transfer ${id}`)) : undefined;
      const failure = entry.transfer.receive(offset, chunk);
      if (failure) {
        entry.failure = failure;
        entry.controller.abort(fault(failure));
      }
    };

    const control = (s: WsSession, frame: ClientFrame): void => {
      switch (frame.type) {
        case 'call':
          return call(s, frame);
        case 'cancel':
          return transfers.get(frame.transfer)?.controller.abort(fault(Failure.interrupted('cancelled by the client')));
        case 'credit':
          return transfers.get(frame.transfer)?.transfer.credit(frame.limit);
        case 'ping':
          return output.sendText({ type: 'pong' });
        case 'hello':
          return bad(Failure.alreadyLoggedIn());
      }
    };

    /** Frames that came while the hello was being answered, handled after it in order; `undefined` otherwise. */
    let early: { readonly bytes: Buffer; readonly isBinary: boolean }[] | undefined;
    const greet = (text: string): void => {
      early = [];
      void hello(text)
        .catch((error: unknown) => {
          onFault(error, 'hello');
          refuse(serverFault, CloseCode.serverError);
        })
        .finally(() => {
          const waiting = early ?? [];
          early = undefined;
          for (const frame of waiting) if (ws.readyState === ws.OPEN) receive(frame.bytes, frame.isBinary);
        });
    };
    const receive = (bytes: Buffer, isBinary: boolean): void => {
      // `maxPayload` admits version 2's data frames; text frames, and data frames of version 1, stay
      // within WS_MAX_FRAME as before, refused the way `ws` refuses a frame over `maxPayload`.
      if (bytes.length > (isBinary ? chunkSize + DATA_HEADER_SIZE : WS_MAX_FRAME)) return void ws.close(CloseCode.tooBig, 'frame too big');
      if (early) {
        if (early.length >= MAX_EARLY_FRAMES) return refuse(Failure.invalidArgument('frame', `at most ${MAX_EARLY_FRAMES} frames before the welcome`), CloseCode.policy);
        early.push({ bytes, isBinary });
        return;
      }
      if (!session) {
        if (isBinary) return refuse(Failure.notLoggedIn(), CloseCode.policy);
        return greet(bytes.toString('utf8'));
      }
      const s = session;
      if (isBinary) return guarded(undefined, () => data(bytes));
      // One frame or a batch: each handled as if it came alone, until a bad one closes the socket.
      for (const decoded of decodeClientFrames(bytes.toString('utf8'))) {
        if (ws.readyState !== ws.OPEN) return;
        if (E.isLeft(decoded)) bad(decoded.left.failure, decoded.left.id);
        else guarded(decoded.right.type === 'call' ? decoded.right.id : undefined, () => control(s, decoded.right));
      }
    };
    ws.on('message', (raw: Buffer | ArrayBuffer | Buffer[], isBinary: boolean) => {
      alive = true;
      receive(bytesOf(raw), isBinary);
    });
    ws.on('pong', () => {
      alive = true;
    });
    // An 'error' (a frame over maxPayload, a bad opcode) is followed by 'close'; that is where teardown happens.
    ws.on('error', () => undefined);
    ws.on('close', () => {
      sockets.delete(ws);
      clock.clearTimeout(authTimer);
      stopPinger();
      output.close();
      for (const entry of transfers.values()) entry.controller.abort(fault(Failure.network('the socket closed')));
      if (session) sessions.detach(session, sink);
    });
  };

  return {
    upgrade(req, socket, head) {
      // Node's server stops listening to a socket's errors once it emits 'upgrade': a reset before our
      // answer would be an unhandled 'error', the end of the process.
      socket.on('error', () => undefined);
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
      wss.handleUpgrade(req, socket, head, connection);
    },
    close(closing) {
      for (const ws of sockets) {
        ws.close(1001, 'the server is closing');
        ws.terminate();
      }
      sessions.close(closing);
      wss.close();
    },
  };
};
