/**
 * The client: a thin coordinator of the session machine, the scheduler, transfer tasks and a transport.
 * Every call validates its arguments first and fails with the documented code naming the argument.
 * @module
 */
import { distinctUntilChanged, filter, map, Observable, Subject, type Subscription, shareReplay } from 'rxjs';
import { createActor, waitFor } from 'xstate';
import { type ConnectionState, sessionMachine } from '../machines/session.js';
import type { Session, SessionEvent, Transport } from '../transports/transport.js';
import { asPublic, type Channel, createChannel } from './channel.js';
import { type Clock, systemClock } from './clock.js';
import { MessageCodec } from './codec.js';
import { type DownloadTarget, downloadEffects } from './downloads.js';
import { toPublicError } from './errors.js';
import { Failure, fault } from './failure.js';
import { checkAbsolutePath, type FileAccess, loadNodeFiles } from './files.js';
import { type CreateHasher, nobleSha256 } from './hash.js';
import { isMediaId, isValidId } from './ids.js';
import { DEFAULT_IDLE_TIMEOUT_MS, MAX_CONCURRENT_TRANSFERS } from './limits.js';
import { checkMessageSize, type FileFields, type FileMessage, fileMessage, type ImageFields, type ImageMessage, imageMessage, type Message } from './messages.js';
import type { Progress } from './progress.js';
import { createScheduler, type Overflow } from './scheduler.js';
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

/** A ferry client. See DESIGN §2 for the contract. */
export interface Client {
  login(credentials: { readonly userId: string; readonly token: string }): Promise<void>;
  logout(): Promise<void>;
  readonly connectionState$: Observable<ConnectionState>;
  createFileMessageByUploading(source: UploadSource, options?: FileUploadOptions): Task<FileMessage>;
  createImageMessageByUploading(source: UploadSource, options?: ImageUploadOptions): Task<ImageMessage>;
  createFileMessageByMediaId(mediaId: string, fields?: FileFields): FileMessage;
  createImageMessageByMediaId(mediaId: string, fields?: ImageFields): ImageMessage;
  downloadMediaToFile(mediaId: string, absolutePath: string, options?: DownloadOptions): Task<void>;
  downloadMediaToMemory(mediaId: string, options?: DownloadOptions): Task<Uint8Array>;
  cancelMediaUpload(requestId: number): Promise<void>;
  cancelMediaDownload(requestId: number): Promise<void>;
  readonly uploadProgress$: Observable<TaskProgress>;
  readonly downloadProgress$: Observable<TaskProgress>;
  sendMessageToPeer(peerId: string, message: Message): Promise<void>;
  readonly peerMessages$: Observable<PeerMessageEvent>;
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
  const transport: Transport = options.transport;
  const clock: Clock = options.clock ?? systemClock;
  const idleTimeoutMs = options.idleTimeoutMs ?? DEFAULT_IDLE_TIMEOUT_MS;
  const progressIntervalMs = options.progressIntervalMs ?? 100;
  const createHasher: CreateHasher = options.createHasher ?? nobleSha256;
  const files = (): Promise<FileAccess> => (options.files ? Promise.resolve(options.files) : loadNodeFiles());
  const scheduler = createScheduler(options.maxConcurrentTransfers ?? MAX_CONCURRENT_TRANSFERS, (options.overflow ?? 'queue') as Overflow);

  const sessionActor = createActor(sessionMachine, { input: { transport }, clock }).start();
  // An XState actor tells subscribers only of later snapshots, so the current one is sent first.
  const connectionState$ = new Observable<ConnectionState>((subscriber) => {
    subscriber.next(sessionActor.getSnapshot().value as ConnectionState);
    return sessionActor.subscribe((snapshot) => subscriber.next(snapshot.value as ConnectionState));
  }).pipe(distinctUntilChanged(), shareReplay({ bufferSize: 1, refCount: false }));
  connectionState$.subscribe();
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
  const uploadProgress = new Subject<TaskProgress>();
  const downloadProgress = new Subject<TaskProgress>();
  const tasks = { upload: new Map<number, RunningTask<unknown>>(), download: new Map<number, RunningTask<unknown>>() };
  let nextRequestId = 1;

  const endTasks = async (why: string): Promise<void> => {
    const all = [...tasks.upload.values(), ...tasks.download.values()];
    for (const task of all) task.interrupt(Failure.interrupted(why));
    await Promise.allSettled(all.map((task) => task.result));
  };

  const onSessionEvent = (event: SessionEvent): void => {
    if (event.type === 'aborted') {
      const ended = sessionActor.getSnapshot().context.session;
      sessionActor.send({ type: 'KICKED', reason: event.reason });
      void endTasks(event.reason).then(() => ended?.close());
    } else if (event.type === 'connection') {
      sessionActor.send({ type: event.state === 'RECONNECTING' ? 'DROPPED' : 'RESTORED' });
    }
    events.next(event);
  };

  const track = <T>(operation: 'upload' | 'download', build: (requestId: number) => RunningTask<T>): Task<T> => {
    const requestId = nextRequestId++;
    const task = build(requestId);
    const registry = tasks[operation];
    registry.set(requestId, task as RunningTask<unknown>);
    const progress = operation === 'upload' ? uploadProgress : downloadProgress;
    task.progress$.subscribe((p) => progress.next({ requestId, ...p }));
    const forget = (): void => {
      registry.delete(requestId);
    };
    task.result.then(forget, forget);
    const { interrupt: _interrupt, finished: _finished, ...publicTask } = task;
    return Object.freeze({ ...publicTask, requestId: task.requestId });
  };

  const taskSpec = (requestId: number, operation: 'upload' | 'download', preflight: Failure | undefined, signal: AbortSignal | undefined) => ({
    requestId,
    operation,
    preflight,
    signal,
    scheduler,
    clock,
    idleTimeoutMs,
    progressIntervalMs,
    ...(options.retryDelays ? { retryDelays: options.retryDelays } : {}),
    notCancellable: () => toPublicError('cancel', Failure.notExist(`${operation} request ${requestId} (already finished)`)),
  });

  const upload = <M extends FileMessage | ImageMessage>(kind: M['messageType'], source: UploadSource, opts: ImageUploadOptions = {}): Task<M> =>
    track('upload', (requestId) => {
      const s = current();
      const preflight = s ? checkUpload(kind, source, opts) : Failure.notLoggedIn();
      const signal = opts !== null && typeof opts === 'object' && opts.signal instanceof AbortSignal ? opts.signal : undefined;
      const io = !preflight && s ? uploadEffects<M>(kind, s, source, opts, files) : undefined;
      return startTask<M>({
        ...taskSpec(requestId, 'upload', preflight, signal),
        effects: io?.effects ?? idleEffects<M>(),
        cleanup: io?.cleanup ?? (async () => undefined),
      });
    });

  const download = <T extends Uint8Array | void>(mediaId: string, target: DownloadTarget, opts: DownloadOptions = {}): Task<T> =>
    track('download', (requestId) => {
      const s = current();
      const signal = opts !== null && typeof opts === 'object' && opts.signal instanceof AbortSignal ? opts.signal : undefined;
      const preflight = !s
        ? Failure.notLoggedIn()
        : !isMediaId(mediaId)
          ? Failure.invalidArgument('mediaId', `malformed media ID ${JSON.stringify(mediaId)}`)
          : ((target.kind === 'file' ? checkAbsolutePath(target.path, 'absolutePath') : undefined) ??
            (opts === null || typeof opts !== 'object'
              ? Failure.invalidArgument('options', 'expected { signal?: AbortSignal }')
              : opts.signal !== undefined && !signal
                ? Failure.invalidArgument('signal', 'expected an AbortSignal')
                : undefined));
      const io = !preflight && s ? downloadEffects<T>(s, mediaId, target, createHasher) : undefined;
      return startTask<T>({
        ...taskSpec(requestId, 'download', preflight, signal),
        effects: io?.effects ?? idleEffects<T>(),
        cleanup: io?.cleanup ?? (async () => undefined),
      });
    });

  const cancel = (operation: 'upload' | 'download') => (requestId: number) =>
    asPublic('cancel', async () => {
      session();
      const task = tasks[operation].get(requestId);
      if (!task || task.finished) throw fault(Failure.notExist(`${operation} request ${String(requestId)}`));
      await task.cancel();
    });

  const checkMessage = (message: unknown): Failure | undefined =>
    MessageCodec.is(message) ? checkMessageSize(message) : Failure.invalidMessage('not a well-formed TEXT, RAW, FILE or IMAGE message');

  const call = <T>(operation: Parameters<typeof asPublic>[0], run: () => Promise<T>, check?: () => Failure | undefined): Promise<T> =>
    asPublic(operation, async () => {
      session();
      const failure = check?.();
      if (failure) throw fault(failure);
      return run();
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
        const settled = await waitFor(sessionActor, (s) => !s.matches('CONNECTING'));
        const opened = settled.context.session;
        if (!settled.matches('CONNECTED') || !opened) throw fault(settled.context.failure ?? Failure.unknown('login did not complete'));
        eventsSubscription?.unsubscribe();
        eventsSubscription = opened.events$.subscribe({ next: onSessionEvent });
      }),
    logout: () =>
      asPublic('logout', async () => {
        const s = session();
        await endTasks('logged out');
        sessionActor.send({ type: 'LOGOUT' });
        eventsSubscription?.unsubscribe();
        await s.close();
      }),
    createFileMessageByUploading: (source, opts) => upload<FileMessage>('FILE', source, opts),
    createImageMessageByUploading: (source, opts) => upload<ImageMessage>('IMAGE', source, opts),
    createFileMessageByMediaId: (mediaId, fields) => fileMessage(mediaId, fields),
    createImageMessageByMediaId: (mediaId, fields) => imageMessage(mediaId, fields),
    downloadMediaToFile: (mediaId, absolutePath, opts) => download<void>(mediaId, { kind: 'file', path: absolutePath, files }, opts),
    downloadMediaToMemory: (mediaId, opts) => download<Uint8Array>(mediaId, { kind: 'memory' }, opts),
    cancelMediaUpload: cancel('upload'),
    cancelMediaDownload: cancel('download'),
    uploadProgress$: uploadProgress.asObservable(),
    downloadProgress$: downloadProgress.asObservable(),
    sendMessageToPeer: (peerId, message) =>
      call('peerSend', () => session().sendToPeer(peerId, message), () =>
        isValidId(peerId) ? checkMessage(message) : Failure.invalidUserId(String(peerId)),
      ),
    peerMessages$: events$.pipe(
      filter((event): event is Extract<SessionEvent, { type: 'peerMessage' }> => event.type === 'peerMessage'),
      map(({ peerId, message, serverReceivedTs }) => ({ peerId, message, serverReceivedTs })),
    ),
    createChannel: (channelId) => createChannel(channelId, { events$, call, session, checkMessage }),
  };
};

/** Effects of a task refused before it starts: it never reaches `transferring`, so they never run. */
const idleEffects = <T>() => ({
  open: () => Promise.reject(fault(Failure.unknown('a refused task was started'))),
  move: (): Promise<T> => Promise.reject(fault(Failure.unknown('a refused task was started'))),
  locate: () => Promise.reject(fault(Failure.unknown('a refused task was started'))),
});
