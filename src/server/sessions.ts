/**
 * Sessions and messaging over HTTP, at `/v1/sessions`: a login opens a session at the hub; its events
 * (messages, presence, "aborted") stream down as server-sent events that resume with `Last-Event-ID`;
 * messages and channel operations go up as requests. See `docs/protocol-http.md`.
 *
 * A session outlives a dropped event stream for `graceMs`, keeping its recent events, so a client that
 * reconnects within it misses nothing; after that the hub forgets the session (its channels are left).
 * That is `server-sessions.ts`, shared with the WebSocket endpoint; this file keeps the wire. With
 * `adopt`, the event stream of a session another server held (it died or closed) takes it over here.
 * @module
 */
import * as E from 'fp-ts/lib/Either.js';
import { type Clock, systemClock } from '../core/clock.js';
import { Failure, fault } from '../core/failure.js';
import type { HubEvent } from '../hub/message-bus.js';
import type { Hub } from '../hub/hub.js';
import { every } from './clock-interval.js';
import { serverSessions, type SessionSink } from './server-sessions.js';
import { SSE_ID_LINE, sseEvent, sseSink } from './sse-sink.js';
import { answering, authenticate, bodyOf, decodeSegment, type Exchange, HttpFault, mediaTypeOf, type Route, sendPreflight, type SessionGuard } from './http-util.js';
import { MESSAGING_PATHS, SEND_QUERY, SESSION_HEADER } from '../protocol/http-wire.js';
import { memberCountsAnswer, presenceAnswer } from '../protocol/messaging-codec.js';

/** Node's lower-case key of the session header. */
const SESSION_HEADER_KEY = SESSION_HEADER.toLowerCase();

/** Options of {@link sessionsRoute}. */
export interface SessionsRouteOptions {
  readonly hub: Hub;
  readonly prefix: string;
  /** How long a session without an event stream is kept. Default: 60 s. */
  readonly graceMs?: number;
  /** Recent events kept per session for `Last-Event-ID` resumption. Default: 1,000. */
  readonly replayEvents?: number;
  /** Bytes of recent events kept per session (their frames as sent). Default: 1 MiB. */
  readonly replayBytes?: number;
  /**
   * Sessions kept per user, the live one and those kicked or dropped waiting out their grace; beyond it the
   * oldest is forgotten, so one user's replay is at most this many times `replayBytes`. Default: 4.
   */
  readonly sessionsPerUser?: number;
  /** A comment line keeps idle streams from being cut by proxies and by the server's idle timeout. Default: 15 s. */
  readonly heartbeatMs?: number;
  /** An event stream whose unsent bytes have not moved for this long is cut. Default: 120 s. */
  readonly idleTimeoutMs?: number;
  /** Told when a stream is cut for reading too slowly (metrics). */
  readonly onSlowReader?: () => void;
  /** Told when a session is forgotten before its grace ended, beyond `sessionsPerUser` (metrics). */
  readonly onSessionEvicted?: () => void;
  /** Told when the hub fails to log a forgotten session out. Default: `console.error`. */
  readonly onFault?: (error: unknown, where: string) => void;
  /**
   * The clock of the stream timers (heartbeat, stall check). Default: the system clock: they keep a socket
   * alive, or cut it, in real time whatever time the hub is told (decision 82). The grace runs on the hub's.
   * @example { clock: virtualClock() } // a spec that drives heartbeats itself
   */
  readonly clock?: Clock;
  /**
   * Whether the event stream of a session another server sharing the hub's bus and secret held may take
   * it over here (decision 95): on when the bus is shared. Default: `false`. @example { adopt: true }
   */
  readonly adopt?: boolean;
}

/** How long a request for a session held elsewhere is told to wait for its event stream to move it here. */
const MOVING_RETRY_AFTER_S = 1;

/** The methods of a session's routes (its events, messages, channels, presence, token, logout), for a preflight. */
const SESSION_METHODS = 'OPTIONS, GET, POST, PUT, DELETE';

/**
 * The biggest JSON body accepted: a 32 KiB message grows by a third in base64. It bounds the ID lists
 * too: 512 IDs of 64 characters, quoted, fit in 34 KiB.
 */
const MAX_JSON_BYTES = 64 * 1024;

/** The messaging route module. */
export const sessionsRoute = (options: SessionsRouteOptions): Route & { close(options?: { readonly handOver?: boolean }): void; readonly guard: SessionGuard } => {
  const { hub, prefix } = options;
  const heartbeatMs = options.heartbeatMs ?? 15_000;
  const idleTimeoutMs = options.idleTimeoutMs ?? 120_000;
  const clock = options.clock ?? systemClock;
  // Serialized once per event, whatever the members it goes to: sent live with its number and kept for
  // replay, its length (with the `id:` line) its size.
  const sessions = serverSessions<string, SessionSink<string>>({
    hub,
    encode: sseEvent,
    sizeOf: (text) => text.length + SSE_ID_LINE,
    graceMs: options.graceMs ?? 60_000,
    ...(options.replayEvents === undefined ? {} : { replayEvents: options.replayEvents }),
    ...(options.replayBytes === undefined ? {} : { replayBytes: options.replayBytes }),
    ...(options.sessionsPerUser === undefined ? {} : { sessionsPerUser: options.sessionsPerUser }),
    ...(options.onSessionEvicted === undefined ? {} : { onEvicted: options.onSessionEvicted }),
    ...(options.onFault === undefined ? {} : { onFault: options.onFault }),
    ...(options.adopt === undefined ? {} : { adopt: options.adopt }),
  });
  type Session = NonNullable<ReturnType<typeof sessions.get>>;

  const open = async (userId: string, token: string): Promise<Session> => {
    const login = await hub.login(userId, token);
    if (E.isLeft(login)) throw fault(login.left);
    return sessions.open(login.right, {});
  };

  const readJson = async (exchange: Exchange): Promise<unknown> => {
    if (mediaTypeOf(exchange.req) !== 'application/json') throw new HttpFault(415, Failure.invalidArgument('Content-Type', 'expected application/json'));
    const chunks: Uint8Array[] = [];
    let size = 0;
    for await (const chunk of bodyOf(exchange.req)) {
      size += chunk.length;
      if (size > MAX_JSON_BYTES) throw new HttpFault(413, Failure.invalidArgument('body', `more than ${MAX_JSON_BYTES} bytes`));
      chunks.push(chunk);
    }
    try {
      return JSON.parse(Buffer.concat(chunks).toString('utf8')) as unknown;
    } catch {
      throw fault(Failure.invalidArgument('body', 'not JSON'));
    }
  };
  const send = (exchange: Exchange, status: number, body?: unknown): void => {
    const json = body === undefined ? undefined : Buffer.from(JSON.stringify(body));
    exchange.res.writeHead(status, {
      'Cache-Control': 'no-store',
      ...(json ? { 'Content-Type': 'application/json; charset=utf-8', 'Content-Length': String(json.length) } : {}),
    });
    exchange.res.end(json);
  };
  /**
   * The query of a send (decision 103): `messageId` as given (the hub checks it), `enableOfflineMessaging`
   * `true` or `false` (any other text is handed on, for the hub to refuse). A parameter given twice is
   * `InvalidArgument`: which one the client meant cannot be told. Unknown parameters are ignored.
   */
  const sendQuery = (exchange: Exchange): { readonly messageId?: string; readonly enableOfflineMessaging?: boolean | string } => {
    const url = exchange.req.url ?? '';
    const at = url.indexOf('?');
    const query = new URLSearchParams(at < 0 ? '' : url.slice(at + 1));
    const one = (name: string): string | undefined => {
      const values = query.getAll(name);
      if (values.length > 1) throw fault(Failure.invalidArgument(name, 'given more than once'));
      return values[0];
    };
    const messageId = one(SEND_QUERY.messageId);
    const offline = one(SEND_QUERY.enableOfflineMessaging);
    return {
      ...(messageId === undefined ? {} : { messageId }),
      ...(offline === undefined ? {} : { enableOfflineMessaging: offline === 'true' ? true : offline === 'false' ? false : offline }),
    };
  };
  /** The field `name` of a JSON body that must be an object (the hub checks the field itself). */
  const fieldOf = (body: unknown, name: string): unknown => {
    if (body === null || typeof body !== 'object' || Array.isArray(body)) {
      throw fault(Failure.invalidArgument('body', `expected a JSON object with "${name}"`));
    }
    return Object.hasOwn(body, name) ? (body as Readonly<Record<string, unknown>>)[name] : undefined;
  };
  const postOnly = (method: string): void => {
    if (method !== 'POST') throw new HttpFault(405, Failure.invalidArgument('method', `${method} is not allowed here`), { Allow: 'POST' });
  };
  /** The answer to a request for a session that another server may hold: its stream has not moved it here yet. */
  const moving = (): HttpFault =>
    new HttpFault(503, Failure.interrupted('the session is held by another server: its event stream moves it here'), { 'Retry-After': String(MOVING_RETRY_AFTER_S) });
  const either = <T>(result: E.Either<Failure, T>): T => {
    if (E.isLeft(result)) throw fault(result.left);
    return result.right;
  };

  /**
   * The stream of an ended session this route does not hold: the event that ended it, then the end. No
   * `id:`: nothing follows it that a client could resume after.
   */
  const tombstoneStream = (exchange: Exchange, event: HubEvent): void => {
    exchange.res.writeHead(200, { 'Content-Type': 'text/event-stream; charset=utf-8', 'Cache-Control': 'no-store' });
    exchange.res.end(`retry: 1000\n\nevent: ${event.type}\ndata: ${JSON.stringify(event)}\n\n`);
  };
  /** The number a stream resumes after: `Last-Event-ID`, 0 when absent or not a number. */
  const lastEventId = (exchange: Exchange): number => {
    const asked = Number(exchange.req.headers['last-event-id'] ?? 0);
    return Number.isSafeInteger(asked) && asked >= 0 ? asked : 0;
  };
  const tokenOf = (exchange: Exchange): string => /^Bearer +(\S+)/i.exec(exchange.req.headers.authorization ?? '')?.[1] ?? '';

  const events = (exchange: Exchange, session: Session): void => {
    const { res } = exchange;
    // Gone while its session was being taken over: nothing attaches, and the session's grace runs.
    if (exchange.signal.aborted || res.destroyed) return;
    res.writeHead(200, { 'Content-Type': 'text/event-stream; charset=utf-8', 'Cache-Control': 'no-store', 'X-Accel-Buffering': 'no' });
    res.write('retry: 1000\n\n');
    // A reader that asks for events the replay no longer has gets what it has (the gap is lost, as
    // before): only a stream that falls behind while open is cut, so a reconnect never loops on its cut.
    const sink = sseSink(res, options.onSlowReader);
    sessions.attach(session, sink, lastEventId(exchange));
    // An ended session's stream is its last events, then the end.
    sessions.pump(session);
    if (session.sink !== sink) return;
    res.on('drain', () => {
      if (session.sink === sink) sessions.pump(session);
    });
    // Only when nothing waits: bytes that are moving keep the connection alive themselves.
    const stopHeartbeat = every(clock, heartbeatMs, () => {
      if (!res.destroyed && !res.writableEnded && res.writableLength === 0) res.write(': hb\n\n');
    });
    // A reader that takes nothing for the idle timeout is gone or hostile: a stream whose unsent bytes do
    // not shrink (what we wrote minus what is still unsent: the bytes the kernel took) is cut. Checked
    // twice per timeout, so the cut comes within 1.5 timeouts; a slow reader that keeps taking is not cut.
    let taken = 0;
    let progressed = clock.now();
    const stopStallCheck = every(clock, Math.max(1, Math.floor(idleTimeoutMs / 2)), () => {
      const now = res.socket?.bytesWritten ?? 0;
      const unsent = res.writableLength;
      if (unsent === 0 || now - unsent > taken) {
        taken = now - unsent;
        progressed = clock.now();
      } else if (clock.now() - progressed >= idleTimeoutMs) {
        options.onSlowReader?.();
        res.destroy();
      }
    });
    // Errors of a response (a reset mid-write) end it; 'close' follows and tears down.
    res.on('error', () => undefined);
    res.on('close', () => {
      stopHeartbeat();
      stopStallCheck();
      sessions.detach(session, sink);
    });
  };

  return {
    prefix,
    guard(req, userId) {
      const id = req.headers[SESSION_HEADER_KEY];
      if (id === undefined) return;
      const session = typeof id === 'string' ? sessions.get(id) : undefined;
      // Not held here and not known to have ended (by the hub, or a logout), but a session this server's
      // secret signed for the user: one opened here before a restart or forgotten after its grace (its
      // client is logging in afresh), or alive at another server sharing the bus (its client moved here).
      // This guard cannot ask the bus synchronously, and the token vouches for the request, so the
      // transfer goes on and resumes (decision 139). A forged ID does not.
      if (!session && typeof id === 'string' && !sessions.ended(id, userId) && sessions.issued(id, userId)) return;
      if (!session || session.hub.userId !== userId || session.ended) {
        throw new HttpFault(401, Failure.interrupted('the session ended: the same user logged in elsewhere, or logged out'));
      }
    },
    close: (closing) => sessions.close(closing),
    handle: (exchange) =>
      answering(exchange, {}, async () => {
        const { method } = exchange;
        // A preflight carries no token: a page on another origin asks before its first login, and before
        // every request with `Authorization`, `Ferry-Session` or a JSON body.
        if (method === 'OPTIONS') return sendPreflight(exchange.res, exchange.segments.length === 0 ? 'OPTIONS, POST' : SESSION_METHODS);
        const userId = either(authenticate(hub, exchange.req));
        const [id, kind, target, tail, ...rest] = exchange.segments.map((s) => decodeSegment(s) ?? '\u0000');
        if (id === undefined) {
          if (method !== 'POST') throw new HttpFault(405, Failure.invalidArgument('method', `${method} is not allowed here`), { Allow: 'POST' });
          const body = await readJson(exchange);
          const claimed = body !== null && typeof body === 'object' ? (body as { userId?: unknown }).userId : undefined;
          if (claimed !== userId) throw fault(Failure.invalidToken('the token was issued to another user'));
          const opened = await open(userId, tokenOf(exchange));
          return send(exchange, 201, { sessionId: opened.id, expiresAt: hub.tokenExpiresAt(opened.hub) });
        }
        const isEvents = kind === 'events' && target === undefined && method === 'GET';
        // A request that comes while its session's stream is being taken over here waits for it.
        const adopting = sessions.adopting(id);
        if (adopting) await adopting.catch(() => undefined);
        let session = sessions.get(id);
        // A renewal is authenticated by its new token; the hub refuses another user's (Rejected).
        if (kind === 'token' && target === undefined && method === 'PUT') {
          if (!session && sessions.elsewhere(id, userId)) throw moving();
          if (!session || session.ended) throw fault(Failure.notLoggedIn());
          return send(exchange, 200, either(await hub.renewToken(session.hub, tokenOf(exchange))));
        }
        // A session the hub ended and this route forgot since: its events say why, once more, so a client
        // back after the grace learns it was taken instead of logging in afresh and taking it back.
        const ended = session ? undefined : sessions.tombstone(id, userId);
        if (ended && isEvents) return tombstoneStream(exchange, ended.event);
        if (!session && !ended && isEvents) {
          // Held by another server sharing the bus (it died, closed, or the client moved): its stream takes it over.
          const adopted = await sessions.adopt(id, userId, tokenOf(exchange), lastEventId(exchange), () => ({}));
          if (adopted.state === 'ended') return tombstoneStream(exchange, adopted.event);
          if (adopted.state === 'resumed') session = adopted.session;
        } else if (!session && !ended && kind !== undefined && sessions.elsewhere(id, userId)) {
          // Its other requests wait for the stream: only the stream says from which event the client resumes.
          throw moving();
        }
        // Someone else's session is reported as missing, like an unknown one.
        if (!session || session.hub.userId !== userId) throw fault(Failure.notLoggedIn());
        if (kind === undefined && method === 'DELETE') {
          sessions.logout(session);
          return send(exchange, 204);
        }
        if (isEvents) return events(exchange, session);
        if (session.ended) throw fault(Failure.notLoggedIn());
        if (kind === 'peers' && target !== undefined && tail === 'messages' && rest.length === 0 && method === 'POST') {
          const { messageId, enableOfflineMessaging } = sendQuery(exchange);
          return send(exchange, 200, either(await hub.sendToPeer(session.hub, target, await readJson(exchange), { messageId, enableOfflineMessaging })));
        }
        if (kind === 'channels' && target !== undefined && rest.length === 0) {
          if (tail === undefined && method === 'PUT') return send(exchange, 204, either(await hub.joinChannel(session.hub, target)));
          if (tail === undefined && method === 'DELETE') return send(exchange, 204, either(await hub.leaveChannel(session.hub, target)));
          if (tail === 'messages' && method === 'POST') {
            const { messageId } = sendQuery(exchange);
            return send(exchange, 200, either(await hub.sendToChannel(session.hub, target, await readJson(exchange), { messageId })));
          }
          if (tail === 'members' && method === 'GET') return send(exchange, 200, { members: either(await hub.channelMembers(session.hub, target)) });
        }
        if (kind === MESSAGING_PATHS.memberCounts && target === undefined) {
          postOnly(method);
          const channelIds = fieldOf(await readJson(exchange), 'channelIds');
          return send(exchange, 200, memberCountsAnswer(either(await hub.channelMemberCounts(session.hub, channelIds))));
        }
        if (kind === MESSAGING_PATHS.presence && tail === undefined) {
          if (target === undefined) {
            postOnly(method);
            return send(exchange, 200, presenceAnswer(either(await hub.queryPresence(session.hub, fieldOf(await readJson(exchange), 'peerIds')))));
          }
          if (target === MESSAGING_PATHS.subscribe) {
            postOnly(method);
            return send(exchange, 204, either(await hub.subscribePresence(session.hub, fieldOf(await readJson(exchange), 'peerIds'))));
          }
          if (target === MESSAGING_PATHS.unsubscribe) {
            postOnly(method);
            return send(exchange, 204, either(await hub.unsubscribePresence(session.hub, fieldOf(await readJson(exchange), 'peerIds'))));
          }
        }
        throw fault(Failure.notExist(`route ${exchange.req.url ?? ''}`));
      }),
  };
};
