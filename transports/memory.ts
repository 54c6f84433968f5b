/**
 * The memory transport: a client talking to an in-process hub. Bytes move in chunks (copied, as a
 * network would) with the hub acknowledging each, and messages cross as wire JSON through the same
 * codecs as HTTP and WebSocket, so progress, cancellation, limits and idle timeouts behave as over a
 * network.
 * @module
 */
import * as E from 'fp-ts/lib/Either.js';
import { filter, map } from 'rxjs';
import { abortable, throwIfAborted } from '../src/abort.js';
import { decodeMessage, encodeMessage } from '../src/codec.js';
import { Failure, failureOf, fault } from '../src/failure.js';
import type { Hub, HubSession } from '../src/hub/hub.js';
import type { HubEvent } from '../src/hub/router.js';
import type { Message } from '../src/messages.js';
import type { Session, SessionEvent, Transport } from './transport.js';

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
      yield chunk.slice();
    }
  }

  const session = (hubSession: HubSession): Session => ({
    userId: hubSession.userId,
    events$: hubSession.events$.pipe(
      map(toSessionEvent),
      filter((event): event is SessionEvent => event !== undefined),
    ),
    async createUpload(request, { signal }) {
      throwIfAborted(signal);
      return hub.createUpload(hubSession.userId, request);
    },
    async getUpload(uploadId, { signal }) {
      throwIfAborted(signal);
      return hub.uploadStatus(hubSession.userId, uploadId);
    },
    async appendUpload(uploadId, offset, chunks, { signal, onProgress }) {
      throwIfAborted(signal);
      const onAcknowledged = (at: number): void => {
        if (!signal.aborted) onProgress(at);
      };
      return abortable(
        hub.appendUpload(hubSession.userId, uploadId, offset, paced('upload', uploadId, offset, chunks, signal), {
          signal,
          onProgress: onAcknowledged,
        }),
        signal,
      );
    },
    async terminateUpload(uploadId) {
      try {
        await hub.terminateUpload(hubSession.userId, uploadId);
      } catch (error) {
        // Terminating what is already gone is the goal reached.
        if (failureOf(error)._tag !== 'NotExist') throw error;
      }
    },
    async download(mediaId, offset, { signal }) {
      throwIfAborted(signal);
      const info = await hub.mediaInfo(mediaId);
      if (!Number.isSafeInteger(offset) || offset < 0 || offset > info.size) {
        throw fault(Failure.invalidArgument('offset', `expected 0 to ${info.size}, got ${offset}`));
      }
      return {
        size: info.size,
        sha256: info.sha256,
        chunks: paced('download', mediaId, offset, hub.readMedia(mediaId, offset, signal), signal),
      };
    },
    sendToPeer: (peerId: string, message: Message) =>
      orReject(hub.sendToPeer(hubSession, peerId, encodeMessage(message))).then(() => undefined),
    joinChannel: (channelId) => orReject(hub.joinChannel(hubSession, channelId)),
    leaveChannel: (channelId) => orReject(hub.leaveChannel(hubSession, channelId)),
    sendToChannel: (channelId, message) =>
      orReject(hub.sendToChannel(hubSession, channelId, encodeMessage(message))).then(() => undefined),
    channelMembers: (channelId) => orReject(hub.channelMembers(hubSession, channelId)),
    async close() {
      hub.logout(hubSession);
    },
  });

  return {
    async connect({ userId, token }, { signal } = {}) {
      throwIfAborted(signal);
      return session(await orReject(hub.login(userId, token)));
    },
  };
};
