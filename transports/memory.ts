/**
 * The memory transport: a client talking to an in-process hub. Bytes move in chunks (copied, as a
 * network would) with the hub acknowledging each, and messages cross as wire JSON through the same
 * codecs as HTTP and WebSocket, so progress, cancellation, limits and idle timeouts behave as over a
 * network.
 * @module
 */
import * as E from 'fp-ts/lib/Either.js';
import type { Observable } from 'rxjs';
import { abortable, throwIfAborted } from '../src/core/abort.js';
import { decodeMessage, encodeMessage } from '../src/protocol/codec.js';
import { Failure, fault } from '../src/core/failure.js';
import { offeredFileName } from '../src/core/files.js';
import type { Hub, HubSession } from '../src/hub/hub.js';
import type { HubEvent } from '../src/hub/message-bus.js';
import { CHUNK_SIZE } from '../src/core/limits.js';
import { sessionEvents } from './session-events.js';
import type { Session, SessionEvent, Transport } from './transport.js';
import { withTransportDuties } from './transport-duties.js';

/** Where a chunk is about to move: what the gate of {@link MemoryTransportOptions} is told. */
export interface ChunkStep {
  readonly direction: 'upload' | 'download';
  readonly mediaId: string;
  /** Offset of the chunk's first byte. */
  readonly offset: number;
  readonly length: number;
}

/** Options of {@link memoryTransport}. */
export interface MemoryTransportOptions {
  /**
   * Awaited before each chunk moves, for specs and simulations that control the pace (a stalled gate is
   * a stalled network). Its promise may ignore the signal: the transport stops waiting on abort anyway.
   * Default: none, chunks move as fast as the hub takes them.
   * @example { gate: (step) => nextChunk.promise }
   */
  readonly gate?: (step: ChunkStep, signal: AbortSignal) => Promise<void>;
}

const orReject = <T>(result: E.Either<Failure, T>): Promise<T> =>
  E.isRight(result) ? Promise.resolve(result.right) : Promise.reject(fault(result.left));

const toSessionEvent = (event: HubEvent): SessionEvent | undefined => {
  switch (event.type) {
    case 'peerMessage':
    case 'channelMessage': {
      // The hub encoded this message after validating it, so decoding cannot fail; a receiver still gets
      // its own copy of every buffer.
      const decoded = decodeMessage(event.message);
      return E.isRight(decoded) ? { ...event, message: decoded.right } : undefined;
    }
    default:
      return event;
  }
};

/**
 * The hub's events for a session, buffered from now until the first subscriber (the events contract
 * of `Session`), then live. Completes when the hub ends the session.
 */
const bufferedEvents = (hubSession: HubSession): Observable<SessionEvent> => {
  const stream = sessionEvents();
  hubSession.events$.subscribe({
    next: (hubEvent) => {
      const event = toSessionEvent(hubEvent);
      if (event) stream.emit(event);
    },
    complete: () => stream.end(),
  });
  return stream.events$;
};

/**
 * A transport to an in-process hub.
 * @example
 * const hub = createHub();
 * const client = createClient({ transport: memoryTransport(hub) });
 */
export const memoryTransport = (hub: Hub, options: MemoryTransportOptions = {}): Transport => {
  const { gate } = options;

  async function* paced(
    direction: ChunkStep['direction'],
    mediaId: string,
    offset: number,
    chunks: AsyncIterable<Uint8Array>,
    signal: AbortSignal,
  ): AsyncIterable<Uint8Array> {
    let at = offset;
    for await (const chunk of chunks) {
      throwIfAborted(signal);
      if (gate) await abortable(gate({ direction, mediaId, offset: at, length: chunk.length }, signal), signal);
      at += chunk.length;
      // Downloads get their own copy, as over a network (the store's bytes are never shared); uploads are
      // copied by the store if it keeps them.
      yield direction === 'download' ? chunk.slice() : chunk;
    }
  }

  /**
   * An upload's chunks as the hub reads them: paced by the gate if there is one; else the source's own
   * iterable, which checks the signal before each chunk itself (as every opened source does), so no
   * second generator runs per upload (decision 121).
   */
  const uploaded = (mediaId: string, offset: number, chunks: AsyncIterable<Uint8Array>, signal: AbortSignal): AsyncIterable<Uint8Array> =>
    gate ? paced('upload', mediaId, offset, chunks, signal) : chunks;

  const session = (hubSession: HubSession): Session => {
    /** A hub call, raced against the signal: the hub's answers take no signal, but the caller stops waiting. */
    const call = <T>(signal: AbortSignal, run: () => Promise<T>): Promise<T> => abortable(run(), signal);
    const expiresAt = hub.tokenExpiresAt(hubSession);
    return {
      userId: hubSession.userId,
      events$: bufferedEvents(hubSession),
      ...(expiresAt === undefined ? {} : { expiresAt }),
      renewToken: (token, { signal }) => call(signal, async () => orReject(await hub.renewToken(hubSession, token))),
      createUpload: (request) => hub.createUpload(hubSession.userId, request),
      getUpload: (uploadId, { signal }) => call(signal, () => hub.uploadStatus(hubSession.userId, uploadId)),
      appendUpload: (uploadId, offset, source, { signal, onProgress }) =>
        call(signal, () =>
          hub.appendUpload(hubSession.userId, uploadId, offset, uploaded(uploadId, offset, source.chunks(offset, CHUNK_SIZE, signal), signal), {
            signal,
            onProgress: (at) => {
              if (!signal.aborted) onProgress(at);
            },
          }),
        ),
      terminateUpload: (uploadId, { signal }) => call(signal, () => hub.terminateUpload(hubSession.userId, uploadId)),
      getMedia: (mediaId, { signal }) =>
        call(signal, async () => {
          const { size, sha256, fileName } = await hub.mediaInfo(mediaId);
          return { mediaId, size, sha256, fileName: offeredFileName(fileName, mediaId) };
        }),
      async *readMedia(mediaId, offset, { signal }) {
        const { size } = await call(signal, () => hub.mediaInfo(mediaId));
        if (!Number.isSafeInteger(offset) || offset < 0 || offset > size) {
          throw fault(Failure.invalidArgument('offset', `expected 0 to ${size}, got ${offset}`));
        }
        yield* paced('download', mediaId, offset, hub.readMedia(mediaId, offset, signal), signal);
      },
      sendToPeer: (peerId, message, { signal, messageId, enableOfflineMessaging }) =>
        call(signal, async () => {
          const { state } = await orReject(await hub.sendToPeer(hubSession, peerId, encodeMessage(message), { messageId, enableOfflineMessaging }));
          return { state };
        }),
      joinChannel: (channelId, { signal }) => call(signal, async () => orReject(await hub.joinChannel(hubSession, channelId))),
      leaveChannel: (channelId, { signal }) => call(signal, async () => orReject(await hub.leaveChannel(hubSession, channelId))),
      sendToChannel: (channelId, message, { signal, messageId }) =>
        call(signal, async () => orReject(await hub.sendToChannel(hubSession, channelId, encodeMessage(message), { messageId }))).then(() => undefined),
      channelMembers: (channelId, { signal }) => call(signal, async () => orReject(await hub.channelMembers(hubSession, channelId))),
      channelMemberCounts: (channelIds, { signal }) => call(signal, async () => orReject(await hub.channelMemberCounts(hubSession, channelIds))),
      queryPresence: (peerIds, { signal }) => call(signal, async () => orReject(await hub.queryPresence(hubSession, peerIds))),
      subscribePresence: (peerIds, { signal }) => call(signal, async () => orReject(await hub.subscribePresence(hubSession, peerIds))),
      unsubscribePresence: (peerIds, { signal }) => call(signal, async () => orReject(await hub.unsubscribePresence(hubSession, peerIds))),
      async close() {
        await hub.logout(hubSession);
      },
    };
  };

  return withTransportDuties({
    async connect({ userId, token }) {
      const hubSession = await orReject(await hub.login(userId, token));
      const opened = session(hubSession);
      // The messages kept while this user was offline, all of them before the session is handed over:
      // its events are buffered until the first subscriber, and there are at most 200.
      while (await hub.deliverOffline(hubSession));
      return opened;
    },
  });
};
