/**
 * What a WebSocket session keeps beyond what every server session keeps (`server-sessions.ts`: grace,
 * numbered replay, sessions per user, tombstones): its recent answers, so a call resent after a reconnect
 * is answered once (from the kept answer) rather than run twice, and its unfinished uploads, removed if
 * it is kicked or logs out. Its events are kept as their JSON, serialized once for every session they go
 * to; each socket is sent an event's JSON inside its `event` frame with its number (`wsEventText` in `src/protocol/ws-frames.ts`).
 * @module
 */
import type { Hub, HubSession } from '../hub/hub.js';
import { IdMap } from '../core/id-map.js';
import { EVENT_FRAME_CHARS, type ServerFrame } from '../protocol/ws-frames.js';
import { type Adoption, type ServerSession, type ServerSessions, serverSessions } from './server-sessions.js';
import type { WsSink } from './ws-sink.js';

/** About the bytes of a frame kept for resends: strings counted by length, never walked deeply. */
export const sizeOfAnswer = (frame: ServerFrame): number => {
  let bytes = 64;
  const item = (value: unknown): number => (typeof value === 'string' ? value.length + 4 : 16);
  /**
   * Strings count by length; an array's strings too (a `members` list), and an object's keys and string
   * values (`counts`, `peers`: up to 512 entries), one level down from a field.
   */
  const flat = (value: unknown): number => {
    if (typeof value === 'string') return value.length + 8;
    if (Array.isArray(value)) return value.reduce<number>((n, entry) => n + item(entry), 16);
    if (typeof value === 'object' && value !== null) return Object.entries(value).reduce<number>((n, [key, entry]) => n + key.length + 4 + item(entry), 16);
    return 16;
  };
  const add = (value: unknown): void => {
    if (typeof value === 'object' && value !== null && !Array.isArray(value)) for (const field of Object.values(value)) bytes += flat(field);
    else bytes += flat(value);
  };
  if (frame.type === 'result') add(frame.value);
  else if (frame.type === 'error') {
    add(frame.message);
    add(frame.failure);
  }
  return bytes;
};

/**
 * The last answers of a session by call ID, at most `limit` of them and about `maxBytes` (the newest is
 * kept whatever its size), the oldest dropped first. An {@link IdMap} and a ring of IDs rather than a
 * `Map`: a `Map` whose keys churn (one answer in, one out, per call) keeps its old tables chained, and in
 * a server that ever ran a full GC that makes every later answer survive young collections (decision 58).
 */
export class KeptAnswers {
  /** Made at the first answer kept: a session that never calls holds neither (decision 119). */
  private byId: IdMap<{ frame: ServerFrame; bytes: number }> | undefined;
  /** IDs in the order they were kept: a ring of `count` from `head`. */
  private order: number[] | undefined;
  private head = 0;
  private count = 0;
  private total = 0;

  constructor(
    private readonly limit: number,
    private readonly maxBytes = Infinity,
  ) {}

  /** About the bytes held. */
  get bytes(): number {
    return this.total;
  }

  /** The answer kept for call `id`, if any. */
  get(id: number): ServerFrame | undefined {
    return this.byId?.get(id)?.frame;
  }

  /** Keeps `frame` as the answer of call `id`, dropping the oldest beyond the bounds. */
  keep(id: number, frame: ServerFrame): void {
    if (this.limit < 1) return;
    const bytes = sizeOfAnswer(frame);
    const byId = (this.byId ??= new IdMap());
    const order = (this.order ??= []);
    const kept = byId.get(id);
    if (kept) {
      this.total += bytes - kept.bytes;
      kept.frame = frame;
      kept.bytes = bytes;
    } else {
      if (this.count === this.limit) this.dropOldest();
      order[(this.head + this.count) % this.limit] = id;
      this.count++;
      byId.set(id, { frame, bytes });
      this.total += bytes;
    }
    // The answer just kept stays whatever its size (its caller may resend the call next).
    while (this.total > this.maxBytes && this.count > 1 && order[this.head] !== id) this.dropOldest();
  }

  private dropOldest(): void {
    const id = this.order?.[this.head] as number;
    this.total -= this.byId?.get(id)?.bytes ?? 0;
    this.byId?.delete(id);
    this.head = (this.head + 1) % this.limit;
    this.count--;
  }
}

/**
 * What a WebSocket session keeps of its own. What a session that never calls or never uploads does not
 * need is made when first needed (decision 119).
 */
export interface WsSessionState {
  /**
   * Uploads created in this session and not complete: terminated if the session is kicked or logs out.
   * `undefined` until its first upload; `'ended'` once that cleanup ran, so that an upload whose creation
   * was still running then is removed as soon as it exists instead of outliving the session (decision 136).
   */
  uploads: Set<string> | undefined | 'ended';
  /** Answers kept by call ID; `undefined` until the first (`WsSessions.answersOf`). */
  answers: KeptAnswers | undefined;
  /** The calls still running; `undefined` until a call does not answer at once. */
  running: Set<number> | undefined;
}

/** One session as the WebSocket endpoint keeps it. */
export type WsSession = ServerSession<WsSink> & WsSessionState;

/** The registry of WebSocket sessions. */
export type WsSessions = Omit<ServerSessions<string, WsSink, WsSessionState>, 'open' | 'adopt'> & {
  /** A new session for a successful hub login, with no answers kept yet; its grace runs until a socket attaches. */
  open(login: HubSession): WsSession;
  /**
   * Session `id` of `userId`, held by another server sharing the bus, taken over for a client resuming it
   * after event `lastSeq` with `token` (`ServerSessions.adopt`), with no answers kept yet: calls it resends
   * run here once, those answered at the other server run again only if they had not (decision 95).
   */
  adopt(id: string, userId: string, token: unknown, lastSeq: number): Promise<Adoption<WsSession>>;
  /** The answers `session` keeps, made at its first (a session that never calls keeps none: decision 119). */
  answersOf(session: WsSession): KeptAnswers;
};

/** Options of {@link wsSessions}. */
export interface WsSessionsOptions {
  readonly hub: Hub;
  /** How long a session without a socket is kept. Default: 60 s. */
  readonly graceMs?: number;
  /** Recent events kept per session for replay. Default: 1,000. */
  readonly replayEvents?: number;
  /** Bytes of recent events kept per session (estimated from their messages). Default: 1 MiB. */
  readonly replayBytes?: number;
  /** Recent answers kept per session for resent calls. Default: 1,000. */
  readonly keptAnswers?: number;
  /** Bytes of answers kept per session (estimated). Default: 256 KiB. */
  readonly keptAnswerBytes?: number;
  /**
   * Sessions kept per user, the live one and those kicked or dropped and waiting out their grace; beyond
   * it the oldest is forgotten, so what one user holds in replay is at most this many times `replayBytes`.
   * Default: 4.
   */
  readonly sessionsPerUser?: number;
  /** Told when a session is forgotten before its grace ended, beyond `sessionsPerUser` (metrics). */
  readonly onEvicted?: () => void;
  /** Told when a session ends by kick or logout, to stop its transfers and remove its partial uploads. */
  readonly onEnded: (session: WsSession) => void;
  /** Told when the hub fails to log a forgotten session out. Default: `console.error`. */
  readonly onFault?: (error: unknown, where: string) => void;
  /** Whether sessions held by other servers sharing the bus may be taken over here. Default: `false`. */
  readonly adopt?: boolean;
}

/** The WebSocket sessions over one hub: server sessions whose events are `event` frames, with kept answers. */
export const wsSessions = (options: WsSessionsOptions): WsSessions => {
  const keptAnswers = options.keptAnswers ?? 1_000;
  const keptAnswerBytes = options.keptAnswerBytes ?? 256 * 1024;
  // Each event is serialized once, whatever the members it goes to; each socket is sent it with its number.
  const sessions = serverSessions<string, WsSink, WsSessionState>({
    hub: options.hub,
    encode: (event) => JSON.stringify(event),
    sizeOf: (json) => json.length + EVENT_FRAME_CHARS,
    onEnded: options.onEnded,
    ...(options.graceMs === undefined ? {} : { graceMs: options.graceMs }),
    ...(options.replayEvents === undefined ? {} : { replayEvents: options.replayEvents }),
    ...(options.replayBytes === undefined ? {} : { replayBytes: options.replayBytes }),
    ...(options.sessionsPerUser === undefined ? {} : { sessionsPerUser: options.sessionsPerUser }),
    ...(options.onEvicted === undefined ? {} : { onEvicted: options.onEvicted }),
    ...(options.onFault === undefined ? {} : { onFault: options.onFault }),
    ...(options.adopt === undefined ? {} : { adopt: options.adopt }),
  });
  const fresh = (): WsSessionState => ({ uploads: undefined, answers: undefined, running: undefined });
  return {
    ...sessions,
    answersOf: (session) => (session.answers ??= new KeptAnswers(keptAnswers, keptAnswerBytes)),
    open: (login) => sessions.open(login, fresh()),
    adopt: (id, userId, token, lastSeq) => sessions.adopt(id, userId, token, lastSeq, fresh),
  };
};
