/**
 * The HTTP transport: tus uploads and Range downloads (`http-media.ts`), messages and channel operations
 * as requests, and the session's events as a server-sent event stream that reconnects with
 * `Last-Event-ID` (when, and how often: the link machine, `machines/link.ts`). Only `fetch`: it runs in
 * Node and in browsers. Wire format: `docs/protocol-http.md`.
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
import { httpMedia } from './http-media.js';
import { onNode, platformDirectGet, platformFetch } from '../src/platform/defaults.js';
import { httpRequest } from './http-request.js';
import { sessionEvents } from './session-events.js';
import { failureOfResponse, ignore, retryAfterMs } from './http-failure.js';
import { withTransportDuties } from './transport-duties.js';
import type { CallOptions, Session, Transport } from './transport.js';
import { HTTP_PATHS } from '../src/protocol/http-wire.js';

/** Options of {@link httpTransport}. */
export interface HttpTransportOptions {
  /** The server's base URL (`server.url`). @example { url: 'http://127.0.0.1:8080' } */
  readonly url: string;
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

/**
 * A transport to a ferry server over HTTP.
 * @example
 * const client = createClient({ transport: httpTransport({ url: server.url }) });
 */
export const httpTransport = (options: HttpTransportOptions): Transport => {
  const base = options.url.replace(/\/+$/, '');
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
      const login = async (s: AbortSignal): Promise<{ readonly sessionId: string; readonly expiresAt?: number }> => {
        const created = SessionCreated.decode(await request(`${base}${HTTP_PATHS.sessions}`, { method: 'POST', json: { userId }, signal: s }));
        if (E.isLeft(created)) throw fault(Failure.unknown('the server answered the login without a session ID'));
        return created.right;
      };
      const first = await login(signal);
      let sessionId = first.sessionId;
      const sessionUrl = (): string => `${base}${HTTP_PATHS.sessions}/${encodeURIComponent(sessionId)}`;
      const joined = new Set<string>();

      // Events are buffered from now until the first subscriber (the Session contract).
      const stream$ = sessionEvents();
      const { emit, end } = stream$;
      /** Aborts every request of the event stream, and the stream itself, when the session closes or ends. */
      const stream = new AbortController();

      /**
       * The server no longer knows the session (it restarted, or the session outlived its grace while we
       * were away; a session ended by the hub is still known then, and its stream says why): log in
       * afresh with the current token and rejoin the channels. `undefined` when logged in; else what the
       * attempt came to.
       */
      const freshLogin = async (): Promise<LinkAttemptOutcome | undefined> => {
        try {
          sessionId = (await login(stream.signal)).sessionId;
        } catch (error) {
          const failure = failureOf(error);
          if (failure._tag === 'TooOften') return { type: 'retry', afterMs: failure.retryAfterMs };
          if (stream.signal.aborted || failure._tag === 'Network' || failure._tag === 'Interrupted') throw fault(Failure.network('a fresh login got no answer'));
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
            request(`${sessionUrl()}/channels/${encodeURIComponent(channelId)}`, { method: 'PUT', signal: stream.signal }).catch(() => {
              // Not rejoined (the session ended meanwhile): the channel's calls will say so.
              joined.delete(channelId);
            }),
          ),
        );
        return undefined;
      };

      let lastEventId = '';
      /** The event stream an attempt opened, until it is read. */
      let opened: Response | undefined;
      /**
       * Asks for the event stream (from the last event seen): `restored` with it in `opened`; a refusal
       * ends the session; a session the server no longer knows is logged in afresh, once per attempt.
       */
      const openStream = async (): Promise<LinkAttemptOutcome> => {
        for (let fresh = false; ; fresh = true) {
          const response = await fetch(`${sessionUrl()}/events`, {
            headers: { Authorization: `Bearer ${token}`, Accept: 'text/event-stream', ...(lastEventId ? { 'Last-Event-ID': lastEventId } : {}) },
            signal: stream.signal,
          });
          if (response.ok && response.body) {
            opened = response;
            return { type: 'restored' };
          }
          if ((response.status !== 401 && response.status !== 404) || fresh) {
            // A server asking for a pause (429, 503) says how long in `Retry-After`: the link waits that instead.
            const afterMs = response.status === 429 || response.status === 503 ? retryAfterMs(response.headers.get('Retry-After'), clock.now()) : undefined;
            void response.body?.cancel().catch(ignore);
            return { type: 'retry', ...(afterMs === undefined ? {} : { afterMs }) };
          }
          const refused = await failureOfResponse(response, { method: 'GET', what: 'the event stream', signal: stream.signal, clock });
          if (refused._tag === 'TokenExpired') return { type: 'ended', ending: { cause: 'TOKEN_EXPIRED', reason: 'the token expired' } };
          if (refused._tag === 'InvalidToken') return { type: 'ended', ending: { cause: 'LOGIN_FAILURE', reason: describeFailure(refused) } };
          const outcome = await freshLogin();
          if (outcome !== undefined) return outcome;
          // A new session: its events start afresh.
          lastEventId = '';
        }
      };

      /**
       * Reads the stream `openStream` left in `opened` until it ends. Events go out as they come, never
       * through the machine; the end is a drop, unless the stream said the session ended (its `aborted`
       * event) or we closed it.
       */
      const follow = async (): Promise<void> => {
        const response = opened as Response;
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

      const media = httpMedia({
        url: base,
        token: () => token,
        fetch,
        streamUploads,
        sessionId: () => sessionId,
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
          const answer = RenewAnswer.decode(
            await request(`${sessionUrl()}/token`, { method: 'PUT', headers: { Authorization: `Bearer ${next}` }, signal: s }),
          );
          token = next;
          return E.isRight(answer) && answer.right.expiresAt !== undefined ? { expiresAt: answer.right.expiresAt } : {};
        }),
        createUpload: media.createUpload,
        getUpload: media.getUpload,
        appendUpload: media.appendUpload,
        terminateUpload: media.terminateUpload,
        getMedia: media.getMedia,
        readMedia: media.readMedia,
        sendToPeer: (async (peerId, message, { signal: s }) => {
          await request(`${sessionUrl()}/peers/${encodeURIComponent(peerId)}/messages`, { method: 'POST', json: encodeMessage(message), signal: s });
        }),
        joinChannel: (async (channelId, { signal: s }) => {
          await request(`${sessionUrl()}/channels/${encodeURIComponent(channelId)}`, { method: 'PUT', signal: s });
          joined.add(channelId);
        }),
        leaveChannel: (async (channelId, { signal: s }) => {
          await request(`${sessionUrl()}/channels/${encodeURIComponent(channelId)}`, { method: 'DELETE', signal: s });
          joined.delete(channelId);
        }),
        sendToChannel: (async (channelId, message, { signal: s }) => {
          await request(`${sessionUrl()}/channels/${encodeURIComponent(channelId)}/messages`, { method: 'POST', json: encodeMessage(message), signal: s });
        }),
        channelMembers: (async (channelId, { signal: s }) => {
          const body = await request(`${sessionUrl()}/channels/${encodeURIComponent(channelId)}/members`, { method: 'GET', signal: s });
          const members = t.type({ members: t.array(t.string) }).decode(body);
          if (E.isLeft(members)) throw fault(Failure.unknown('the server answered members without a list'));
          return members.right.members;
        }),
        async close({ signal: s }) {
          const state = linkStateOf(link.getSnapshot().value);
          if (state === 'closing' || state === 'ended') return;
          tell({ type: 'CLOSE' });
          stream.abort();
          try {
            await request(sessionUrl(), { method: 'DELETE', signal: s });
          } catch (error) {
            // A session the server already forgot is closed: the goal is reached.
            if (failureOf(error)._tag !== 'NotLoggedIn') throw error;
          } finally {
            tell({ type: 'CLOSED' });
          }
        },
      };
      return session;
    },
  });
};
