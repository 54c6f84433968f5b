/**
 * The WebSocket transport: messages, presence and media multiplexed on one socket to a ferry server
 * (`server.wsUrl`), with per-transfer credit and reconnection (`ws-link.ts`). Standard WebSocket API
 * only, so it runs in browsers; on Node the default constructor is `ws`'s, loaded on demand. Wire
 * format: `docs/protocol-ws.md`.
 * @module
 */
import * as E from 'fp-ts/lib/Either.js';
import * as t from 'io-ts';
import { type Clock, systemClock } from '../src/core/clock.js';
import { encodeMessage } from '../src/protocol/codec.js';
import { decodeSessionEvent } from '../src/protocol/events-codec.js';
import { Failure, failureOf, fault } from '../src/core/failure.js';
import { sessionEvents } from './session-events.js';
import type { MediaState, Session, Transport } from './transport.js';
import { withTransportDuties } from './transport-duties.js';
import { DEFAULT_RETRY_DELAYS } from '../machines/retry.js';
import { type Link, openLink } from './ws-link.js';
import { nodeChoice, nodeUrls } from './node-choice.js';
import { platformWebSocket } from '../src/platform/defaults.js';
import type { WebSocketConstructor } from '../src/platform/websocket.js';
import { wsDownload, wsUpload } from './ws-transfers.js';
import { memberCountsOf, peerSendStateOf, presenceOf } from '../src/protocol/messaging-codec.js';
import { watchedPeers } from './watched-peers.js';

export type { WebSocketConstructor, WebSocketLike } from '../src/platform/websocket.js';

/** Options of {@link wsTransport}. */
export interface WsTransportOptions {
  /**
   * The server's WebSocket URL (`server.wsUrl`), or those of the nodes of a cluster. With several, the
   * transport talks to one node at a time: the first, then the next (round robin) when the one it is on
   * stops answering, resuming the session there (`node-choice.ts`, decision 96). Each must be a `ws:` or
   * `wss:` URL, each node named once: anything else throws `ClientError` 2.
   * @example { url: 'ws://127.0.0.1:8080/v1/ws' }
   * @example { url: ['ws://10.0.0.1:8080/v1/ws', 'ws://10.0.0.2:8080/v1/ws'] }
   */
  readonly url: string | readonly string[];
  /**
   * The WebSocket constructor. Default: on Node, ferry's own client (`DirectWebSocket`, loaded on first
   * use; decision 140); elsewhere the global `WebSocket`. @example { WebSocket: globalThis.WebSocket }
   */
  readonly WebSocket?: WebSocketConstructor;
  /** Delays before reconnecting after a drop, in ms; the last repeats. Default: [0, 1000, 3000, 5000]. */
  readonly reconnectDelays?: readonly number[];
  /** Silence after which the client pings; twice this and the socket counts as dead. Default: 15,000. */
  readonly heartbeatMs?: number;
  /** Data frames wait while the socket's `bufferedAmount` is above this. Default: 256 KiB. */
  readonly highWaterMark?: number;
  /** Time for reconnect delays and the heartbeat. Default: the system clock. */
  readonly clock?: Clock;
}

const UploadStateWire = t.type({ uploadId: t.string, size: t.number, offset: t.number, complete: t.boolean });
const MediaStateWire = t.intersection([t.type({ mediaId: t.string, size: t.number, sha256: t.string }), t.partial({ fileName: t.string })]);
const MembersWire = t.type({ members: t.array(t.string) });
const RenewWire = t.partial({ expiresAt: t.number });

/** A messaging call's answer read by a decoder of `messaging-codec.ts`. */
const decodedBy = <A>(decoded: E.Either<Failure, A>): A => {
  if (E.isLeft(decoded)) throw fault(decoded.left);
  return decoded.right;
};

/** Decodes a call's answer; a server that answers nonsense is `Unknown`. */
const decoded = <A>(codec: t.Decoder<unknown, A>, value: unknown, what: string): A => {
  const result = codec.decode(value);
  if (E.isLeft(result)) throw fault(Failure.unknown(`the server answered ${what} with an unexpected shape`));
  return result.right;
};

/**
 * A transport to a ferry server (or to the nodes of a cluster) over one WebSocket at a time.
 * @throws {ClientError} code 2 when `url` is not a ws(s) URL, or a list that is empty or names a node twice.
 * @example
 * const client = createClient({ transport: wsTransport({ url: server.wsUrl }) });
 */
export const wsTransport = (options: WsTransportOptions): Transport => {
  // One choice per transport: a client that logs in again stays on the node that worked.
  const nodes = nodeChoice(nodeUrls(options.url, 'ws'));
  return withTransportDuties({
    async connect(credentials, { signal }) {
      const WebSocket = options.WebSocket ?? (await platformWebSocket());
      // Events are buffered from now until the first subscriber (the Session contract).
      const stream = sessionEvents();
      const joined = new Set<string>();
      const watched = watchedPeers();
      /** Aborted when the session ends: a renewed presence subscription stops waiting then. */
      const ended = new AbortController();
      const clock = options.clock ?? systemClock;
      let link: Link | undefined;
      // The hub's own `aborted` event (with its cause) comes before the socket closes: it is the one kept.
      let abortedSeen = false;
      link = await openLink(
        {
          nodes,
          WebSocket,
          credentials,
          clock,
          reconnectDelays: options.reconnectDelays ?? DEFAULT_RETRY_DELAYS,
          heartbeatMs: options.heartbeatMs ?? 15_000,
          highWaterMark: options.highWaterMark ?? 256 * 1024,
          onEvent: (wire) => {
            const event = decodeSessionEvent(wire);
            // An event this client does not know is skipped, as over HTTP.
            if (E.isLeft(event)) return;
            if (event.right.type === 'aborted') abortedSeen = true;
            stream.emit(event.right);
          },
          onConnection: (state) => stream.emit({ type: 'connection', state }),
          onEnd: (ending) => {
            ended.abort();
            if (ending !== undefined && !abortedSeen) stream.emit({ type: 'aborted', reason: ending.reason, cause: ending.cause });
            stream.end();
          },
          onFreshLogin: () => {
            for (const channelId of joined) {
              void link?.call({ op: 'join', channelId }, undefined).catch((error: unknown) => {
                // Rejoining failed (the session ended meanwhile): the channel's calls will say so.
                if (failureOf(error)._tag !== 'AlreadyInChannel') joined.delete(channelId);
              });
            }
            void watched.resubscribe((peerIds) => (link ? link.call({ op: 'subscribePresence', peerIds }, ended.signal) : Promise.resolve()), clock, ended.signal);
          },
        },
        signal,
      );
      const theLink = link;
      const nothing = (): void => undefined;
      /**
       * A message call: resolves with the server's answer once it took the message. Not `async`: a cost
       * per message. The call's frame, its message ID in it, is what the link resends after a drop.
       */
      const post = (body: (wire: ReturnType<typeof encodeMessage>) => Parameters<Link['call']>[0], message: Parameters<typeof encodeMessage>[0], s: AbortSignal): Promise<unknown> => {
        let wire: ReturnType<typeof encodeMessage>;
        try {
          wire = encodeMessage(message);
        } catch (error) {
          return Promise.reject(error);
        }
        return theLink.call(body(wire), s);
      };
      const peerSendAnswer = (value: unknown) => ({ state: decodedBy(peerSendStateOf(value)) });

      const session: Session = {
        userId: credentials.userId,
        events$: stream.events$,
        ...(theLink.expiresAt === undefined ? {} : { expiresAt: theLink.expiresAt }),
        renewToken: async (token, { signal: s }) => decoded(RenewWire, await theLink.renew(token, s), 'renewToken'),
        createUpload: async ({ size, fileName }, { signal: s }) => decoded(UploadStateWire, await theLink.call({ op: 'createUpload', size, fileName }, s), 'createUpload'),
        getUpload: async (uploadId, { signal: s }) => decoded(UploadStateWire, await theLink.call({ op: 'getUpload', uploadId }, s), 'getUpload'),
        appendUpload: (uploadId, offset, source, { signal: s, onProgress }) =>
          wsUpload(theLink, uploadId, offset, source, s, onProgress).then((value) => decoded(UploadStateWire, value, 'append')),
        terminateUpload: async (uploadId, { signal: s }) => {
          await theLink.call({ op: 'terminateUpload', uploadId }, s);
        },
        getMedia: async (mediaId, { signal: s }): Promise<MediaState> => {
          const media = decoded(MediaStateWire, await theLink.call({ op: 'getMedia', mediaId }, s), 'getMedia');
          // A server older than decision 108 names no file: the media ID stands in, as for a nameless upload.
          return { ...media, fileName: media.fileName ?? media.mediaId };
        },
        readMedia: (mediaId, offset, { signal: s }) => wsDownload(theLink, mediaId, offset, s),
        sendToPeer: (peerId, message, { signal: s, messageId, enableOfflineMessaging }) =>
          post((wire) => ({ op: 'sendToPeer', peerId, message: wire, messageId, ...(enableOfflineMessaging === true ? { enableOfflineMessaging } : {}) }), message, s).then(
            peerSendAnswer,
          ),
        joinChannel: async (channelId, { signal: s }) => {
          await theLink.call({ op: 'join', channelId }, s);
          joined.add(channelId);
        },
        leaveChannel: async (channelId, { signal: s }) => {
          await theLink.call({ op: 'leave', channelId }, s);
          joined.delete(channelId);
        },
        sendToChannel: (channelId, message, { signal: s, messageId }) =>
          post((wire) => ({ op: 'sendToChannel', channelId, message: wire, messageId }), message, s).then(nothing),
        channelMembers: async (channelId, { signal: s }) => decoded(MembersWire, await theLink.call({ op: 'members', channelId }, s), 'members').members,
        channelMemberCounts: async (channelIds, { signal: s }) => decodedBy(memberCountsOf(await theLink.call({ op: 'channelMemberCounts', channelIds }, s), channelIds)),
        queryPresence: async (peerIds, { signal: s }) => decodedBy(presenceOf(await theLink.call({ op: 'queryPresence', peerIds }, s), peerIds)),
        subscribePresence: async (peerIds, { signal: s }) => {
          await theLink.call({ op: 'subscribePresence', peerIds }, s);
          watched.add(peerIds);
        },
        unsubscribePresence: async (peerIds, { signal: s }) => {
          await theLink.call({ op: 'unsubscribePresence', peerIds }, s);
          watched.remove(peerIds);
        },
        close: ({ signal: s }) => theLink.close(s),
      };
      return session;
    },
  });
};
