/**
 * The client: a thin coordinator of the session machine, the scheduler, transfer tasks and a transport.
 * Every call validates its arguments first and fails with the documented code naming the argument.
 * @module
 */
import { defer, distinctUntilChanged, filter, from, map, merge, mergeMap, Observable, Subject, type Subscription, share, shareReplay } from 'rxjs';
import { createActor, waitFor } from 'xstate';
import { type ConnectionState, type SessionSnapshot, sessionMachine } from '../machines/session.js';
import type { TransferEffects } from '../machines/transfer.js';
import type { Session, SessionEvent, Transport } from '../transports/transport.js';
import { asPublic, type Channel, createChannel } from './channel.js';
import { type Clock, systemClock } from './clock.js';
import { MessageCodec } from './codec.js';
import { checkDownload, type DownloadTarget, downloadEffects } from './downloads.js';
import { isSignal } from './abort.js';
import { withDeadline } from './deadline.js';
import { toPublicError } from './errors.js';
import { Failure, failureOf, fault } from './failure.js';
import { type FileAccess, loadNodeFiles } from './files.js';
import { type CreateHasher, nobleSha256 } from './hash.js';
import { isValidId } from './ids.js';
import { DEFAULT_IDLE_TIMEOUT_MS, DEFAULT_REQUEST_TIMEOUT_MS, MAX_CONCURRENT_TRANSFERS } from './limits.js';
import { checkMessageSize, type FileFields, type FileMessage, fileMessage, type ImageFields, type ImageMessage, imageMessage, type Message } from './messages.js';
import type { Progress } from './progress.js';
import { createScheduler } from './scheduler.js';
import type { UploadSource } from './sources.js';
import { type RunningTask, startTask, type Task } from './task.js';
import { checkUpload, type FileUploadOptions, type ImageUploadOptions, uploadEffects } from './uploads.js';
import { checkClientOptions, type ClientOptions } from './client-options.js';

/** Progress of one task, on the client-wide streams. */
export interface TaskProgress extends Progress {
  readonly requestId: number;
}

/** A message received from a peer. */
export interface PeerMessageEvent {
  readonly peerId: string;
  readonly message: Message;
  readonly serverReceivedTs: number;
}

/** Options of downloads. */
export interface DownloadOptions {
  /** Aborting it cancels the download, as `task.cancel()` does. */
  readonly signal?: AbortSignal;
}

/** A ferry client. The contract is DESIGN §2; every method's failures carry the codes of DESIGN §4. */
export interface Client {
  /**
   * Logs in. Rejects `LoginError`: 3 bad user ID or token shape, 5 invalid token, 6 expired token,
   * 8 already logged in (or logging in). Logging in as a user who is logged in elsewhere aborts that session.
   * @example await client.login({ userId: 'alice', token })
   */
  login(credentials: { readonly userId: string; readonly token: string }): Promise<void>;
  /**
   * Logs out: every running or queued transfer ends `failed` with 6, partial uploads are terminated,
   * then the session closes. Rejects `LogoutError` 102 when not logged in.
   */
  logout(): Promise<void>;
  /** `DISCONNECTED`, `CONNECTING`, `CONNECTED`, `RECONNECTING` or `ABORTED`; replays the current state. */
  readonly connectionState$: Observable<ConnectionState>;
  /**
   * Uploads a file and resolves with the message to send. Never throws: every failure rejects the task's
   * `result` with an `UploadError` (2 bad argument or empty, 3 idle timeout, 4 over 30 MiB, 5 all slots
   * busy with `overflow: 'reject'`, 6 cancelled or logged out, 102 not logged in).
   * @example const { result } = client.createFileMessageByUploading('/home/me/report.pdf');
   */
  createFileMessageByUploading(source: UploadSource, options?: FileUploadOptions): Task<FileMessage>;
  /** As {@link Client.createFileMessageByUploading}, resolving with an image message whose width and height come from the content. */
  createImageMessageByUploading(source: UploadSource, options?: ImageUploadOptions): Task<ImageMessage>;
  /** A file message for media already uploaded. Throws `MessageError` 2 on a malformed media ID or bad fields. */
  createFileMessageByMediaId(mediaId: string, fields?: FileFields): FileMessage;
  /** An image message for media already uploaded. Throws `MessageError` 2 on a malformed media ID or bad fields. */
  createImageMessageByMediaId(mediaId: string, fields?: ImageFields): ImageMessage;
  /**
   * Downloads media to an absolute path: bytes go to a temporary file beside it, verified by SHA-256,
   * then renamed into place. On failure or cancel nothing is left at the path. Failures reject `result`
   * with a `DownloadError` (2 malformed ID or path, 3 idle timeout, 4 unknown or expired, 6 cancelled).
   */
  downloadMediaToFile(mediaId: string, absolutePath: string, options?: DownloadOptions): Task<void>;
  /** Downloads media into memory, verified by SHA-256; failures as {@link Client.downloadMediaToFile}. */
  downloadMediaToMemory(mediaId: string, options?: DownloadOptions): Task<Uint8Array>;
  /** Cancels an upload by request ID. Rejects `CancelError` 2 if it is finished or unknown, 102 when logged out. */
  cancelMediaUpload(requestId: number): Promise<void>;
  /** Cancels a download by request ID. Rejects `CancelError` 2 if it is finished or unknown, 102 when logged out. */
  cancelMediaDownload(requestId: number): Promise<void>;
  /** Progress of every upload of this client, tagged with its request ID. */
  readonly uploadProgress$: Observable<TaskProgress>;
  /** Progress of every download of this client, tagged with its request ID. */
  readonly downloadProgress$: Observable<TaskProgress>;
  /**
   * Sends a message to an online peer. Rejects `PeerMessageError`: 2 no answer in time, 3 peer offline,
   * 6 invalid user ID, 7 invalid or over 32 KiB, 102 not logged in.
   */
  sendMessageToPeer(peerId: string, message: Message): Promise<void>;
  /** Messages from peers, in arrival order, across logins. */
  readonly peerMessages$: Observable<PeerMessageEvent>;
  /** A handle on a channel; no I/O until `join()`. */
  createChannel(channelId: string): Channel;
}

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
  const createHasher: CreateHasher = options.createHasher ?? nobleSha256;
  const files = (): Promise<FileAccess> => (options.files ? Promise.resolve(options.files) : loadNodeFiles());
  const scheduler = createScheduler(options.maxConcurrentTransfers ?? MAX_CONCURRENT_TRANSFERS, options.overflow ?? 'queue');

  const sessionActor = createActor(sessionMachine, { input: { transport }, clock }).start();
  const stateOf = (snapshot: SessionSnapshot): ConnectionState => snapshot.value;
  // An XState actor tells subscribers only of later snapshots, so the current one is sent first.
  const connectionState$ = new Observable<ConnectionState>((subscriber) => {
    subscriber.next(stateOf(sessionActor.getSnapshot()));
    return sessionActor.subscribe((snapshot) => subscriber.next(stateOf(snapshot)));
  }).pipe(distinctUntilChanged(), shareReplay({ bufferSize: 1, refCount: false }));
  connectionState$.subscribe();
  /** The live session, if logged in. Logging out forgets it first, so no call can start during a logout. */
  const current = (): Session | undefined => {
    const snapshot = sessionActor.getSnapshot();
    return snapshot.matches('CONNECTED') || snapshot.matches('RECONNECTING') ? snapshot.context.session : undefined;
  };
  const session = (): Session => {
    const s = current();
    if (!s) throw fault(Failure.notLoggedIn());
    return s;
  };

  const events = new Subject<SessionEvent>();
  const events$ = events.asObservable();
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

  /** The hub ended the session (same user elsewhere, or the link gave up): ABORTED, transfers end with 6. */
  const sessionEnded = (ended: Session, reason: string): void => {
    if (current() !== ended) return;
    sessionActor.send({ type: 'KICKED', reason });
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
        if (event.type === 'aborted') sessionEnded(opened, event.reason);
        else if (event.type === 'connection') sessionActor.send({ type: event.state === 'RECONNECTING' ? 'DROPPED' : 'RESTORED' });
        events.next(event);
      },
      complete: () => sessionEnded(opened, 'the session ended'),
    });
  };

  const cancel = (operation: 'upload' | 'download') => (requestId: number) =>
    asPublic('cancel', async () => {
      session();
      const task = tasks[operation].get(requestId);
      if (!task || task.finished) throw fault(Failure.notExist(`${operation} request ${String(requestId)}`));
      await task.cancel();
    });

  const track = <T>(operation: 'upload' | 'download', build: (requestId: number) => RunningTask<T>): Task<T> => {
    const requestId = nextRequestId++;
    const task = build(requestId);
    const registry = tasks[operation];
    registry.set(requestId, task as RunningTask<unknown>);
    const forget = (): void => {
      registry.delete(requestId);
    };
    task.result.then(forget, forget);
    const visible: Task<T> = Object.freeze({
      requestId,
      state$: task.state$,
      progress$: task.progress$,
      result: task.result,
      cancel: () => cancel(operation)(requestId),
    });
    created.next({ operation, task: visible as Task<unknown> });
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
      let io: ReturnType<typeof effects> | undefined;
      let failure = refused;
      if (!refused && s) {
        try {
          io = effects(s);
        } catch (error) {
          // An injected effect (a hasher, say) that throws while being set up fails the task, not the call.
          failure = failureOf(error);
        }
      }
      return startTask<T>({
        requestId,
        operation,
        preflight: failure,
        signal,
        scheduler,
        clock,
        idleTimeoutMs,
        progressIntervalMs,
        ...(options.retryDelays ? { retryDelays: options.retryDelays } : {}),
        effects: io?.effects ?? refusedEffects<T>(),
        cleanup: io?.cleanup ?? (async () => undefined),
        cleanupTimeoutMs: requestTimeoutMs,
        notCancellable: () => toPublicError('cancel', Failure.notExist(`${operation} request ${requestId} (already finished)`)),
      });
    });

  const upload = <M extends FileMessage | ImageMessage>(kind: M['messageType'], source: UploadSource, opts: ImageUploadOptions = {}): Task<M> =>
    start<M>('upload', () => checkUpload(kind, source, opts), (s) => uploadEffects<M>(kind, s, source, opts, files), opts);

  const download = <T extends Uint8Array | void>(mediaId: string, target: DownloadTarget, opts: DownloadOptions = {}): Task<T> =>
    start<T>(
      'download',
      () => checkDownload(mediaId, target.kind === 'file' ? target.path : undefined, opts),
      (s) => downloadEffects<T>(s, mediaId, target, createHasher),
      opts,
    );

  const checkMessage = (message: unknown): Failure | undefined =>
    MessageCodec.is(message) ? checkMessageSize(message) : Failure.invalidMessage('not a well-formed TEXT, RAW, FILE or IMAGE message');

  /** A request on the live session, checked first, with a deadline (SENT_TIMEOUT for messages). */
  const call = <T>(operation: Parameters<typeof asPublic>[0], run: (s: Session, signal: AbortSignal) => Promise<T>, check?: () => Failure | undefined): Promise<T> =>
    asPublic(operation, async () => {
      const s = session();
      const failure = check?.();
      if (failure) throw fault(failure);
      return withDeadline(clock, requestTimeoutMs, (signal) => run(s, signal));
    });

  return {
    connectionState$,
    login: (credentials) =>
      asPublic('login', async () => {
        const { userId, token } = (credentials ?? {}) as { userId?: unknown; token?: unknown };
        if (!isValidId(userId)) throw fault(Failure.invalidArgument('userId', `expected 1 to 64 printable ASCII characters, got ${JSON.stringify(userId)}`));
        if (typeof token !== 'string' || token.length === 0) throw fault(Failure.invalidArgument('token', 'expected a non-empty string'));
        const state = sessionActor.getSnapshot();
        if (!state.matches('DISCONNECTED') && !state.matches('ABORTED')) throw fault(Failure.alreadyLoggedIn());
        sessionActor.send({ type: 'LOGIN', credentials: { userId, token } });
        const settled = await waitFor(sessionActor, (snapshot) => !snapshot.matches('CONNECTING'));
        const opened = settled.context.session;
        if (!settled.matches('CONNECTED') || !opened) throw fault(settled.context.failure ?? Failure.unknown('login did not complete'));
        listen(opened);
      }),
    logout: () =>
      asPublic('logout', async () => {
        const s = session();
        // Forget the session first, so a call made while transfers wind down fails with 102.
        sessionActor.send({ type: 'LOGOUT' });
        eventsSubscription?.unsubscribe();
        await endTasks('logged out');
        await withDeadline(clock, requestTimeoutMs, (signal) => s.close({ signal }));
      }),
    createFileMessageByUploading: (source, opts) => upload<FileMessage>('FILE', source, opts),
    createImageMessageByUploading: (source, opts) => upload<ImageMessage>('IMAGE', source, opts),
    createFileMessageByMediaId: (mediaId, fields) => fileMessage(mediaId, fields),
    createImageMessageByMediaId: (mediaId, fields) => imageMessage(mediaId, fields),
    downloadMediaToFile: (mediaId, absolutePath, opts) => download<void>(mediaId, { kind: 'file', path: absolutePath, files }, opts),
    downloadMediaToMemory: (mediaId, opts) => download<Uint8Array>(mediaId, { kind: 'memory' }, opts),
    cancelMediaUpload: cancel('upload'),
    cancelMediaDownload: cancel('download'),
    uploadProgress$: progressOf('upload'),
    downloadProgress$: progressOf('download'),
    sendMessageToPeer: (peerId, message) =>
      call('peerSend', (s, signal) => s.sendToPeer(peerId, message, { signal }), () =>
        isValidId(peerId) ? checkMessage(message) : Failure.invalidUserId(String(peerId)),
      ),
    peerMessages$: events$.pipe(
      filter((event): event is Extract<SessionEvent, { type: 'peerMessage' }> => event.type === 'peerMessage'),
      map(({ peerId, message, serverReceivedTs }) => ({ peerId, message, serverReceivedTs })),
    ),
    createChannel: (channelId) => createChannel(channelId, { events$, call, checkMessage }),
  };
};

/** Effects of a task refused before it starts: it never reaches `transferring`, so they never run. */
const refusedEffects = <T>(): TransferEffects<T> => {
  const never = (): Promise<never> => Promise.reject(fault(Failure.unknown('a refused task was started')));
  return { open: never, move: never, locate: never };
};
