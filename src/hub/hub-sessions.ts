/**
 * The sessions opened through one hub: each is opened on the message bus, and its `events$` is fed by
 * the bus's deliveries to it, so a session ends (its `events$` completes) however the bus ends it: a
 * logout here, a login of the same user at another hub, an abort. Whether a session is open is known
 * here without asking the bus (`Hub.isOnline` answers synchronously): from its opening until its
 * deliveries complete or this hub closed it.
 * @module
 */
import { Observable, Subject, type Subscription } from 'rxjs';
import type { HubAbortCause, HubEvent, MessageBus } from './message-bus.js';
import type { HubMonitor } from './monitor.js';

/** A logged-in session at the hub. */
export interface HubSession {
  /** Unique among the sessions of every hub sharing the bus. */
  readonly sessionId: number;
  readonly userId: string;
  /** What the hub tells the session; completes when the session ends. */
  readonly events$: Observable<HubEvent>;
}

/** The sessions of one hub. */
export interface HubSessions {
  /** Opens a session on the bus (replacing the user's previous one, anywhere) and starts its events. */
  open(userId: string): Promise<HubSession>;
  /** Whether the session was opened here and has not ended. */
  isOpen(session: HubSession): boolean;
  /** Ends the session on the bus; it is closed here once the bus has. Idempotent. */
  close(session: HubSession): Promise<void>;
  /**
   * Ends the session with an `aborted` event, in the background. If the bus fails to, the session is
   * told and ended here anyway (the failure goes to `onError`): a session must not outlive its token.
   */
  abort(session: HubSession, cause: HubAbortCause, reason: string): void;
  /**
   * Calls `callback` once when the session ends (at once if it already has), for the hub's own
   * bookkeeping: unlike subscribing to `events$`, it takes nothing from the session's consumer.
   */
  onEnded(session: HubSession, callback: () => void): void;
  /** Ends every session opened here, on the bus too (a closing hub leaves nobody online in its name). */
  closeAll(): Promise<void>;
}

/**
 * Events delivered before the session's consumer subscribed (it does after `open` resolves, some turns
 * later): kept, at most this many, the oldest dropped first, and handed to the first subscriber.
 */
const EARLY_EVENTS = 1_000;

interface Local {
  readonly events: Subject<HubEvent>;
  /** Until the first subscriber: what came before it. */
  early: HubEvent[] | undefined;
  ended: boolean;
  readonly onEnded: (() => void)[];
  subscription?: Subscription;
}

/** The events of `local`: what came early to the first subscriber, then live; completes when it ended. */
const eventsOf = (local: Local): Observable<HubEvent> =>
  new Observable<HubEvent>((subscriber) => {
    const early = local.early ?? [];
    local.early = undefined;
    for (const event of early) subscriber.next(event);
    if (local.ended) return subscriber.complete();
    return local.events.subscribe(subscriber);
  });

const deliver = (local: Local, event: HubEvent): void => {
  if (!local.early) return local.events.next(event);
  if (local.early.length >= EARLY_EVENTS) local.early.shift();
  local.early.push(event);
};

/** The sessions a hub opens on `bus`, counted for `monitor`. `onError` is told of deliveries that failed. */
export const hubSessions = (bus: MessageBus, monitor: HubMonitor, onError: (error: unknown) => void): HubSessions => {
  const locals = new Map<number, Local>();
  const end = (sessionId: number): void => {
    const local = locals.get(sessionId);
    if (!local) return;
    locals.delete(sessionId);
    local.subscription?.unsubscribe();
    monitor.sessionClosed();
    local.ended = true;
    local.events.complete();
    for (const callback of local.onEnded.splice(0)) callback();
  };
  return {
    async open(userId) {
      const { sessionId } = await bus.open(userId);
      const local: Local = { events: new Subject<HubEvent>(), early: [], ended: false, onEnded: [] };
      locals.set(sessionId, local);
      monitor.sessionOpened();
      const subscription = bus.deliveries(sessionId).subscribe({
        next: ({ event }) => deliver(local, event),
        complete: () => end(sessionId),
        error: (error: unknown) => {
          onError(error);
          end(sessionId);
        },
      });
      // Already ended (replaced before its deliveries were asked for): `end` ran before this was known.
      if (locals.get(sessionId) === local) local.subscription = subscription;
      else subscription.unsubscribe();
      return { sessionId, userId, events$: eventsOf(local) };
    },
    isOpen: (session) => locals.has(session.sessionId),
    onEnded(session, callback) {
      const local = locals.get(session.sessionId);
      if (local) local.onEnded.push(callback);
      else callback();
    },
    async close(session) {
      try {
        await bus.close(session.sessionId);
      } finally {
        // Ended here whatever the bus answered: nobody is served in this session's name any more.
        end(session.sessionId);
      }
    },
    async closeAll() {
      const ids = [...locals.keys()];
      for (const id of ids) end(id);
      const closed = await Promise.allSettled(ids.map((id) => bus.close(id)));
      for (const outcome of closed) if (outcome.status === 'rejected') onError(outcome.reason);
    },
    abort(session, cause, reason) {
      const told = (): void => {
        const local = locals.get(session.sessionId);
        if (local) deliver(local, { type: 'aborted', reason, cause });
        end(session.sessionId);
      };
      bus.abort(session.sessionId, cause, reason).then(
        // A bus that knew the session delivers the `aborted`, then completes the deliveries, which ends it here.
        // A bus that no longer knew it had ended it already, and said why itself: nothing is invented here.
        (known) => (known ? undefined : end(session.sessionId)),
        (error: unknown) => {
          onError(error);
          told();
        },
      );
    },
  };
};
