/**
 * WebSocket sessions, server side: a hub session that outlives its socket for `graceMs`, keeping its
 * recent events (numbered) and its recent answers, so a client that reconnects within the grace resumes
 * the same session — channels kept, missed events replayed after the last `seq` it saw, calls it resends
 * answered once (from the kept answer) rather than run twice. The HTTP equivalent is `sessions.ts`.
 * @module
 */
import { type TimerHandle, unrefTimer } from '../clock.js';
import type { Hub, HubSession } from '../hub/hub.js';
import type { HubEvent } from '../hub/router.js';
import { toBase64Url } from '../bytes.js';
import { cryptoRandomBytes } from '../ids.js';
import { IdMap } from '../id-map.js';
import type { ServerFrame } from '../../transports/ws-protocol.js';

/**
 * The last `limit` answers of a session by call ID, the oldest dropped first. An {@link IdMap} and a ring
 * of IDs rather than a `Map`: a `Map` whose keys churn (one answer in, one out, per call) keeps its old
 * tables chained, and in a server that ever ran a full GC that makes every later answer survive young
 * collections (decision 58).
 */
export class KeptAnswers {
  private readonly byId = new IdMap<ServerFrame>();
  /** IDs in the order they were kept; once full, `next` is the oldest. */
  private readonly order: number[] = [];
  private next = 0;

  constructor(private readonly limit: number) {}

  /** The answer kept for call `id`, if any. */
  get(id: number): ServerFrame | undefined {
    return this.byId.get(id);
  }

  /** Keeps `frame` as the answer of call `id`, dropping the oldest beyond the limit. */
  keep(id: number, frame: ServerFrame): void {
    if (this.limit < 1) return;
    if (!this.byId.has(id)) {
      if (this.order.length < this.limit) this.order.push(id);
      else {
        this.byId.delete(this.order[this.next] as number);
        this.order[this.next] = id;
        this.next = (this.next + 1) % this.limit;
      }
    }
    this.byId.set(id, frame);
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
  /** Bytes of recent events kept per session (estimated from their messages). Default: 4 MiB. */
  readonly replayBytes?: number;
  /** Recent answers kept per session for resent calls. Default: 1,000. */
  readonly keptAnswers?: number;
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
  const replayBytes = options.replayBytes ?? 4 * 1024 * 1024;
  /** `final`: kicked or logged out, so the client will not resume it. */
  type Kept = WsSession & { grace: TimerHandle | undefined; final: boolean };
  const sessions = new Map<string, Kept>();

  const forget = (session: Kept): void => {
    hub.clock.clearTimeout(session.grace);
    sessions.delete(session.id);
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
      const recent: { readonly seq: number; readonly event: HubEvent; readonly bytes: number }[] = [];
      let recentBytes = 0;
      let nextSeq = 1;
      const session: Kept = {
        id: toBase64Url(cryptoRandomBytes(16)),
        hub: login,
        sink: undefined,
        ended: false,
        uploads: new Set(),
        answers: new KeptAnswers(keptAnswers),
        running: new Set(),
        grace: undefined,
        final: false,
        replay(lastSeq) {
          for (const { seq, event } of recent) if (seq > lastSeq) session.sink?.send({ type: 'event', seq, event });
        },
      };
      sessions.set(session.id, session);
      login.events$.subscribe({
        next: (event) => {
          const seq = nextSeq++;
          const bytes = sizeOf(event);
          recent.push({ seq, event, bytes });
          recentBytes += bytes;
          while (recent.length > replayEvents || (recentBytes > replayBytes && recent.length > 1)) recentBytes -= (recent.shift() as { bytes: number }).bytes;
          if (event.type === 'aborted') session.final = true;
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
      hub.logout(session.hub);
    },
    close() {
      for (const session of [...sessions.values()]) forget(session);
    },
  };
};
