/**
 * The duties of every transport, written once (decision 78): each built-in transport's `connect` goes
 * through {@link withTransportDuties}, so a transport's own code does only its I/O.
 *
 * - A call whose signal already aborted rejects at once with `Interrupted` and starts no I/O.
 * - After the session ended (its events completed, or `close` was called), every call rejects with
 *   `NotLoggedIn`, except `terminateUpload` and `close`, which clean up.
 * - `createUpload` is not raced against the caller's signal at the server: the call stops waiting at
 *   once on abort, and an upload created after it is terminated in the background, so an aborted call
 *   leaves no record behind.
 * - `terminateUpload` of an upload that is gone (`NotExist`), or of a session that ended and took its
 *   uploads with it (`NotLoggedIn`), has reached its goal: it resolves.
 *
 * The per-message path stays a plain call: checks and then the transport's own promise, no wrapping
 * promise per message; `readMedia` hands back the transport's own iterator, nothing per chunk.
 * @module
 */
import { abortableReleasing, abortFault, throwIfAborted } from '../src/core/abort.js';
import { Failure, type FaultError, failureOf, fault } from '../src/core/failure.js';
import { sessionEvents } from './session-events.js';
import type { CallOptions, Session, Transport } from './transport.js';

/** For calls the caller can no longer abort: the background termination after an aborted creation. */
const UNABORTED = new AbortController().signal;

/** An iterable that fails with `error` on the first read. */
const failing = (error: FaultError): AsyncIterable<Uint8Array> => ({
  [Symbol.asyncIterator]: () => ({
    next: () => Promise.reject(error),
    return: () => Promise.resolve({ done: true, value: undefined }),
  }),
});

/** The two media calls whose duties do not depend on a session: creation and termination. */
export type MediaDutyCalls = Pick<Session, 'createUpload' | 'terminateUpload'>;

/**
 * `media` whose `createUpload` stops waiting at once on abort and terminates an upload created after it
 * in the background, and whose `terminateUpload` resolves when the upload is already gone (`NotExist`,
 * or `NotLoggedIn`: the ended session took its uploads with it). Both reject at once on an aborted signal.
 * Used by {@link withSessionDuties}; on its own for a media client without a session (`httpMedia`).
 * @example const media = withMediaDuties(httpMedia({ url, token, fetch }));
 */
export const withMediaDuties = <M extends MediaDutyCalls>(media: M): M => {
  return {
    ...media,
    createUpload(request, { signal }) {
      if (signal.aborted) return Promise.reject(abortFault(signal));
      // Not given the caller's signal: an abort could land after the server created the upload but before
      // its ID is known, leaving a record nobody could remove. One created after the abort is terminated.
      return abortableReleasing(media.createUpload(request, { signal: UNABORTED }), signal, (created) =>
        media.terminateUpload(created.uploadId, { signal: UNABORTED }),
      );
    },
    async terminateUpload(uploadId, options) {
      throwIfAborted(options.signal);
      try {
        await media.terminateUpload(uploadId, options);
      } catch (error) {
        const tag = failureOf(error)._tag;
        if (tag !== 'NotExist' && tag !== 'NotLoggedIn') throw error;
      }
    },
  } satisfies MediaDutyCalls;
};

/**
 * `session` with the duties of every transport (see the module). Its events are the session's own, in
 * order, buffered until the first subscriber; they complete when the session's complete or when `close`
 * is called.
 */
export const withSessionDuties = (session: Session): Session => {
  const events = sessionEvents();
  // Subscribed at once, so the transport's own buffer hands over and the end is known when it comes.
  session.events$.subscribe({
    next: (event) => events.emit(event),
    complete: () => events.end(),
    error: () => events.end(),
  });
  /** What a call must reject with before it starts, if anything. Not `async`: a cost per message. */
  const refusal = (signal: AbortSignal): FaultError | undefined =>
    signal.aborted ? abortFault(signal) : events.ended ? fault(Failure.notLoggedIn()) : undefined;
  /** `run` unless the call is refused. */
  const guarded = <R>(signal: AbortSignal, run: () => Promise<R>): Promise<R> => {
    const refused = refusal(signal);
    return refused ? Promise.reject(refused) : run();
  };
  const { renewToken } = session;
  const media = withMediaDuties({ createUpload: session.createUpload.bind(session), terminateUpload: session.terminateUpload.bind(session) });

  return {
    userId: session.userId,
    events$: events.events$,
    ...(session.expiresAt === undefined ? {} : { expiresAt: session.expiresAt }),
    ...(renewToken ? { renewToken: (token: string, options: CallOptions) => guarded(options.signal, () => renewToken.call(session, token, options)) } : {}),
    createUpload: (request, options) => guarded(options.signal, () => media.createUpload(request, options)),
    getUpload: (uploadId, options) => guarded(options.signal, () => session.getUpload(uploadId, options)),
    appendUpload: (uploadId, offset, source, options) => guarded(options.signal, () => session.appendUpload(uploadId, offset, source, options)),
    // Cleanup after a logout or a kick must still work: no refusal for an ended session.
    terminateUpload: media.terminateUpload,
    getMedia: (mediaId, options) => guarded(options.signal, () => session.getMedia(mediaId, options)),
    // Checked when reading starts, as the transport's own generator would; then the transport's iterator itself.
    readMedia: (mediaId, offset, options) => ({
      [Symbol.asyncIterator]: () => {
        const refused = refusal(options.signal);
        return refused ? failing(refused)[Symbol.asyncIterator]() : session.readMedia(mediaId, offset, options)[Symbol.asyncIterator]();
      },
    }),
    sendToPeer: (peerId, message, options) => guarded(options.signal, () => session.sendToPeer(peerId, message, options)),
    joinChannel: (channelId, options) => guarded(options.signal, () => session.joinChannel(channelId, options)),
    leaveChannel: (channelId, options) => guarded(options.signal, () => session.leaveChannel(channelId, options)),
    sendToChannel: (channelId, message, options) => guarded(options.signal, () => session.sendToChannel(channelId, message, options)),
    channelMembers: (channelId, options) => guarded(options.signal, () => session.channelMembers(channelId, options)),
    channelMemberCounts: (channelIds, options) => guarded(options.signal, () => session.channelMemberCounts(channelIds, options)),
    queryPresence: (peerIds, options) => guarded(options.signal, () => session.queryPresence(peerIds, options)),
    subscribePresence: (peerIds, options) => guarded(options.signal, () => session.subscribePresence(peerIds, options)),
    unsubscribePresence: (peerIds, options) => guarded(options.signal, () => session.unsubscribePresence(peerIds, options)),
    close(options) {
      // The session is over for its caller from now on, whatever the transport's logout comes to.
      events.end();
      return session.close(options);
    },
  };
};

/**
 * `transport` whose sessions carry the duties of every transport ({@link withSessionDuties}); a `connect`
 * whose signal already aborted rejects at once.
 * @example
 * export const myTransport = (): Transport => withTransportDuties({ connect: async (credentials, { signal }) => mySession(...) });
 */
export const withTransportDuties = (transport: Transport): Transport => ({
  async connect(credentials, options) {
    throwIfAborted(options.signal);
    return withSessionDuties(await transport.connect(credentials, options));
  },
});
