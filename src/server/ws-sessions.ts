/**
 * WebSocket sessions, server side: a hub session that outlives its socket for `graceMs`, keeping its
 * recent events (numbered) and its recent answers, so a client that reconnects within the grace resumes
 * the same session — channels kept, missed events replayed after the last `seq` it saw, calls it resends
 * answered once (from the kept answer) rather than run twice. The HTTP equivalent is `sessions.ts`.
 * @module
 */
import { type TimerHandle, unrefTimer } from '../core/clock.js';
import type { Hub, HubSession } from '../hub/hub.js';
import type { HubEvent } from '../hub/router.js';
import { toBase64Url } from '../core/bytes.js';
import { cryptoRandomBytes } from '../core/ids.js';
import { IdMap } from '../core/id-map.js';
import { Replay } from './replay.js';
import { type Tombstone, Tombstones } from './tombstones.js';
import type { ServerFrame } from '../protocol/ws-frames.js';

/** About the bytes of a frame kept for resends: strings counted by length, never walked deeply. */
export const sizeOfAnswer = (frame: ServerFrame): number => {
  let bytes = 64;
  /** Strings count by length; an array's strings too (a `members` list), one level down from a field. */
  const flat = (value: unknown): number =>
    typeof value === 'string' ? value.length + 8 : Array.isArray(value) ? value.reduce<number>((n, item) => n + (typeof item === 'string' ? item.length + 4 : 16), 16) : 16;
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
  private readonly byId = new IdMap<{ frame: ServerFrame; bytes: number }>();
  /** IDs in the order they were kept: a ring of `count` from `head`. */
  private readonly order: number[] = [];
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
    return this.byId.get(id)?.frame;
  }

  /** Keeps `frame` as the answer of call `id`, dropping the oldest beyond the bounds. */
  keep(id: number, frame: ServerFrame): void {
    if (this.limit < 1) return;
    const bytes = sizeOfAnswer(frame);
    const kept = this.byId.get(id);
    if (kept) {
      this.total += bytes - kept.bytes;
      kept.frame = frame;
      kept.bytes = bytes;
    } else {
      if (this.count === this.limit) this.dropOldest();
      this.order[(this.head + this.count) % this.limit] = id;
      this.count++;
      this.byId.set(id, { frame, bytes });
      this.total += bytes;
    }
    // The answer just kept stays whatever its size (its caller may resend the call next).
    while (this.total > this.maxBytes && this.count > 1 && this.order[this.head] !== id) this.dropOldest();
  }

  private dropOldest(): void {
    const id = this.order[this.head] as number;
    this.total -= this.byId.get(id)?.bytes ?? 0;
    this.byId.delete(id);
    this.head = (this.head + 1) % this.limit;
    this.count--;
  }
}

/** Where a session's frames go while it has a socket. */
export interface SessionSink {
  send(frame: ServerFrame): void;
  /** The hub ended the session (kick or logout): close the socket with `sessionEnded`. */
  ended(): void;
}

/** One session as the WebSocket server keeps it. */
export interface WsSession {
  readonly id: string;
  readonly hub: HubSession;
  /** The socket attached now, if any. */
  sink: SessionSink | undefined;
  /** Whether the hub ended it (kick, logout, or the grace ran out). */
  ended: boolean;
  /** Uploads created in this session and not complete: terminated if the session is kicked or logs out. */
  readonly uploads: Set<string>;
  /** Answers kept by call ID, and the calls still running. */
  readonly answers: KeptAnswers;
  readonly running: Set<number>;
  /** Sends the events after `lastSeq` to the attached sink. */
  replay(lastSeq: number): void;
}

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
}

/** About the bytes an event holds: its message's strings (text, base64 fields), plus a little. */
const sizeOf = (event: HubEvent): number => {
  if (event.type !== 'peerMessage' && event.type !== 'channelMessage') return 100;
  let bytes = 100;
  for (const value of Object.values(event.message)) if (typeof value === 'string') bytes += value.length;
  return bytes;
};

/** The registry of WebSocket sessions. */
export interface WsSessions {
  /** A new session for a successful hub login. */
  open(login: HubSession): WsSession;
  get(id: string): WsSession | undefined;
  /** What ended session `id` of `userId` if the hub ended it and it has been forgotten since. */
  tombstone(id: string, userId: string): Tombstone | undefined;
  /** Keeps an answer for resent calls (oldest dropped beyond the bound). */
  keep(session: WsSession, id: number, frame: ServerFrame): void;
  /** A socket takes the session over (at login or resume): the grace period, if running, stops. */
  attach(session: WsSession, sink: SessionSink): void;
  /** The socket went away: the grace period starts. */
  detach(session: WsSession, sink: SessionSink): void;
  /** Ends a session now (logout): the hub forgets it. */
  logout(session: WsSession): void;
  /** Forgets every session (server closing). */
  close(): void;
}

/** A registry over one hub. */
export const wsSessions = (options: WsSessionsOptions): WsSessions => {
  const { hub, onEnded } = options;
  const graceMs = options.graceMs ?? 60_000;
  const replayEvents = options.replayEvents ?? 1_000;
  const keptAnswers = options.keptAnswers ?? 1_000;
  const replayBytes = options.replayBytes ?? 1024 * 1024;
  const keptAnswerBytes = options.keptAnswerBytes ?? 256 * 1024;
  const sessionsPerUser = options.sessionsPerUser ?? 4;
  /** `final`: kicked or logged out, so the client will not resume it. */
  type Kept = WsSession & { grace: TimerHandle | undefined; final: boolean; aborted?: Tombstone['event'] };
  const tombstones = new Tombstones({ now: () => hub.clock.now() });
  const sessions = new Map<string, Kept>();
  /** Each user's sessions, oldest first. */
  const byUser = new Map<string, Kept[]>();
  const unlist = (session: WsSession): void => {
    const list = byUser.get(session.hub.userId);
    const at = list?.indexOf(session as Kept) ?? -1;
    if (at >= 0) list?.splice(at, 1);
    if (list?.length === 0) byUser.delete(session.hub.userId);
  };

  const forget = (session: Kept): void => {
    hub.clock.clearTimeout(session.grace);
    sessions.delete(session.id);
    if (session.aborted) tombstones.add(session.id, { userId: session.hub.userId, event: session.aborted });
    unlist(session);
    hub.logout(session.hub);
  };
  const startGrace = (session: Kept): void => {
    hub.clock.clearTimeout(session.grace);
    if (!sessions.has(session.id)) return;
    session.grace = hub.clock.setTimeout(() => forget(session), graceMs);
    unrefTimer(session.grace);
  };

  return {
    open(login) {
      const recent = new Replay<HubEvent>({ events: replayEvents, bytes: replayBytes });
      let nextSeq = 1;
      const session: Kept = {
        id: toBase64Url(cryptoRandomBytes(16)),
        hub: login,
        sink: undefined,
        ended: false,
        uploads: new Set(),
        answers: new KeptAnswers(keptAnswers, keptAnswerBytes),
        running: new Set(),
        grace: undefined,
        final: false,
        replay(lastSeq) {
          recent.since(lastSeq, (seq, event) => session.sink?.send({ type: 'event', seq, event }));
        },
      };
      sessions.set(session.id, session);
      const mine = byUser.get(login.userId) ?? [];
      byUser.set(login.userId, mine);
      mine.push(session);
      // The oldest go first: kicked or dropped ones waiting out their grace (the hub keeps one live per user).
      while (mine.length > sessionsPerUser) {
        options.onEvicted?.();
        forget(mine[0] as Kept);
      }
      login.events$.subscribe({
        next: (event) => {
          const seq = nextSeq++;
          recent.push(seq, event, sizeOf(event));
          if (event.type === 'aborted') {
            session.final = true;
            session.aborted = event;
          }
          session.sink?.send({ type: 'event', seq, event });
        },
        complete: () => {
          session.ended = true;
          // Kicked or logged out: the client will not resume, so its partial uploads go. A session that
          // merely outlived its grace keeps them: the client may resume them after a fresh login.
          if (session.final) onEnded(session);
          session.sink?.ended();
          // Kept for the grace period so a reconnecting client still learns that it was aborted.
          startGrace(session);
        },
      });
      return session;
    },
    get: (id) => sessions.get(id),
    tombstone: (id, userId) => (sessions.has(id) ? undefined : tombstones.get(id, userId)),
    keep(session, id, frame) {
      session.answers.keep(id, frame);
    },
    attach(session, sink) {
      const kept = sessions.get(session.id);
      if (kept) hub.clock.clearTimeout(kept.grace);
      session.sink = sink;
    },
    detach(session, sink) {
      if (session.sink !== sink) return;
      session.sink = undefined;
      const kept = sessions.get(session.id);
      if (kept) startGrace(kept);
    },
    logout(session) {
      const kept = sessions.get(session.id);
      if (kept) {
        kept.final = true;
        hub.clock.clearTimeout(kept.grace);
      }
      sessions.delete(session.id);
      unlist(session);
      hub.logout(session.hub);
    },
    close() {
      for (const session of [...sessions.values()]) forget(session);
    },
  };
};
