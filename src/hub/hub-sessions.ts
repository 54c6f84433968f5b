/**
 * The sessions opened through one hub: each is opened on the message bus, and its `events$` is fed by
 * the bus's deliveries to it, so a session ends (its `events$` completes) however the bus ends it: a
 * logout here, a login of the same user at another hub, an abort. Whether a session is open is known
 * here without asking the bus (`Hub.isOnline` answers synchronously): from its opening until its
 * deliveries complete or this hub closed it.
 * @module
 */
import { type Observable, Subject, type Subscription } from 'rxjs';
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
}

interface Local {
  readonly events: Subject<HubEvent>;
  subscription?: Subscription;
}

/** The sessions a hub opens on `bus`, counted for `monitor`. `onError` is told of deliveries that failed. */
export const hubSessions = (bus: MessageBus, monitor: HubMonitor, onError: (error: unknown) => void): HubSessions => {
  const locals = new Map<number, Local>();
  const end = (sessionId: number): void => {
    const local = locals.get(sessionId);
    if (!local) return;
    locals.delete(sessionId);
    local.subscription?.unsubscribe();
    monitor.sessionClosed();
    local.events.complete();
  };
  return {
    async open(userId) {
      const { sessionId } = await bus.open(userId);
      const local: Local = { events: new Subject<HubEvent>() };
      locals.set(sessionId, local);
      monitor.sessionOpened();
      const subscription = bus.deliveries(sessionId).subscribe({
        next: ({ event }) => local.events.next(event),
        complete: () => end(sessionId),
        error: (error: unknown) => {
          onError(error);
          end(sessionId);
        },
      });
      // Already ended (replaced before its deliveries were asked for): `end` ran before this was known.
      if (locals.get(sessionId) === local) local.subscription = subscription;
      else subscription.unsubscribe();
      return { sessionId, userId, events$: local.events.asObservable() };
    },
    isOpen: (session) => locals.has(session.sessionId),
    async close(session) {
      await bus.close(session.sessionId);
      end(session.sessionId);
    },
    abort(session, cause, reason) {
      const told = (): void => {
        const local = locals.get(session.sessionId);
        local?.events.next({ type: 'aborted', reason, cause });
        end(session.sessionId);
      };
      bus.abort(session.sessionId, cause, reason).then(
        // A bus that knew the session delivers the `aborted`, then completes the deliveries, which ends it here.
        (known) => (known ? undefined : told()),
        (error: unknown) => {
          onError(error);
          told();
        },
      );
    },
  };
};
