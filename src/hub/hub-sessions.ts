/**
 * The sessions served through one hub: each is opened (or resumed) on the message bus with this hub as
 * its owner, and its events are the bus's numbered deliveries to it, so a session ends here (its
 * `events$` completes) however the bus ends it — a logout here, a login of the same user at another
 * hub, an abort — or when it moves to another hub that its client resumed it through. Whether a session
 * is served here is known without asking the bus (`Hub.isOnline` answers synchronously): from its
 * opening or resumption until its deliveries complete or this hub closed it.
 *
 * A session has a key: its name for clients, which any hub holding the same secret can verify without
 * asking anyone (decision 95): `<bus session ID>.<user ID>.<nonce>.<HMAC>`, the user ID and the nonce in
 * base64url. The nonce makes the keys of two sessions differ even where a bus numbers them alike (two
 * processes, each with its own memory bus, sharing a secret kept in the data folder).
 * @module
 */
import { map, Observable, type Unsubscribable } from 'rxjs';
import { fromBase64Url, timingSafeEqual, toBase64Url, utf8 } from '../core/bytes.js';
import { failureOf } from '../core/failure.js';
import { hmacSha256 } from '../core/hash.js';
import { isValidId, type RandomBytes } from '../core/ids.js';
import type { BusSession, Delivery, HubAbortCause, HubEvent, MessageBus } from './message-bus.js';
import type { HubMonitor } from './monitor.js';

/** A logged-in session at the hub. */
export interface HubSession {
  /** Unique among the sessions of every hub sharing the bus. */
  readonly sessionId: number;
  readonly userId: string;
  /**
   * The session's name for its clients, signed with the hub's secret, the same on every hub sharing the
   * bus and secret: a server gives it as the session ID, and a hub that does not serve the session takes
   * it back with `Hub.resume`.
   */
  readonly key: string;
  /** What the hub tells the session; completes when the session ends here. */
  readonly events$: Observable<HubEvent>;
  /**
   * The same events with their numbers (`Delivery.seq`, the bus's numbering of the session's
   * deliveries, so the same on every hub): a client resuming after number n, here or at another hub,
   * misses nothing. An `aborted` the hub adds itself (the bus failed to abort) takes the next number.
   */
  readonly deliveries$: Observable<Delivery>;
  /**
   * Hands `reader` the deliveries as a subscriber of `deliveries$` is handed them (what came before the
   * first reader, then each as it comes, `complete` when the session ends here), without an RxJS
   * subscription: for a reader that stays to the end, as a server session does. A subscription, its
   * observer and finalizers cost half a kilobyte for every logged-in session (decision 119).
   */
  follow(reader: DeliveryReader): void;
}

/** What reads a session's deliveries ({@link HubSession.follow}; a subscriber of `deliveries$` is one too). */
export interface DeliveryReader {
  next(delivery: Delivery): void;
  complete(): void;
}

/** The sessions of one hub. */
export interface HubSessions {
  /** Opens a session on the bus (replacing the user's previous one, anywhere) and starts its events. */
  open(userId: string): Promise<HubSession>;
  /**
   * Serves here a session of the bus that a client resumes through this hub, with its deliveries after
   * `after`: the bus moves it to this hub (the hub that served it so far sees its events complete). A
   * session already served here is taken over by the new handle. `undefined` when the bus does not have
   * it open for its user.
   */
  resume(session: BusSession, key: string, after: number): Promise<HubSession | undefined>;
  /**
   * The `aborted` delivery a session that is no longer open ended with, if the bus still keeps it above
   * `after`; `undefined` when it keeps none (the session was closed, not aborted, or too long ago, or the
   * deliveries above `after` are gone: `Conflict`). Rejects when the bus fails.
   */
  endingOf(sessionId: number, after: number): Promise<Ending | undefined>;
  /** The bus session a key names, if this hub's secret signed it. */
  verifyKey(key: unknown): BusSession | undefined;
  /** Whether the session is served here and has not ended. */
  isOpen(session: HubSession): boolean;
  /** Ends the session on the bus unless it moved to another hub; it is closed here at once. Idempotent. */
  close(session: HubSession): Promise<void>;
  /**
   * Ends the session with an `aborted` event, in the background. If the bus fails to, the session is
   * told and ended here anyway (the failure goes to `onError`): a session must not outlive its token.
   */
  abort(session: HubSession, cause: HubAbortCause, reason: string): void;
  /** Ends every session served here, on the bus too (a closing hub leaves nobody online in its name). */
  closeAll(): Promise<void>;
  /**
   * Stops serving every session here and leaves them open on the bus, for their clients to resume at
   * another hub sharing it (a bus that tracks its owners' liveness reaps those nobody resumes).
   */
  handOver(): void;
}

/** How a session that is no longer open ended: its last delivery, an `aborted`. */
export interface Ending {
  readonly seq: number;
  readonly event: Extract<HubEvent, { type: 'aborted' }>;
}

/** Options of {@link hubSessions}. */
export interface HubSessionsOptions {
  readonly bus: MessageBus;
  /** Counts sessions opened and closed here. */
  readonly monitor: HubMonitor;
  /** Told of deliveries that failed (the session then ends), of closes that failed, and of what a reader of a delivery threw. */
  readonly onError: (error: unknown) => void;
  /** The owner of the sessions served here, on the bus: the hub's random holder ID. */
  readonly owner: string;
  /** The key that signs session keys: the hub's secret. */
  readonly secret: Uint8Array;
  /** Randomness of the keys' nonces. */
  readonly random: RandomBytes;
  /**
   * Told once when a session served here ends here, for the hub's own bookkeeping (one function for
   * every session, not a callback each: decision 134). A session replaced here by its own resumption
   * ends before its successor is served.
   */
  readonly onEnded?: (sessionId: number) => void;
}

/**
 * Events delivered before the session's consumer subscribed (it does after `open` resolves, some turns
 * later): kept, at most this many, the oldest dropped first, and handed to the first subscriber.
 */
const EARLY_EVENTS = 1_000;

/** Longest key read: a 16-digit session ID, a 64-character user ID in base64url, a nonce and a MAC. */
const MAX_KEY_LENGTH = 256;

/** Bytes of a key's nonce. */
const NONCE_BYTES = 12;

/** What a key's MAC covers: its first three parts, after a label no login token's payload can start with. */
const macOf = (secret: Uint8Array, signed: string): Uint8Array => hmacSha256(secret, utf8(`ferry-session:${signed}`));

interface Local {
  readonly sessionId: number;
  /**
   * Who reads its deliveries now (one, but for a moment): handed each one directly, with no `Subject`
   * between the bus and them, as every event of a channel passes here once per member (decision 116).
   */
  consumers: readonly DeliveryReader[];
  /** Until the first subscriber: what came before it. */
  early: Delivery[] | undefined;
  ended: boolean;
  /** Its deliveries from the bus; `undefined` until subscribed (a field from the start: one shape). */
  subscription: Unsubscribable | undefined;
  /** The number of the newest delivery: an event added here is numbered after it. */
  newest: number;
}

/**
 * Adds `reader` to the readers of `local`: what came early to the first reader, then live; completed at
 * once if it ended. Answers whether it was added.
 */
const addReader = (local: Local, reader: DeliveryReader): boolean => {
  const early = local.early ?? [];
  local.early = undefined;
  for (const delivery of early) reader.next(delivery);
  if (local.ended) {
    reader.complete();
    return false;
  }
  // A list of exactly its length (a spread or a push into an empty array reserves 17 slots: decision 119).
  local.consumers = local.consumers.length === 0 ? [reader] : [...local.consumers, reader];
  return true;
};

/** The deliveries of `local`: what came early to the first subscriber, then live; completes when it ended. */
const deliveriesOf = (local: Local): Observable<Delivery> =>
  new Observable<Delivery>((subscriber) => {
    if (!addReader(local, subscriber)) return;
    return () => {
      local.consumers = local.consumers.filter((consumer) => consumer !== subscriber);
    };
  });

/**
 * The handle of a session: its `deliveries$` and `events$` made when first asked for, as a server
 * session follows the deliveries without them and this record is kept for every logged-in session
 * (decision 119).
 */
class Handle implements HubSession {
  private deliveries: Observable<Delivery> | undefined;
  private events: Observable<HubEvent> | undefined;

  constructor(
    readonly sessionId: number,
    readonly userId: string,
    readonly key: string,
    private readonly local: Local,
  ) {}

  get deliveries$(): Observable<Delivery> {
    return (this.deliveries ??= deliveriesOf(this.local));
  }

  get events$(): Observable<HubEvent> {
    return (this.events ??= this.deliveries$.pipe(map((delivery) => delivery.event)));
  }

  follow(reader: DeliveryReader): void {
    addReader(this.local, reader);
  }
}

const deliver = (local: Local, delivery: Delivery): void => {
  local.newest = Math.max(local.newest, delivery.seq);
  if (!local.early) {
    // Replaced, never changed in place: a consumer that leaves or comes during a delivery changes the list
    // of the next one.
    for (const consumer of local.consumers) consumer.next(delivery);
    return;
  }
  if (local.early.length >= EARLY_EVENTS) local.early.shift();
  local.early.push(delivery);
};

/** What a hub does when the bus ends or fails the deliveries of a session it serves (one object per hub). */
interface Served {
  ended(local: Local): void;
  failed(local: Local, error: unknown): void;
  /** A reader of a delivery threw: a bug of ours, reported; the bus and the session's later deliveries go on. */
  faulted(error: unknown): void;
}

/**
 * The observer of one session's deliveries from the bus: its methods on its prototype, not three
 * closures per session (decision 119).
 */
class BusReader {
  constructor(
    private readonly local: Local,
    private readonly served: Served,
  ) {}

  next(delivery: Delivery): void {
    // Handed by the bus directly (`MessageBus.follow`): what a reader throws must not reach the bus's
    // loop over a channel's members, or the sender.
    try {
      deliver(this.local, delivery);
    } catch (error) {
      this.served.faulted(error);
    }
  }

  complete(): void {
    this.served.ended(this.local);
  }

  error(error: unknown): void {
    this.served.failed(this.local, error);
  }
}

/** The sessions a hub serves on `options.bus` as `options.owner`. */
export const hubSessions = (options: HubSessionsOptions): HubSessions => {
  const { bus, monitor, onError, owner, secret, random, onEnded } = options;
  /** The session served here under each bus session ID. */
  const locals = new Map<number, Local>();
  /** The local state behind each handle given out (an old handle of a session taken over keeps its own). */
  const handles = new WeakMap<HubSession, Local>();
  const current = (session: HubSession): Local | undefined => {
    const local = handles.get(session);
    return local !== undefined && locals.get(session.sessionId) === local ? local : undefined;
  };
  const end = (local: Local): void => {
    if (local.ended) return;
    local.ended = true;
    if (locals.get(local.sessionId) === local) locals.delete(local.sessionId);
    local.subscription?.unsubscribe();
    monitor.sessionClosed();
    const consumers = local.consumers;
    local.consumers = [];
    onEnded?.(local.sessionId);
    // Called by the bus directly (`MessageBus.follow`): what a consumer throws is reported, and the
    // others are still told, as are the bus's other followers.
    for (const consumer of consumers) {
      try {
        consumer.complete();
      } catch (error) {
        onError(error);
      }
    }
  };
  const keyOf = (session: BusSession): string => {
    const signed = `${session.sessionId}.${toBase64Url(utf8(session.userId))}.${toBase64Url(random(NONCE_BYTES))}`;
    return `${signed}.${toBase64Url(macOf(secret, signed))}`;
  };
  const served: Served = {
    // Ended on the bus, or moved to another owner: either way no longer served here.
    ended: end,
    failed(local, error) {
      // `Conflict`: the deliveries its client has not seen are no longer kept (it resumed too late). Not
      // a fault of the bus: the session is lost, and its client logs in afresh.
      if (failureOf(error)._tag === 'Conflict') monitor.sessionLost();
      else onError(error);
      end(local);
      // Nobody is served in its name any more: it ends on the bus too, unless it moved meanwhile.
      bus.close(local.sessionId, owner).catch(onError);
    },
    faulted: onError,
  };
  /** Serves `session` here from its deliveries after `after`, replacing what served it here before. */
  const serve = (session: BusSession, key: string, after: number): HubSession => {
    const { sessionId, userId } = session;
    const previous = locals.get(sessionId);
    if (previous) end(previous);
    const local: Local = { sessionId, consumers: [], early: [], ended: false, subscription: undefined, newest: after };
    locals.set(sessionId, local);
    monitor.sessionOpened();
    const reader = new BusReader(local, served);
    const subscription = bus.follow ? bus.follow(sessionId, after, owner, reader) : bus.deliveries(sessionId, after, owner).subscribe(reader);
    // Already ended (replaced before its deliveries were asked for): `end` ran before this was known.
    if (local.ended) subscription.unsubscribe();
    else local.subscription = subscription;
    const handle = new Handle(sessionId, userId, key, local);
    handles.set(handle, local);
    return handle;
  };

  return {
    async open(userId) {
      const session = await bus.open(userId, owner);
      return serve(session, keyOf(session), 0);
    },
    async resume(session, key, after) {
      if (!(await bus.resume(session.sessionId, session.userId, owner))) return undefined;
      return serve(session, key, after);
    },
    endingOf: (sessionId, after) =>
      new Promise<Ending | undefined>((resolve, reject) => {
        let last: Delivery | undefined;
        // A session that is not open completes at once after what the bus keeps of it.
        bus.deliveries(sessionId, after).subscribe({
          next: (delivery) => {
            last = delivery;
          },
          complete: () => {
            const event = last?.event;
            resolve(last !== undefined && event?.type === 'aborted' ? { seq: last.seq, event } : undefined);
          },
          error: (error: unknown) => (failureOf(error)._tag === 'Conflict' ? resolve(undefined) : reject(error)),
        });
      }),
    verifyKey(key) {
      if (typeof key !== 'string' || key.length > MAX_KEY_LENGTH) return undefined;
      const parts = key.split('.');
      if (parts.length !== 4) return undefined;
      const [id = '', user = '', nonce = '', mac = ''] = parts;
      const given = fromBase64Url(mac);
      if (given === undefined || !timingSafeEqual(given, macOf(secret, `${id}.${user}.${nonce}`))) return undefined;
      const sessionId = Number(id);
      const userBytes = fromBase64Url(user);
      const userId = userBytes === undefined ? undefined : new TextDecoder().decode(userBytes);
      if (!/^[1-9][0-9]{0,15}$/.test(id) || !Number.isSafeInteger(sessionId) || !isValidId(userId)) return undefined;
      return { sessionId, userId };
    },
    isOpen: (session) => current(session) !== undefined,
    async close(session) {
      const local = current(session);
      // Ended here first, whatever the bus answers: nobody is served in this session's name any more.
      if (local) end(local);
      // Only if it is still this hub's: a session whose client resumed it elsewhere stays open there.
      await bus.close(session.sessionId, owner);
    },
    async closeAll() {
      const served = [...locals.values()];
      for (const local of served) end(local);
      const closed = await Promise.allSettled(served.map((local) => bus.close(local.sessionId, owner)));
      for (const outcome of closed) if (outcome.status === 'rejected') onError(outcome.reason);
    },
    handOver() {
      for (const local of [...locals.values()]) end(local);
    },
    abort(session, cause, reason) {
      const local = current(session);
      const told = (): void => {
        if (!local || local.ended) return;
        deliver(local, { seq: local.newest + 1, event: { type: 'aborted', reason, cause } });
        end(local);
      };
      bus.abort(session.sessionId, cause, reason).then(
        // A bus that knew the session delivers the `aborted`, then completes the deliveries, which ends it here.
        // A bus that no longer knew it had ended it already, and said why itself: nothing is invented here.
        (known) => (known || !local ? undefined : end(local)),
        (error: unknown) => {
          onError(error);
          told();
        },
      );
    },
  };
};
