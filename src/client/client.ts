/**
 * The client: a thin coordinator of the session machine, the scheduler, transfer tasks and a transport.
 * Every call validates its arguments first and fails with the documented code naming the argument.
 * @module
 */
import { defer, distinctUntilChanged, filter, from, map, merge, mergeMap, Observable, Subject, type Subscription, share, shareReplay } from 'rxjs';
import { createActor, waitFor } from 'xstate';
import { type ConnectionChange, type ConnectionState, connectionChangeOf, type SessionSnapshot, sessionMachine } from '../../machines/session.js';
import { tokenMachine } from '../../machines/token.js';
import type { TransferEffects } from '../core/states.js';
import { type AbortCause, abortCauseOf, type Session, type SessionEvent } from '../../transports/transport.js';
import { isSignal } from '../core/abort.js';
import { asPublic, createChannel, messageIdOf } from './channel.js';
import { type Clock, systemClock, unrefTimer } from '../core/clock.js';
import { MessageCodec } from '../protocol/codec.js';
import { checkDownload, type DownloadTarget, downloadEffects } from './downloads.js';
import { withDeadline } from './deadline.js';
import { toPublicError } from '../core/errors.js';
import { Failure, fault } from '../core/failure.js';
import type { FileAccess } from '../core/files.js';
import type { CreateHasher } from '../core/hash.js';
import { platformFiles, platformHasher } from '../platform/defaults.js';
import * as E from 'fp-ts/lib/Either.js';
import { isValidId } from '../core/ids.js';
import {
  DEFAULT_IDLE_TIMEOUT_MS,
  DEFAULT_REQUEST_TIMEOUT_MS,
  MAX_CONCURRENT_TRANSFERS,
  MAX_MEMBER_COUNT_CHANNELS,
  MAX_PRESENCE_QUERY,
  MAX_PRESENCE_SUBSCRIPTIONS,
} from '../core/limits.js';
import { checkMessageSize, type FileMessage, fileMessage, type ImageMessage, imageMessage } from '../core/messages.js';
import { createScheduler } from './scheduler.js';
import type { UploadSource } from './sources.js';
import { type RunningTask, startTask, type Task } from './task.js';
import { createTransferHost } from './transfer-host.js';
import { checkUpload, type ImageUploadOptions, uploadEffects } from './uploads.js';
import type { Client, DownloadOptions, PeerMessageEvent, SendMessageOptions, TaskProgress } from './client-api.js';
import { checkClientOptions, type ClientOptions } from './client-options.js';

/**
 * Creates a client.
 * @throws {ClientError} code 2 when an option is out of range, naming it.
 * @example
 * const client = createClient({ transport: memoryTransport(hub), maxConcurrentTransfers: 4 });
 * await client.login({ userId: 'alice', token: hub.issueToken('alice') });
 */
export const createClient = (options: ClientOptions): Client => {
  const invalid = checkClientOptions(options);
  if (invalid) throw toPublicError('client', invalid);
  const { transport } = options;
  const clock: Clock = options.clock ?? systemClock;
  const idleTimeoutMs = options.idleTimeoutMs ?? DEFAULT_IDLE_TIMEOUT_MS;
  const requestTimeoutMs = options.requestTimeoutMs ?? DEFAULT_REQUEST_TIMEOUT_MS;
  const progressIntervalMs = options.progressIntervalMs ?? 100;
  const { createHasher } = options;
  const hasherFactory = (): Promise<CreateHasher> => (createHasher ? Promise.resolve(createHasher) : platformHasher());
  const files = (): Promise<FileAccess> => (options.files ? Promise.resolve(options.files) : platformFiles());
  const scheduler = createScheduler(options.maxConcurrentTransfers ?? MAX_CONCURRENT_TRANSFERS, options.overflow ?? 'queue');
  // Every transfer actor is a child of this one: one XState system per client, not one per transfer.
  const transferHost = createTransferHost(clock);

  const sessionActor = createActor(sessionMachine, { input: { transport, loginTimeoutMs: requestTimeoutMs }, clock }).start();
  const stateOf = (snapshot: SessionSnapshot): ConnectionState => snapshot.value;
  // An XState actor tells subscribers only of later snapshots, so the current one is sent first.
  const connectionState$ = new Observable<ConnectionState>((subscriber) => {
    subscriber.next(stateOf(sessionActor.getSnapshot()));
    return sessionActor.subscribe((snapshot) => subscriber.next(stateOf(snapshot)));
  }).pipe(distinctUntilChanged(), shareReplay({ bufferSize: 1, refCount: false }));
  connectionState$.subscribe();
  // Every change once, in order; a subscriber first gets the latest, if there was a login.
  const connectionChange$ = new Observable<ConnectionChange>((subscriber) => {
    let last = connectionChangeOf(sessionActor.getSnapshot());
    if (last) subscriber.next(last);
    return sessionActor.subscribe((snapshot) => {
      const change = connectionChangeOf(snapshot);
      if (!change || (change.state === last?.state && change.reason === last.reason)) return;
      last = change;
      subscriber.next(change);
    });
  });
  // The current token's expiry, as the server told it at login and renewal.
  // Its timers never keep a process alive on their own (a 24 h token would hold a finished script for a day).
  const backgroundClock: Clock = {
    now: () => clock.now(),
    setTimeout: (callback, ms) => {
      const handle = clock.setTimeout(callback, ms);
      unrefTimer(handle);
      return handle;
    },
    clearTimeout: (handle) => clock.clearTimeout(handle),
  };
  const tokenActor = createActor(tokenMachine, { clock: backgroundClock }).start();
  const fromToken = (type: 'willExpire' | 'expired'): Observable<void> =>
    new Observable<void>((subscriber) => {
      const subscription = tokenActor.on(type, () => subscriber.next());
      return () => subscription.unsubscribe();
    });
  const armToken = (expiresAt: number | undefined): void => {
    if (expiresAt !== undefined) tokenActor.send({ type: 'ARM', expiresAt, now: clock.now() });
  };
  /** The session the machine holds: what this client's transport's `connect` resolved with. */
  const sessionOf = (snapshot: SessionSnapshot): Session | undefined => snapshot.context.session as Session | undefined;
  /** The live session, if logged in. Logging out forgets it first, so no call can start during a logout. */
  const current = (): Session | undefined => {
    const snapshot = sessionActor.getSnapshot();
    // The machine is flat, so its value is the state's name: compared directly, as `matches` allocates
    // and every message asks.
    const state = stateOf(snapshot);
    return state === 'CONNECTED' || state === 'RECONNECTING' ? sessionOf(snapshot) : undefined;
  };
  const session = (): Session => {
    const s = current();
    if (!s) throw fault(Failure.notLoggedIn());
    return s;
  };

  const events = new Subject<SessionEvent>();
  const events$ = events.asObservable();
  /**
   * Peer messages, kept while nobody listens (at most {@link UNHEARD_KEPT}, the oldest dropped) and handed
   * to the next subscriber first: the messages kept for this user while offline arrive with the login,
   * before an app that subscribes after `await login()` could listen.
   */
  const unheard: PeerMessageEvent[] = [];
  const peerMessages = new Subject<PeerMessageEvent>();
  let peerListeners = 0;
  events$
    .pipe(filter((event): event is Extract<SessionEvent, { type: 'peerMessage' }> => event.type === 'peerMessage'))
    .subscribe(({ peerId, message, serverReceivedTs, messageId, isOfflineMessage }) => {
      const event: PeerMessageEvent = { peerId, message, serverReceivedTs, messageId: messageId ?? '', isOfflineMessage: isOfflineMessage === true };
      if (peerListeners > 0) return peerMessages.next(event);
      unheard.push(event);
      if (unheard.length > UNHEARD_KEPT) unheard.shift();
    });
  const peerMessages$ = new Observable<PeerMessageEvent>((subscriber) => {
    peerListeners++;
    for (const event of unheard.splice(0)) subscriber.next(event);
    const subscription = peerMessages.subscribe(subscriber);
    return () => {
      peerListeners--;
      subscription.unsubscribe();
    };
  });
  let eventsSubscription: Subscription | undefined;
  // Tasks as they are created; the client-wide progress streams subscribe to them only while someone
  // listens, so unobserved tasks cost no stream work.
  const created = new Subject<{ readonly operation: 'upload' | 'download'; readonly task: Task<unknown> }>();
  const progressOf = (operation: 'upload' | 'download'): Observable<TaskProgress> =>
    defer(() => {
      const live = [...tasks[operation].values()].map((task) => ({ operation, task: task as Task<unknown> }));
      return merge(from(live), created);
    }).pipe(
      filter((entry) => entry.operation === operation),
      mergeMap(({ task }) => task.progress$.pipe(map((p) => ({ requestId: task.requestId, ...p })))),
      share(),
    );
  const tasks = { upload: new Map<number, RunningTask<unknown>>(), download: new Map<number, RunningTask<unknown>>() };
  let nextRequestId = 1;

  const endTasks = async (why: string): Promise<void> => {
    const all = [...tasks.upload.values(), ...tasks.download.values()];
    for (const task of all) task.interrupt(Failure.interrupted(why));
    await Promise.allSettled(all.map((task) => task.result));
  };

  /**
   * The session ended without a logout (same user elsewhere, token expired, the server ended it, or a
   * fresh login after a lost session was refused): ABORTED or DISCONNECTED, transfers end with 6.
   */
  const sessionEnded = (ended: Session, cause: AbortCause, reason: string): void => {
    if (current() !== ended) return;
    sessionActor.send({ type: 'ENDED', cause, detail: reason });
    tokenActor.send({ type: cause === 'TOKEN_EXPIRED' ? 'EXPIRED' : 'CLEAR' });
    void endTasks(reason)
      .then(() => withDeadline(clock, requestTimeoutMs, (signal) => ended.close({ signal })))
      .catch(() => {
        // The hub has already dropped this session; releasing the link is best effort and has no caller
        // to report to. The outcome that matters (ABORTED, transfers ended) has been delivered.
      });
  };

  const listen = (opened: Session): void => {
    eventsSubscription?.unsubscribe();
    eventsSubscription = opened.events$.subscribe({
      next: (event) => {
        if (event.type === 'aborted') sessionEnded(opened, abortCauseOf(event.cause), event.reason);
        else if (event.type === 'connection') sessionActor.send({ type: event.state === 'RECONNECTING' ? 'DROPPED' : 'RESTORED' });
        events.next(event);
      },
      // A stream that ends without saying why: the server ended the session.
      complete: () => sessionEnded(opened, 'BANNED_BY_SERVER', 'the session ended'),
    });
  };

  const cancel = (operation: 'upload' | 'download') => (requestId: number) =>
    asPublic('cancel', async () => {
      session();
      const task = tasks[operation].get(requestId);
      if (!task || task.finished) throw fault(Failure.notExist(`${operation} request ${String(requestId)}`));
      await task.cancel();
    });

  /** A task's result settles: it is no longer the client's to cancel or to list. */
  const settled = (operation: 'upload' | 'download', requestId: number): void => {
    tasks[operation].delete(requestId);
  };

  const track = <T>(operation: 'upload' | 'download', build: (requestId: number) => RunningTask<T>): Task<T> => {
    const requestId = nextRequestId++;
    const task = build(requestId);
    const registry = tasks[operation];
    registry.set(requestId, task as RunningTask<unknown>);
    const visible: Task<T> = Object.freeze({
      requestId,
      state$: task.state$,
      progress$: task.progress$,
      result: task.result,
      cancel: () => cancel(operation)(requestId),
    });
    // Nobody listening to the client-wide progress: nothing to tell, and no entry to allocate.
    if (created.observed) created.next({ operation, task: visible as Task<unknown> });
    return visible;
  };

  const start = <T>(
    operation: 'upload' | 'download',
    preflight: (s: Session) => Failure | undefined,
    effects: (s: Session) => { readonly effects: TransferEffects<T>; readonly cleanup: (signal: AbortSignal) => Promise<void> },
    taskOptions: unknown,
  ): Task<T> =>
    track(operation, (requestId) => {
      const s = current();
      const refused = s ? preflight(s) : Failure.notLoggedIn();
      const signal = taskOptions !== null && typeof taskOptions === 'object' && isSignal((taskOptions as { signal?: unknown }).signal)
        ? (taskOptions as { signal: AbortSignal }).signal
        : undefined;
      // Building effects does no I/O and calls nothing injected (a hasher is created when the transfer
      // opens), so it cannot throw; anything that fails later fails the task, not the call.
      const io = !refused && s ? effects(s) : undefined;
      return startTask<T>({
        requestId,
        operation,
        preflight: refused,
        signal,
        scheduler,
        host: transferHost,
        clock,
        idleTimeoutMs,
        progressIntervalMs,
        ...(options.retryDelays ? { retryDelays: options.retryDelays } : {}),
        effects: io?.effects ?? refusedEffects<T>(),
        cleanup: io?.cleanup ?? (async () => undefined),
        cleanupTimeoutMs: requestTimeoutMs,
        settled,
      });
    });

  const upload = <M extends FileMessage | ImageMessage>(kind: M['messageType'], source: UploadSource, opts: ImageUploadOptions = {}): Task<M> =>
    start<M>('upload', () => checkUpload(kind, source, opts), (s) => uploadEffects<M>(kind, s, source, opts, files), opts);

  const download = <T extends Uint8Array | void>(mediaId: string, target: DownloadTarget, opts: DownloadOptions = {}): Task<T> =>
    start<T>(
      'download',
      () => checkDownload(mediaId, target.kind === 'file' ? target.path : undefined, opts),
      (s) => downloadEffects<T>(s, mediaId, target, hasherFactory),
      opts,
    );

  const checkMessage = (message: unknown): Failure | undefined =>
    MessageCodec.is(message) ? checkMessageSize(message) : Failure.invalidMessage('not a well-formed TEXT, RAW, FILE or IMAGE message');

  /** A request on the live session, checked first, with a deadline (SENT_TIMEOUT for messages). */
  const call = <T>(operation: Parameters<typeof asPublic>[0], run: (s: Session, signal: AbortSignal) => Promise<T>, check?: () => Failure | undefined): Promise<T> =>
    asPublic(operation, () => {
      const s = session();
      const failure = check?.();
      if (failure) throw fault(failure);
      return withDeadline(clock, requestTimeoutMs, (signal) => run(s, signal));
    });

  return {
    connectionState$,
    connectionChange$,
    login: (credentials) =>
      asPublic('login', async () => {
        const { userId, token } = (credentials ?? {}) as { userId?: unknown; token?: unknown };
        if (!isValidId(userId)) throw fault(Failure.invalidArgument('userId', `expected 1 to 64 printable ASCII characters, got ${JSON.stringify(userId)}`));
        if (typeof token !== 'string' || token.length === 0) throw fault(Failure.invalidArgument('token', 'expected a non-empty string'));
        const state = sessionActor.getSnapshot();
        if (!state.matches('DISCONNECTED') && !state.matches('ABORTED')) throw fault(Failure.alreadyLoggedIn());
        sessionActor.send({ type: 'LOGIN', credentials: { userId, token } });
        const settled = await waitFor(sessionActor, (snapshot) => !snapshot.matches('CONNECTING'));
        const opened = sessionOf(settled);
        if (!settled.matches('CONNECTED') || !opened) throw fault(settled.context.failure ?? Failure.unknown('login did not complete'));
        armToken(opened.expiresAt);
        listen(opened);
      }),
    logout: () =>
      asPublic('logout', async () => {
        const s = session();
        // Forget the session first, so a call made while transfers wind down fails with 102.
        sessionActor.send({ type: 'LOGOUT' });
        tokenActor.send({ type: 'CLEAR' });
        eventsSubscription?.unsubscribe();
        await endTasks('logged out');
        await withDeadline(clock, requestTimeoutMs, (signal) => s.close({ signal }));
      }),
    renewToken: (token) =>
      call(
        'renewToken',
        async (s, signal) => {
          if (!s.renewToken) throw fault(Failure.unknown('this transport cannot renew tokens'));
          const { expiresAt } = await s.renewToken(token, { signal });
          if (current() === s) armToken(expiresAt);
        },
        () => (typeof token === 'string' && token.length > 0 ? undefined : Failure.invalidArgument('token', 'expected a non-empty string')),
      ),
    tokenWillExpire$: fromToken('willExpire'),
    tokenExpired$: fromToken('expired'),
    createFileMessageByUploading: (source, opts) => upload<FileMessage>('FILE', source, opts),
    createImageMessageByUploading: (source, opts) => upload<ImageMessage>('IMAGE', source, opts),
    createFileMessageByMediaId: (mediaId, fields) => fileMessage(mediaId, fields),
    createImageMessageByMediaId: (mediaId, fields) => imageMessage(mediaId, fields),
    downloadMediaToFile: (mediaId, absolutePath, opts) => download<void>(mediaId, { kind: 'file', path: absolutePath, files }, opts),
    downloadMediaToMemory: (mediaId, opts) => download<Uint8Array>(mediaId, { kind: 'memory' }, opts),
    getMediaInfo: (mediaId) => call('download', (s, signal) => s.getMedia(mediaId, { signal }), () => checkDownload(mediaId, undefined, {})),
    cancelMediaUpload: cancel('upload'),
    cancelMediaDownload: cancel('download'),
    uploadProgress$: progressOf('upload'),
    downloadProgress$: progressOf('download'),
    sendMessageToPeer: (peerId, message, opts) => {
      const sendOptions = sendOptionsOf(opts);
      return call(
        'peerSend',
        async (s, signal) => {
          if (E.isLeft(sendOptions)) throw fault(sendOptions.left);
          const { messageId, enableOfflineMessaging } = sendOptions.right;
          const { state } = await s.sendToPeer(peerId, message, { signal, messageId, ...(enableOfflineMessaging ? { enableOfflineMessaging } : {}) });
          return { state, messageId };
        },
        () => (isValidId(peerId) ? (E.isLeft(sendOptions) ? sendOptions.left : checkMessage(message)) : Failure.invalidUserId(String(peerId))),
      );
    },
    peerMessages$,
    createChannel: (channelId) => createChannel(channelId, { events$, call, checkMessage, clock }),
    queryPeersOnlineStatus: (peerIds) =>
      call('queryPresence', (s, signal) => s.queryPresence([...peerIds], { signal }), () => checkIds('peerIds', peerIds, MAX_PRESENCE_QUERY)),
    subscribePeersOnlineStatus: (peerIds) =>
      call('subscribePresence', (s, signal) => s.subscribePresence([...peerIds], { signal }), () =>
        checkIds('peerIds', peerIds, MAX_PRESENCE_SUBSCRIPTIONS, Failure.limitExceeded('peers subscribed', MAX_PRESENCE_SUBSCRIPTIONS)),
      ),
    unsubscribePeersOnlineStatus: (peerIds) =>
      call('subscribePresence', (s, signal) => s.unsubscribePresence([...peerIds], { signal }), () => checkIds('peerIds', peerIds, MAX_PRESENCE_SUBSCRIPTIONS)),
    peersOnlineStatus$: events$.pipe(
      filter((event): event is Extract<SessionEvent, { type: 'presence' }> => event.type === 'presence'),
      map(({ userId, state }) => ({ [userId]: state })),
    ),
    getChannelMemberCount: (channelIds) =>
      call('memberCount', (s, signal) => s.channelMemberCounts([...channelIds], { signal }), () =>
        checkIds('channelIds', channelIds, MAX_MEMBER_COUNT_CHANNELS, Failure.limitExceeded('channels per member-count query', MAX_MEMBER_COUNT_CHANNELS)),
      ),
  };
};

/** Peer messages kept for a subscriber to come: the 200 offline messages of a login, and some room. */
const UNHEARD_KEPT = 256;

/** The options of a peer send, checked, with the message ID chosen if none was given. */
const sendOptionsOf = (options: unknown): E.Either<Failure, Required<SendMessageOptions>> => {
  if (options !== undefined && (options === null || typeof options !== 'object')) return E.left(Failure.invalidArgument('options', 'expected an object'));
  const { messageId, enableOfflineMessaging } = (options ?? {}) as { messageId?: unknown; enableOfflineMessaging?: unknown };
  const id = messageIdOf(messageId);
  if (E.isLeft(id)) return id;
  if (enableOfflineMessaging !== undefined && typeof enableOfflineMessaging !== 'boolean') {
    return E.left(Failure.invalidArgument('enableOfflineMessaging', 'expected a boolean'));
  }
  return E.right({ messageId: id.right, enableOfflineMessaging: enableOfflineMessaging === true });
};

/**
 * `undefined` when `ids` is an array of 1 to `max` valid IDs; else the failure: `tooMany` for more than
 * `max` if given, `InvalidArgument` otherwise.
 */
const checkIds = (name: string, ids: unknown, max: number, tooMany?: Failure): Failure | undefined => {
  if (!Array.isArray(ids) || ids.length === 0) return Failure.invalidArgument(name, 'expected a non-empty array of IDs');
  if (ids.length > max) return tooMany ?? Failure.invalidArgument(name, `expected at most ${max} IDs, got ${ids.length}`);
  const at = ids.findIndex((id) => !isValidId(id));
  return at < 0 ? undefined : Failure.invalidArgument(name, `expected IDs of 1 to 64 printable ASCII characters, got ${JSON.stringify(ids[at])} at ${at}`);
};

/** Effects of a task refused before it starts: it never reaches `transferring`, so they never run. */
const refusedEffects = <T>(): TransferEffects<T> => {
  const never = (): Promise<never> => Promise.reject(fault(Failure.unknown('a refused task was started')));
  return { open: never, move: never, locate: never };
};
