/**
 * The events half of the `Session` contract, shared by every transport: events are kept from the
 * session's start until the first subscriber, delivered in order, and the stream completes once when
 * the session ends.
 * @module
 */
import { Observable } from 'rxjs';
import type { SessionEvent } from './transport.js';

/** A session's event stream and the two ways a transport feeds it. */
export interface SessionEvents {
  /** Delivers an event, or keeps it until the first subscriber. Ignored once ended. */
  emit(event: SessionEvent): void;
  /** Ends the stream (idempotent): a subscriber completes now, a later one after the kept events. */
  end(): void;
  /** Whether {@link SessionEvents.end} has been called. */
  readonly ended: boolean;
  readonly events$: Observable<SessionEvent>;
}

/** A new, empty event stream for one session. */
export const sessionEvents = (): SessionEvents => {
  const early: SessionEvent[] = [];
  let ended = false;
  let live: ((event: SessionEvent) => void) | undefined;
  let onEnd: (() => void) | undefined;
  return {
    emit(event) {
      if (ended) return;
      if (live) live(event);
      else early.push(event);
    },
    end() {
      if (ended) return;
      ended = true;
      onEnd?.();
    },
    get ended() {
      return ended;
    },
    events$: new Observable<SessionEvent>((subscriber) => {
      for (const event of early.splice(0)) subscriber.next(event);
      if (ended) return subscriber.complete();
      live = (event) => subscriber.next(event);
      onEnd = () => subscriber.complete();
      return () => {
        live = undefined;
        onEnd = undefined;
      };
    }),
  };
};
