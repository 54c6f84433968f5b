/**
 * The HTTP transport: tus uploads and Range downloads (`http-media.ts`), messages and channel operations
 * as requests, and the session's events as a server-sent event stream that reconnects with
 * `Last-Event-ID` (when, and how often: the link machine, `machines/link.ts`). Only `fetch`: it runs in
 * Node and in browsers. Wire format: `docs/protocol-http.md`.
 *
 * Given the nodes of a cluster (`url: [a, b, c]`, decision 96), it talks to one at a time
 * (`node-choice.ts`) and the session follows it: when a request finds its node gone, the transport
 * moves on, the event stream reconnects at the new node with the same session ID and `Last-Event-ID`
 * (a node that does not know the session is logged in at afresh, as after a restart), and the session's
 * requests wait for that before they go there (`place`). Uploads resume from the offset the new node
 * reports (the transfer machine's `HEAD`), downloads with `Range` from the bytes received.
 * @module
 */
import { createParser } from 'eventsource-parser';
import * as E from 'fp-ts/lib/Either.js';
import * as t from 'io-ts';
import { type Clock, systemClock } from '../src/core/clock.js';
import { encodeMessage } from '../src/protocol/codec.js';
import { decodeSessionEvent } from '../src/protocol/events-codec.js';
import { describeFailure, Failure, failureOf, fault } from '../src/core/failure.js';
import { createActor } from 'xstate';
import { type LinkAttemptOutcome, type LinkEvent, linkMachine, linkStateOf } from '../machines/link.js';
import { DEFAULT_RETRY_DELAYS } from '../machines/retry.js';
import { httpMedia, type Placement } from './http-media.js';
import { abortable, onAbort } from '../src/core/abort.js';
import { answeredWithin, movedOn, NODE_ANSWER_MS, nodeChoice, nodeUrls, onEachNode, reachOf, UNAVAILABLE_STATUSES } from './node-choice.js';
import { onNode, platformDirectGet, platformFetch } from '../src/platform/defaults.js';
import { httpRequest } from './http-request.js';
import { sessionEvents } from './session-events.js';
import { describeError, failureOfResponse, ignore, retryAfterMs } from './http-failure.js';
import { withTransportDuties } from './transport-duties.js';
import type { CallOptions, Session, Transport } from './transport.js';
import { HTTP_PATHS, MESSAGING_PATHS, SEND_QUERY } from '../src/protocol/http-wire.js';
import { memberCountsOf, peerSendStateOf, presenceOf } from '../src/protocol/messaging-codec.js';
import { nextDelay } from '../machines/retry.js';
import { pause } from './pause.js';
import { watchedPeers } from './watched-peers.js';

/** Options of {@link httpTransport}. */
export interface HttpTransportOptions {
  /**
   * The server's base URL (`server.url`), or the base URLs of the nodes of a cluster. With several, the
   * transport talks to one node at a time: the first, then the next (round robin) when the one it is on
   * stops answering, carrying the session, its uploads and downloads over (`node-choice.ts`, decision 96).
   * Each must be an `http:` or `https:` URL, each node named once: anything else throws `ClientError` 2.
   * @example { url: 'http://127.0.0.1:8080' }
   * @example { url: ['http://10.0.0.1:8080', 'http://10.0.0.2:8080', 'http://10.0.0.3:8080'] }
   */
  readonly url: string | readonly string[];
  /**
   * The `fetch` to use. Default: on Node, one on `node:http` with keep-alive (`node-fetch.ts`: the global
   * `fetch` copies request bodies twice); elsewhere the global one. @example { fetch: globalThis.fetch }
   */
  readonly fetch?: typeof globalThis.fetch;
  /**
   * Send upload windows as streamed request bodies instead of buffering each window (fewer, larger
   * requests, no window buffer). Needs a `fetch` that streams request bodies over HTTP/1.1; browsers do
   * so only over HTTP/2. Default: `true` with the default `fetch` on Node, `false` otherwise.
   */
  readonly streamUploads?: boolean;
  /**
   * Downloads of at least this many bytes (from the offset to the end) read on Node over a connection of
   * their own, straight into one reused buffer (`node-direct-get.ts`): no buffer per socket read. Smaller
   * ones share the keep-alive connections of `fetch`. Used only with the default `fetch` on Node; an
   * answer framed without `Content-Length` is asked again through `fetch`. `Infinity` turns it off.
   * Default: 1 MiB. @example { directReadsFrom: Infinity }
   */
  readonly directReadsFrom?: number;
  /** Delays before reconnecting the event stream, in ms; the last repeats. Default: [0, 1000, 3000, 5000]. */
  readonly reconnectDelays?: readonly number[];
  /** Time for reconnect delays. Default: the system clock. */
  readonly clock?: Clock;
}

// `expiresAt` is optional, so older servers still decode.
const SessionCreated = t.intersection([t.type({ sessionId: t.string }), t.partial({ expiresAt: t.number })]);
const RenewAnswer = t.partial({ expiresAt: t.number });

/** A promise that the next `wake` resolves: whoever waits checks again what it waits for. */
const wakeups = () => {
  let resolve: () => void = () => undefined;
  let promise = new Promise<void>((r) => (resolve = r));
  return {
    next: () => promise,
    wake: () => {
      resolve();
      promise = new Promise<void>((r) => (resolve = r));
    },
  };
};

/** A request of the messaging half: its method, body and headers (the signal and node are added). */
interface Call {
  readonly method: string;
  readonly json?: unknown;
  readonly headers?: Readonly<Record<string, string>>;
}

/**
 * A transport to a ferry server (or to the nodes of a cluster) over HTTP.
 * @throws {ClientError} code 2 when `url` is not an http(s) URL, or a list that is empty or names a node twice.
 * @example
 * const client = createClient({ transport: httpTransport({ url: server.url }) });
 */
export const httpTransport = (options: HttpTransportOptions): Transport => {
  const urls = nodeUrls(options.url, 'http').map((url) => url.replace(/\/+$/, ''));
  // One choice per transport: a client that logs in again stays on the node that worked.
  const nodes = nodeChoice(urls);
  const count = urls.length;
  /** The wait for a node's answer when there is another node to try. */
  const answerMs = count > 1 ? NODE_ANSWER_MS : undefined;
  const clock = options.clock ?? systemClock;
  const reconnectDelays = options.reconnectDelays ?? DEFAULT_RETRY_DELAYS;
  const streamUploads = options.streamUploads ?? (options.fetch === undefined && onNode);

  return withTransportDuties({
    async connect(credentials, { signal }) {
      const { userId } = credentials;
      const fetch = options.fetch ?? (await platformFetch());
      const directGet = options.fetch !== undefined || options.directReadsFrom === Infinity ? undefined : await platformDirectGet();
      // The current token and session: renewal replaces the token, a fresh login the session.
      let token = credentials.token;
      const request = httpRequest({ fetch, token: () => token, clock });
      /** Logs in at `node` (its answer bounded in time when another node could answer instead). */
      const loginAt = async (node: number, s: AbortSignal): Promise<{ readonly sessionId: string; readonly expiresAt?: number }> => {
        const answer = await answeredWithin(clock, answerMs, s, (within) =>
          request(`${urls[node] as string}${HTTP_PATHS.sessions}`, { method: 'POST', json: { userId }, signal: within, reach: reachOf(nodes, node) }),
        );
        const created = SessionCreated.decode(answer);
        if (E.isLeft(created)) throw fault(Failure.unknown('the server answered the login without a session ID'));
        return created.right;
      };
      // The first login goes to the current node, and to the next while nodes do not answer.
      let firstNode = nodes.current;
      const first = await onEachNode(
        count,
        () => {
          firstNode = nodes.current;
          return loginAt(firstNode, signal);
        },
        (error) => !signal.aborted && movedOn(nodes, firstNode, error),
      );
      let sessionId = first.sessionId;
      /**
       * The node known to hold `sessionId`: where it was logged in, or where its event stream last opened.
       * Requests of the session go to the current node only once the session is there (`place`).
       */
      let sessionNode = firstNode;
      /** The node the event stream is open on, and how to cut it; unset while the link reconnects. */
      let streamNode: number | undefined;
      let streamCut: AbortController | undefined;
      const sessionUrl = (node: number): string => `${urls[node] as string}${HTTP_PATHS.sessions}/${encodeURIComponent(sessionId)}`;
      const joined = new Set<string>();
      const watched = watchedPeers();
      /** Woken when the session's node or the link's state changes. */
      const moves = wakeups();

      // Events are buffered from now until the first subscriber (the Session contract).
      const stream$ = sessionEvents();
      const { emit, end } = stream$;
      /** Aborts every request of the event stream, and the stream itself, when the session closes or ends. */
      const stream = new AbortController();

      /**
       * The server no longer knows the session (it restarted, the session outlived its grace while we
       * were away, or this is another node that does not know it): log in afresh at `node` with the
       * current token, rejoin the channels and watch the peers watched there. A session ended by the hub
       * is still known, and its stream says why. `undefined` when logged in; else what the attempt came to.
       */
      const freshLogin = async (node: number): Promise<LinkAttemptOutcome | undefined> => {
        try {
          sessionId = (await loginAt(node, stream.signal)).sessionId;
          sessionNode = node;
        } catch (error) {
          const failure = failureOf(error);
          if (failure._tag === 'TooOften') return { type: 'retry', afterMs: failure.retryAfterMs };
          if (stream.signal.aborted || failure._tag === 'Network' || failure._tag === 'Interrupted') throw fault(Failure.network('a fresh login got no answer'), error);
          return {
            type: 'ended',
            ending:
              failure._tag === 'TokenExpired'
                ? { cause: 'TOKEN_EXPIRED', reason: 'the token expired before a fresh login' }
                : { cause: 'LOGIN_FAILURE', reason: `the server refused a fresh login: ${describeFailure(failure)}` },
          };
        }
        await Promise.all(
          [...joined].map((channelId) =>
            request(`${sessionUrl(node)}/channels/${encodeURIComponent(channelId)}`, { method: 'PUT', signal: stream.signal }).catch(() => {
              // Not rejoined (the session ended meanwhile): the channel's calls will say so.
              joined.delete(channelId);
            }),
          ),
        );
        await watched.resubscribe(
          (peerIds) => request(`${sessionUrl(node)}/${MESSAGING_PATHS.presence}/${MESSAGING_PATHS.subscribe}`, { method: 'POST', json: { peerIds }, signal: stream.signal }),
          clock,
          stream.signal,
        );
        return undefined;
      };

      let lastEventId = '';
      /** The event stream an attempt opened, until it is read: its response, its node and how to cut it. */
      let opened: { readonly response: Response; readonly node: number; readonly cut: AbortController; readonly dispose: () => void } | undefined;
      /**
       * Asks `node` for the event stream (from the last event seen): `restored` with it in `opened`; a
       * refusal ends the session; a session the node does not know is logged in afresh there, once per
       * attempt. Rejects with `Network` when the node does not answer (reported to the node choice).
       */
      const openStreamAt = async (node: number): Promise<LinkAttemptOutcome> => {
        for (let fresh = false; ; fresh = true) {
          // Its own controller, so moving to another node cuts this stream without ending the session.
          const cut = new AbortController();
          const dispose = onAbort(stream.signal, () => cut.abort(stream.signal.reason));
          const timer = answerMs === undefined ? undefined : clock.setTimeout(() => cut.abort(fault(Failure.timeout('no answer'))), answerMs);
          let response: Response;
          try {
            response = await fetch(`${sessionUrl(node)}/events`, {
              headers: { Authorization: `Bearer ${token}`, Accept: 'text/event-stream', ...(lastEventId ? { 'Last-Event-ID': lastEventId } : {}) },
              signal: cut.signal,
            });
          } catch (error) {
            dispose();
            if (!stream.signal.aborted) nodes.unreachable(node);
            throw fault(Failure.network(`the event stream did not open: ${describeError(error)}`), error);
          } finally {
            clock.clearTimeout(timer);
          }
          if (answerMs !== undefined && UNAVAILABLE_STATUSES.has(response.status)) {
            dispose();
            void response.body?.cancel().catch(ignore);
            nodes.unreachable(node);
            throw fault(Failure.network(`HTTP ${response.status} from the event stream: the node is unavailable`));
          }
          nodes.answered(node);
          if (response.ok && response.body) {
            opened = { response, node, cut, dispose };
            sessionNode = node;
            streamNode = node;
            streamCut = cut;
            moves.wake();
            return { type: 'restored' };
          }
          dispose();
          if ((response.status !== 401 && response.status !== 404) || fresh) {
            // A server asking for a pause (429, 503) says how long in `Retry-After`: the link waits that instead.
            const afterMs = response.status === 429 || response.status === 503 ? retryAfterMs(response.headers.get('Retry-After'), clock.now()) : undefined;
            void response.body?.cancel().catch(ignore);
            return { type: 'retry', ...(afterMs === undefined ? {} : { afterMs }) };
          }
          const refused = await failureOfResponse(response, { method: 'GET', what: 'the event stream', signal: stream.signal, clock });
          if (refused._tag === 'TokenExpired') return { type: 'ended', ending: { cause: 'TOKEN_EXPIRED', reason: 'the token expired' } };
          if (refused._tag === 'InvalidToken') return { type: 'ended', ending: { cause: 'LOGIN_FAILURE', reason: describeFailure(refused) } };
          const outcome = await freshLogin(node);
          if (outcome !== undefined) return outcome;
          // A new session: its events start afresh.
          lastEventId = '';
        }
      };
      /** The event stream from the current node, and from the next ones while nodes do not answer. */
      const openStream = (): Promise<LinkAttemptOutcome> => {
        let node = nodes.current;
        return onEachNode(
          count,
          () => {
            node = nodes.current;
            return openStreamAt(node);
          },
          (error) => !stream.signal.aborted && movedOn(nodes, node, error),
        );
      };

      /**
       * Reads the stream `openStream` left in `opened` until it ends. Events go out as they come, never
       * through the machine; the end is a drop, unless the stream said the session ended (its `aborted`
       * event) or we closed it.
       */
      const follow = async (): Promise<void> => {
        const { response, cut, dispose } = opened as NonNullable<typeof opened>;
        opened = undefined;
        let abortedSeen = false;
        try {
          const parser = createParser({
            onEvent: (message) => {
              if (message.id) lastEventId = message.id;
              let json: unknown;
              try {
                json = JSON.parse(message.data);
              } catch {
                return; // A malformed event is skipped, as an unknown one: a newer server never breaks an older client.
              }
              const event = decodeSessionEvent(json);
              if (E.isLeft(event)) return;
              if (event.right.type === 'aborted') abortedSeen = true;
              emit(event.right);
            },
          });
          const reader = (response.body as NonNullable<Response['body']>).pipeThrough(new TextDecoderStream()).getReader();
          for (;;) {
            const { done, value } = await reader.read();
            if (done) break;
            parser.feed(value);
          }
        } catch {
          // Any failure of the stream counts as a dropped link: reconnect, and let the server say (401/404)
          // whether the session still exists.
        }
        dispose();
        if (streamCut === cut) {
          streamNode = undefined;
          streamCut = undefined;
        }
        if (stream.signal.aborted) return;
        tell(abortedSeen ? { type: 'END' } : { type: 'DROPPED' });
      };

      const link = createActor(linkMachine, { clock, input: { delays: reconnectDelays, reconnect: openStream } });
      /** Tells the link machine, unless it has finished (an ended link takes nothing more). */
      const tell = (event: LinkEvent): void => {
        if (link.getSnapshot().status === 'active') link.send(event);
      };
      link.on('dropped', () => emit({ type: 'connection', state: 'RECONNECTING' }));
      link.on('restored', () => {
        emit({ type: 'connection', state: 'CONNECTED' });
        void follow();
      });
      link.on('ended', ({ ending }) => {
        if (ending !== undefined) emit({ type: 'aborted', reason: ending.reason, cause: ending.cause });
        stream.abort();
        end();
      });
      link.subscribe(() => moves.wake());
      link.start();
      // The first stream is asked for while the link counts as open: not getting it is its first drop.
      openStream().then(
        (outcome) => {
          if (outcome.type === 'restored') return void follow();
          if (stream.signal.aborted) return;
          if (outcome.type === 'ended') tell({ type: 'END', ...(outcome.ending ? { ending: outcome.ending } : {}) });
          else tell({ type: 'DROPPED', ...(outcome.afterMs === undefined ? {} : { afterMs: outcome.afterMs }) });
        },
        () => {
          if (!stream.signal.aborted) tell({ type: 'DROPPED' });
        },
      );

      /**
       * Where a request of the session goes: the current node, once the session is known there. While it
       * is not (the transport moved, and the event stream still has to follow), the stream is moved (an
       * open one cut, so the link reconnects at the current node) and the request waits for it. After the
       * session ended, wherever the transport is (cleanup after a logout still runs).
       */
      const place = async (s: AbortSignal): Promise<Placement> => {
        for (;;) {
          const node = nodes.current;
          const state = linkStateOf(link.getSnapshot().value);
          if (node === sessionNode || state === 'closing' || state === 'ended') return { node, base: urls[node] as string, sessionId };
          if (streamNode !== undefined && streamNode !== node) streamCut?.abort();
          await abortable(moves.next(), s);
        }
      };
      /**
       * A request of the messaging half at the placed node. Only an idempotent one goes again to the next
       * node when its node stops answering: queries, presence subscriptions, and messages, which carry
       * their ID (a server delivers an ID it took once: decision 103). Joins and leaves do not: a join
       * that did reach its node would be refused `AlreadyInChannel` the second time.
       */
      const call = (path: string, body: Call, s: AbortSignal, idempotent = false): Promise<unknown> => {
        let node = nodes.current;
        return onEachNode(
          idempotent ? count : 1,
          async () => {
            const at = await place(s);
            node = at.node;
            return request(`${at.base}${HTTP_PATHS.sessions}/${encodeURIComponent(at.sessionId ?? sessionId)}${path}`, { ...body, signal: s, reach: reachOf(nodes, node) });
          },
          (error) => !s.aborted && movedOn(nodes, node, error),
        );
      };

      /**
       * A message: its request, the same path, query and body, is sent again while it fails with `Network`
       * (it, or its answer, died with the link), each time after the delay table's wait and once the
       * event stream is back, until the caller's signal ends it (the client's request timeout). Its
       * message ID makes that safe: a server delivers an ID it already took once, and answers as it did.
       */
      const message = async (path: string, json: unknown, s: AbortSignal): Promise<unknown> => {
        for (let attempt = 1; ; attempt++) {
          try {
            return await call(path, { method: 'POST', json }, s, true);
          } catch (error) {
            if (s.aborted || failureOf(error)._tag !== 'Network') throw error;
            await pause(clock, nextDelay(attempt, reconnectDelays), s);
            // While the stream reconnects, a request would reach a server that may not know the session yet.
            while (linkStateOf(link.getSnapshot().value) === 'reconnecting') await abortable(moves.next(), s);
          }
        }
      };
      /** `?messageId=…[&enableOfflineMessaging=true]`: the query of a send. */
      const sendQuery = (messageId: string, offline?: boolean): string =>
        `?${new URLSearchParams({ [SEND_QUERY.messageId]: messageId, ...(offline === true ? { [SEND_QUERY.enableOfflineMessaging]: 'true' } : {}) }).toString()}`;
      /** A messaging call's answer read by a decoder of `messaging-codec.ts`. */
      const decodedBy = <A>(decoded: E.Either<Failure, A>): A => {
        if (E.isLeft(decoded)) throw fault(decoded.left);
        return decoded.right;
      };

      const media = httpMedia({
        url: urls[0] as string,
        token: () => token,
        fetch,
        streamUploads,
        nodes: { nodes, place },
        clock,
        ...(directGet ? { directGet } : {}),
        ...(options.directReadsFrom === undefined ? {} : { directReadsFrom: options.directReadsFrom }),
      });
      const session: Session = {
        userId,
        events$: stream$.events$,
        ...(first.expiresAt === undefined ? {} : { expiresAt: first.expiresAt }),
        renewToken: (async (next: string, { signal: s }: CallOptions) => {
          // The new token authenticates its own renewal; the server checks it belongs to this session's user.
          const answer = RenewAnswer.decode(await call('/token', { method: 'PUT', headers: { Authorization: `Bearer ${next}` } }, s));
          token = next;
          return E.isRight(answer) && answer.right.expiresAt !== undefined ? { expiresAt: answer.right.expiresAt } : {};
        }),
        createUpload: media.createUpload,
        getUpload: media.getUpload,
        appendUpload: media.appendUpload,
        terminateUpload: media.terminateUpload,
        getMedia: media.getMedia,
        readMedia: media.readMedia,
        sendToPeer: (async (peerId, content, { signal: s, messageId, enableOfflineMessaging }) => {
          const path = `/peers/${encodeURIComponent(peerId)}/messages${sendQuery(messageId, enableOfflineMessaging)}`;
          return { state: decodedBy(peerSendStateOf(await message(path, encodeMessage(content), s))) };
        }),
        joinChannel: (async (channelId, { signal: s }) => {
          await call(`/channels/${encodeURIComponent(channelId)}`, { method: 'PUT' }, s);
          joined.add(channelId);
        }),
        leaveChannel: (async (channelId, { signal: s }) => {
          await call(`/channels/${encodeURIComponent(channelId)}`, { method: 'DELETE' }, s);
          joined.delete(channelId);
        }),
        sendToChannel: (async (channelId, content, { signal: s, messageId }) => {
          await message(`/channels/${encodeURIComponent(channelId)}/messages${sendQuery(messageId)}`, encodeMessage(content), s);
        }),
        channelMembers: (async (channelId, { signal: s }) => {
          const body = await call(`/channels/${encodeURIComponent(channelId)}/members`, { method: 'GET' }, s, true);
          const members = t.type({ members: t.array(t.string) }).decode(body);
          if (E.isLeft(members)) throw fault(Failure.unknown('the server answered members without a list'));
          return members.right.members;
        }),
        channelMemberCounts: async (channelIds, { signal: s }) =>
          decodedBy(memberCountsOf(await call(`/${MESSAGING_PATHS.memberCounts}`, { method: 'POST', json: { channelIds } }, s, true), channelIds)),
        queryPresence: async (peerIds, { signal: s }) =>
          decodedBy(presenceOf(await call(`/${MESSAGING_PATHS.presence}`, { method: 'POST', json: { peerIds } }, s, true), peerIds)),
        subscribePresence: async (peerIds, { signal: s }) => {
          await call(`/${MESSAGING_PATHS.presence}/${MESSAGING_PATHS.subscribe}`, { method: 'POST', json: { peerIds } }, s, true);
          watched.add(peerIds);
        },
        unsubscribePresence: async (peerIds, { signal: s }) => {
          await call(`/${MESSAGING_PATHS.presence}/${MESSAGING_PATHS.unsubscribe}`, { method: 'POST', json: { peerIds } }, s, true);
          watched.remove(peerIds);
        },
        async close({ signal: s }) {
          const state = linkStateOf(link.getSnapshot().value);
          if (state === 'closing' || state === 'ended') return;
          tell({ type: 'CLOSE' });
          // The logout goes where the session is; if that node does not answer, to the next (idempotent).
          // The event stream is cut after it: a stream that went first would show the user's watchers an
          // UNREACHABLE before the OFFLINE of the logout, as a dropped link does.
          let node = sessionNode;
          try {
            await onEachNode(
              count,
              () => request(sessionUrl(node), { method: 'DELETE', signal: s, reach: reachOf(nodes, node) }),
              (error) => {
                const again = !s.aborted && movedOn(nodes, node, error);
                node = nodes.current;
                return again;
              },
            );
          } catch (error) {
            // A session the server already forgot is closed: the goal is reached.
            if (failureOf(error)._tag !== 'NotLoggedIn') throw error;
          } finally {
            stream.abort();
            tell({ type: 'CLOSED' });
          }
        },
      };
      return session;
    },
  });
};
