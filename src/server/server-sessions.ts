/**
 * Server sessions that outlive their connection, for every transport: a hub session kept for `graceMs`
 * after its connection drops, with its recent events in a replay bounded by count and bytes, so a client
 * that reconnects within the grace resumes after the last event it saw and misses nothing. One connection
 * (a {@link SessionSink}) is attached at a time: a newer one replaces it. Sessions are kept per user up to
 * `sessionsPerUser`, the oldest forgotten first; a session the hub ended is remembered once forgotten
 * (`tombstones.ts`). Grace timers run on the hub's clock. The hub is told when a session's connection goes
 * and when one attaches again (`Hub.setReachable`), so those watching its user see it `UNREACHABLE` while
 * it waits out its grace, `ONLINE` when it is back, `OFFLINE` when the grace ends it.
 *
 * Events are numbered as the bus numbers the session's deliveries, and a session's ID is its hub key, so
 * both mean the same on every server sharing the bus and the secret: with `adopt`, a client whose server
 * died or closed resumes its session through this one, after the last event it saw (decision 95). The
 * replay here is the fast path of a client back on the same server; a server whose client left for
 * another forgets its copy quietly (no logout: the session lives on there).
 *
 * Each transport keeps only its wire: `sessions.ts` (server-sent events, written only while the reader
 * keeps up) and `ws-endpoint.ts` (WebSocket frames). See decision 81.
 *
 * Longer than most files: grace, replay, eviction, tombstones and adoption are one registry's duties
 * toward both transports, and splitting them would spread one session's state over several files.
 * @module
 */
import * as E from 'fp-ts/lib/Either.js';
import { type TimerHandle, unrefTimer } from '../core/clock.js';
import { fault } from '../core/failure.js';
import type { Hub, HubSession } from '../hub/hub.js';
import type { DeliveryReader } from '../hub/hub-sessions.js';
import type { Delivery, HubEvent } from '../hub/message-bus.js';
import { Replay } from './replay.js';
import { type Tombstone, Tombstones } from './tombstones.js';

/**
 * One connection of a session, as its transport writes to it. The registry hands it the events it has
 * not had, in order, while it is `open` and not `full`; the transport calls {@link ServerSessions.pump}
 * when it drains.
 */
export interface SessionSink<T> {
  /** Whether it can still be written (false once its connection ended or broke). */
  readonly open: boolean;
  /** Whether it holds as much unsent as it may: no more events are handed to it until the next `pump`. */
  readonly full: boolean;
  /**
   * Writes event `seq`, as the transport encoded it (`ServerSessionsOptions.encode`): encoded once for
   * every session the event goes to, so the sink adds what is this session's own (its number).
   */
  write(seq: number, item: T): void;
  /** The next event it needs left the replay while it was full: cut it (its client resumes with what is kept). */
  fellBehind(): void;
  /** The session ended or was forgotten: close, after what was written. */
  end(): void;
  /** A newer connection took the session over, here or at another server: close this one. */
  replaced(): void;
}

/** One session as the server keeps it, across its connections. */
export interface ServerSession<S> {
  /** The hub session's key: the same on every server sharing the bus and the secret. */
  readonly id: string;
  readonly hub: HubSession;
  /** The connection attached now, if any. */
  readonly sink: S | undefined;
  /** Whether it ended: the hub ended it (kick, logout, expiry), or the server forgot it. */
  readonly ended: boolean;
}

/** Options of {@link serverSessions}. */
export interface ServerSessionsOptions<T, S extends SessionSink<T>, X extends object> {
  readonly hub: Hub;
  /**
   * Encodes an event as its transport sends it and keeps it for replay, without its number (the sink adds
   * it): called once per event however many sessions it goes to (a bus in this process hands them all
   * one object; decision 116), so a channel message is serialized once, not once per member.
   */
  readonly encode: (event: HubEvent) => T;
  /** The bytes an encoded event counts for in the replay's bound (asked once per event, with `encode`). */
  readonly sizeOf: (item: T, event: HubEvent) => number;
  /** How long a session without a connection is kept. Default: 60 s. */
  readonly graceMs?: number;
  /** Recent events kept per session for replay. Default: 1,000. */
  readonly replayEvents?: number;
  /** Bytes of recent events kept per session (as `sizeOf` counts them). Default: 1 MiB. */
  readonly replayBytes?: number;
  /**
   * Sessions kept per user, the live one and those kicked or dropped waiting out their grace; beyond it the
   * oldest is forgotten, so one user's replay is at most this many times `replayBytes`. Default: 4.
   */
  readonly sessionsPerUser?: number;
  /** Told when a session is forgotten before its grace ended, beyond `sessionsPerUser` (metrics). */
  readonly onEvicted?: () => void;
  /**
   * Told when the hub ends a session that was kicked or logged out (its client will not resume it), to
   * stop its work; not told for one that outlived its grace. Default: none.
   */
  readonly onEnded?: (session: ServerSession<S> & X) => void;
  /** Told when the hub fails to log a forgotten session out. Default: `console.error`. */
  readonly onFault?: (error: unknown, where: string) => void;
  /**
   * Whether a session this registry does not hold may be taken over here ({@link ServerSessions.adopt}):
   * on when the hub's bus is shared with other servers, whose clients come here when their server goes.
   * Default: `false` (a session not held here is unknown). @example { adopt: true }
   */
  readonly adopt?: boolean;
}

/** What {@link ServerSessions.adopt} did. */
export type Adoption<S> =
  /** Taken over here: attach the client's connection. */
  | { readonly state: 'resumed'; readonly session: S }
  /** It ended: tell the client its last event (`seq`, an `aborted`), then that it must log in again. */
  | { readonly state: 'ended'; readonly seq: number; readonly event: Tombstone['event'] }
  /** Nothing to resume (adoption off, a forged or another user's ID, a session the bus no longer knows). */
  | { readonly state: 'unknown' };

/** The sessions of one endpoint over one hub. */
export interface ServerSessions<T, S extends SessionSink<T>, X extends object> {
  /** A new session for a successful hub login, with the transport's own fields `local`; its grace runs until a sink attaches. */
  open(login: HubSession, local: X): ServerSession<S> & X;
  /** The session `id`, while it is kept. */
  get(id: string): (ServerSession<S> & X) | undefined;
  /** What ended session `id` of `userId` if the hub ended it and it has been forgotten since. */
  tombstone(id: string, userId: string): Tombstone | undefined;
  /**
   * Takes over session `id` of `userId`, held by no session here, for a client resuming it after event
   * `lastSeq` with `token` (verified by the caller: the hub checks it again): the hub moves it here and
   * a session with the same ID is held, with the transport's fields `local()` and its grace running
   * until a sink attaches. Calls for one ID at once share one adoption. Rejects with the hub's failure
   * when it refuses the token, or when the bus fails.
   */
  adopt(id: string, userId: string, token: unknown, lastSeq: number, local: () => X): Promise<Adoption<ServerSession<S> & X>>;
  /** The adoption of `id` under way, if any: a request for it waits for it. */
  adopting(id: string): Promise<unknown> | undefined;
  /**
   * Whether `id` is a session ID of `userId` that another server sharing the bus may hold (it verifies
   * with the hub's secret), when adoption is on: what is not held here may be alive there.
   */
  elsewhere(id: string, userId: string): boolean;
  /**
   * Whether `id` is a session ID of `userId` that this hub's secret signed: one this server opened before
   * a restart (when the secret outlives it: a data folder or `FERRY_SECRET`), or one of another server
   * sharing the secret. Adoption on or off.
   */
  issued(id: string, userId: string): boolean;
  /**
   * Whether session `id` of `userId`, not held here, is known to have ended: the hub ended it (its
   * tombstone) or its client logged out, within the last 24 h (the newest 8 of each user) and since this
   * process started.
   */
  ended(id: string, userId: string): boolean;
  /**
   * `sink` takes the session over, resuming after event `lastSeq` (clamped to what the replay holds and
   * what was numbered): the sink it replaces is told so, and the grace period stops. Nothing is written
   * until {@link pump}, so the transport may first answer the connection.
   */
  attach(session: ServerSession<S>, sink: S, lastSeq: number): void;
  /**
   * Writes what the attached sink has not had while it takes more; once the session ended, writes the rest
   * and ends the sink (a reconnecting client so reads why its session ended).
   */
  pump(session: ServerSession<S>): void;
  /** `sink`'s connection went away: if it is still the session's, the grace period starts. */
  detach(session: ServerSession<S>, sink: S): void;
  /** Ends a session now, at its client's request: the hub forgets it. */
  logout(session: ServerSession<S>): void;
  /**
   * Forgets every session (the server is closing): logged out at the hub, or with `handOver` left for
   * their clients to resume through another server sharing the bus. Their connections are ended.
   */
  close(options?: { readonly handOver?: boolean }): void;
}

/**
 * A session as transports read it: the registry's fields, then the transport's own copied in. One class,
 * so every record of a transport has one shape with its fields in the object (a copy of the transport's
 * fields with four more added put them in a second, out-of-object store: decision 119).
 */
class SessionRecord<S> {
  sink: S | undefined = undefined;
  ended = false;

  constructor(
    readonly id: string,
    readonly hub: HubSession,
  ) {}
}

/** What a registry does with the deliveries of the sessions it holds (one object per registry). */
interface Follower<T, S> {
  delivered(state: Held<T, S>, delivery: Delivery): void;
  completed(state: Held<T, S>): void;
}

/**
 * What the registry holds of a session beyond what transports read. It reads the hub session's
 * deliveries itself (`HubSession.follow`), with methods on its prototype: no RxJS subscription, observer
 * or closures for every session held (decision 119).
 */
class Held<T, S> implements DeliveryReader {
  /** The last event written to the attached sink. */
  sent: number;
  grace: TimerHandle | undefined = undefined;
  /** Kicked or logged out: its client will not resume it. */
  final = false;
  /** The event the hub ended it with and its number, remembered once it is forgotten. */
  aborted: { readonly seq: number; readonly event: Tombstone['event'] } | undefined = undefined;
  /**
   * The messages kept for its user while offline: `pending` (more may be kept: the next batch is taken
   * when the attached sink has had every event), `taking` (a batch is on its way), `done`.
   */
  offline: 'pending' | 'taking' | 'done' = 'pending';
  /**
   * Its link as the hub was told it (`Hub.setReachable`): `fresh` from a login here until its first
   * connection (online from the login on: nothing to tell), `up` while a connection is attached.
   * `undefined`: its connection went and its grace runs, or it was taken over from another server (its
   * link was down there, or that server died): told `up` when a connection attaches.
   */
  link: 'fresh' | 'up' | undefined = undefined;

  constructor(
    readonly session: { id: string; hub: HubSession; sink: S | undefined; ended: boolean },
    /** Its recent events; `undefined` until its first (decision 119). */
    public recent: Replay<T> | undefined,
    /** The number of the newest event (the bus's), or where the session was taken over. */
    public newest: number,
    private readonly follower: Follower<T, S>,
  ) {
    this.sent = newest;
  }

  next(delivery: Delivery): void {
    this.follower.delivered(this, delivery);
  }

  complete(): void {
    this.follower.completed(this);
  }
}

/**
 * A registry of sessions over `options.hub`, whose events are encoded as `T` and written to sinks `S`;
 * each session carries its transport's fields `X`.
 * @example
 * const sessions = serverSessions<string, SessionSink<string>>({ hub, encode: sseEvent, sizeOf: (text) => text.length });
 */
export const serverSessions = <T, S extends SessionSink<T>, X extends object = Record<never, never>>(options: ServerSessionsOptions<T, S, X>): ServerSessions<T, S, X> => {
  const { hub } = options;
  const graceMs = options.graceMs ?? 60_000;
  const limits = { events: options.replayEvents ?? 1_000, bytes: options.replayBytes ?? 1024 * 1024 };
  const sessionsPerUser = options.sessionsPerUser ?? 4;
  const adoption = options.adopt ?? false;
  const onFault = options.onFault ?? ((error: unknown, where: string) => console.error(`ferry server: ${where} failed`, error));
  const tombstones = new Tombstones({ now: () => hub.clock.now() });
  /** Whether this hub's secret signed `id` as a session of `userId`. */
  const issued = (id: string, userId: string): boolean => hub.sessionOfKey(id)?.userId === userId;
  /** Sessions whose client logged out: nothing to tell a returning client, but their transfers stop. */
  const loggedOut = new Tombstones<{ readonly userId: string }>({ now: () => hub.clock.now() });
  /**
   * The last event encoded, its encoding and size: a bus in this process hands every member of a channel
   * the same event object, one after another, so each is encoded and measured once (decision 116). The
   * Redis bus does too within one read, its members' streams interleaved (decision 137).
   */
  let last: { event: HubEvent | undefined; item: T | undefined; bytes: number } = { event: undefined, item: undefined, bytes: 0 };
  const encoded = (event: HubEvent): { readonly item: T; readonly bytes: number } => {
    if (last.event !== event) {
      const item = options.encode(event);
      last = { event, item, bytes: options.sizeOf(item, event) };
    }
    return last as { readonly item: T; readonly bytes: number };
  };
  const held = new Map<string, Held<T, S>>();
  /** Each user's sessions, oldest first. */
  const byUser = new Map<string, Held<T, S>[]>();
  /** The state behind a session handed out (forgotten ones too: their hub session may still end). */
  const states = new WeakMap<object, Held<T, S>>();
  const stateOf = (session: ServerSession<S>): Held<T, S> => states.get(session) as Held<T, S>;
  /** Adoptions under way, by session ID. */
  const adoptions = new Map<string, Promise<Adoption<ServerSession<S> & X>>>();

  const unlist = (state: Held<T, S>): void => {
    const userId = state.session.hub.userId;
    const mine = byUser.get(userId);
    const at = mine?.indexOf(state) ?? -1;
    if (at >= 0) mine?.splice(at, 1);
    if (mine?.length === 0) byUser.delete(userId);
  };
  const startGrace = (state: Held<T, S>): void => {
    hub.clock.clearTimeout(state.grace);
    // Only a session still kept waits out its grace; the timer never keeps the process alive.
    if (held.get(state.session.id) !== state) return;
    state.grace = hub.clock.setTimeout(() => forget(state), graceMs);
    unrefTimer(state.grace);
  };
  /** Ends the attached sink after every event it has not had (at most the replay), whatever its pushback. */
  const finish = (state: Held<T, S>): void => {
    const sink = state.session.sink;
    if (!sink) return;
    state.session.sink = undefined;
    if (sink.open) {
      state.recent?.after(state.sent, (seq, item) => {
        sink.write(seq, item);
        state.sent = seq;
        return true;
      });
      sink.end();
    }
    startGrace(state);
  };
  const pump = (state: Held<T, S>): void => {
    if (state.session.ended) return finish(state);
    const sink = state.session.sink;
    if (!sink?.open) return;
    const oldest = state.recent?.oldest;
    if (oldest !== undefined && oldest > state.sent + 1) return sink.fellBehind();
    state.recent?.after(state.sent, (seq, item) => {
      if (sink.full) return false;
      sink.write(seq, item);
      state.sent = seq;
      return true;
    });
    if (state.offline === 'pending' && state.sent === state.newest && !sink.full) takeOffline(state);
  };
  /**
   * Asks the hub for the next batch of the user's offline messages (decision 98): only when the client's
   * connection has had every event, so the replay never holds more than a batch of them unread. A batch
   * that fails is asked again at the next pump (the next event, drain or attach).
   */
  const takeOffline = (state: Held<T, S>): void => {
    state.offline = 'taking';
    const asked = state.newest;
    hub.deliverOffline(state.session.hub).then(
      (more) => {
        state.offline = more ? 'pending' : 'done';
        // The batch's events arrive as deliveries, each pumping; if they came already (a bus in this
        // process delivers at once), pump for the next batch here.
        if (more && state.newest > asked) pump(state);
      },
      (error: unknown) => {
        state.offline = 'pending';
        onFault(error, 'delivering offline messages');
      },
    );
  };
  /**
   * Stops holding a session here: its sink closed (`replaced` when its client went on elsewhere), nothing
   * remembered, no logout (the session lives on, at the hub that took it over or for one to take it).
   */
  const letGo = (state: Held<T, S>, how: 'replaced' | 'end'): void => {
    const { session } = state;
    hub.clock.clearTimeout(state.grace);
    if (held.get(session.id) === state) held.delete(session.id);
    unlist(state);
    session.ended = true;
    const sink = session.sink;
    session.sink = undefined;
    if (sink?.open) sink[how]();
  };
  const forget = (state: Held<T, S>): void => {
    const { session } = state;
    if (state.aborted) tombstones.add(session.id, { userId: session.hub.userId, event: state.aborted.event, seq: state.aborted.seq });
    letGo(state, 'end');
    hub.logout(session.hub).catch((error: unknown) => onFault(error, 'logout'));
  };
  /** Holds hub session `login` here as session `id`, its events numbered after `after`. */
  const hold = (login: HubSession, local: X, after: number): ServerSession<S> & X => {
    const session = Object.assign(new SessionRecord<S>(login.key, login), local);
    const state = new Held<T, S>(session, undefined, after, follower);
    states.set(session, state);
    held.set(session.id, state);
    const mine = byUser.get(login.userId) ?? [];
    byUser.set(login.userId, mine);
    mine.push(state);
    // The oldest go first: kicked or dropped ones waiting out their grace (the hub keeps one live per user).
    while (mine.length > sessionsPerUser) {
      options.onEvicted?.();
      forget(mine[0] as Held<T, S>);
    }
    login.follow(state);
    startGrace(state);
    return session;
  };
  /** Each held session's deliveries: numbered, kept for replay, written to its sink; its end. */
  const follower: Follower<T, S> = {
    delivered(state, { seq, event }) {
      if (event.type === 'aborted') {
        state.final = true;
        state.aborted = { seq, event };
      }
      const before = state.newest;
      state.newest = seq;
      const { item, bytes } = encoded(event);
      (state.recent ??= new Replay<T>(limits)).push(seq, item, bytes);
      // A sink that had every event and takes more is written this one at once (the common case: one
      // event in, one out, nothing to look up); anything else goes through the full pump.
      const sink = state.session.sink;
      if (state.sent === before && !state.session.ended && sink?.open === true && !sink.full) {
        sink.write(seq, item);
        state.sent = seq;
        if (state.offline === 'pending' && !sink.full) takeOffline(state);
      } else {
        pump(state);
      }
    },
    completed(state) {
      const { session } = state;
      // Neither aborted nor let go here: its client resumed it through another server (or it ended
      // there). Dropped quietly: a client back here asks the hub, which takes it back or says it ended.
      if (!state.aborted && held.get(session.id) === state) return letGo(state, 'replaced');
      // Kept for the grace period, so a reconnecting client still learns why it ended.
      session.ended = true;
      // Kicked or logged out: its work stops. One that merely outlived its grace keeps it (its partial
      // uploads may be resumed after a fresh login).
      if (state.final) options.onEnded?.(session as ServerSession<S> & X);
      finish(state);
      startGrace(state);
    },
  };

  return {
    open(login, local) {
      const session = hold(login, local, 0);
      stateOf(session).link = 'fresh';
      return session;
    },
    get: (id) => held.get(id)?.session as (ServerSession<S> & X) | undefined,
    tombstone: (id, userId) => (held.has(id) ? undefined : tombstones.get(id, userId)),
    adopt(id, userId, token, lastSeq, local) {
      const running = adoptions.get(id);
      if (running) return running;
      if (!adoption) return Promise.resolve({ state: 'unknown' });
      const adopting = (async (): Promise<Adoption<ServerSession<S> & X>> => {
        if (hub.sessionOfKey(id)?.userId !== userId) return { state: 'unknown' };
        const resumed = await hub.resume(id, token, lastSeq);
        if (E.isLeft(resumed)) {
          if (resumed.left._tag === 'NotLoggedIn') return { state: 'unknown' };
          throw fault(resumed.left);
        }
        if (resumed.right.state === 'ended') {
          const { seq, event } = resumed.right.ending;
          tombstones.add(id, { userId, event, seq });
          return { state: 'ended', seq, event };
        }
        return { state: 'resumed', session: hold(resumed.right.session, local(), lastSeq) };
      })().finally(() => adoptions.delete(id));
      adoptions.set(id, adopting);
      return adopting;
    },
    adopting: (id) => adoptions.get(id),
    elsewhere: (id, userId) => adoption && issued(id, userId),
    issued,
    ended: (id, userId) => !held.has(id) && (tombstones.get(id, userId) !== undefined || loggedOut.get(id, userId) !== undefined),
    attach(session, sink, lastSeq) {
      const state = stateOf(session);
      const replaced = state.session.sink;
      if (replaced && replaced !== sink) replaced.replaced();
      hub.clock.clearTimeout(state.grace);
      // Not kept once cleared: a timer and its callback for every attached session (decision 115).
      state.grace = undefined;
      state.session.sink = sink;
      // Watchers see it back (ONLINE) only if they may have been told it was gone; a newer connection
      // replacing an attached one changes nothing for them.
      if (state.link === undefined) hub.setReachable(state.session.hub, true);
      state.link = 'up';
      // A client that asks for events the replay no longer has gets what it has (the gap is lost); one
      // cannot have seen an event not yet numbered.
      const newest = state.newest;
      state.sent = Math.min(newest, Math.max(lastSeq, (state.recent?.oldest ?? newest + 1) - 1));
    },
    pump: (session) => pump(stateOf(session)),
    detach(session, sink) {
      const state = stateOf(session);
      if (state.session.sink !== sink) return;
      state.session.sink = undefined;
      // Waiting out its grace: its watchers see it UNREACHABLE until it attaches again (ONLINE) or the grace
      // ends it (OFFLINE). The hub ignores a session that has ended.
      if (state.link === 'up') hub.setReachable(state.session.hub, false);
      state.link = undefined;
      startGrace(state);
    },
    logout(session) {
      const state = stateOf(session);
      state.final = true;
      loggedOut.add(session.id, { userId: session.hub.userId });
      forget(state);
    },
    close({ handOver = false } = {}) {
      for (const state of [...held.values()]) {
        if (handOver) letGo(state, 'end');
        else forget(state);
      }
    },
  };
};
