/**
 * The HTTP transport: tus uploads and Range downloads (`http-media.ts`), messages and channel operations
 * as requests, and the session's events as a server-sent event stream that reconnects with
 * `Last-Event-ID`. Only `fetch`: it runs in Node and in browsers. Wire format: `docs/protocol-http.md`.
 * @module
 */
import { createParser } from 'eventsource-parser';
import * as E from 'fp-ts/lib/Either.js';
import * as t from 'io-ts';
import { throwIfAborted } from '../src/core/abort.js';
import { type Clock, systemClock } from '../src/core/clock.js';
import { encodeMessage } from '../src/protocol/codec.js';
import { decodeSessionEvent } from '../src/protocol/events-codec.js';
import { describeFailure, Failure, failureOf, fault } from '../src/core/failure.js';
import { retryDelay } from '../machines/retry.js';
import { httpMedia } from './http-media.js';
import { onNode, platformDirectGet, platformFetch } from '../src/platform/defaults.js';
import { httpRequest } from './http-request.js';
import { sessionEvents } from './session-events.js';
import { failureOfResponse } from './http-failure.js';
import type { AbortCause, CallOptions, Session, Transport } from './transport.js';
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

/** Waits `ms` on the clock, or less if the signal aborts. */
const pause = (clock: Clock, ms: number, signal: AbortSignal): Promise<void> =>
  new Promise((resolve) => {
    if (signal.aborted) return resolve();
    const timer = clock.setTimeout(done, ms);
    function done(): void {
      clock.clearTimeout(timer);
      signal.removeEventListener('abort', done);
      resolve();
    }
    signal.addEventListener('abort', done, { once: true });
  });

/**
 * A transport to a ferry server over HTTP.
 * @example
 * const client = createClient({ transport: httpTransport({ url: server.url }) });
 */
export const httpTransport = (options: HttpTransportOptions): Transport => {
  const base = options.url.replace(/\/+$/, '');
  const clock = options.clock ?? systemClock;
  const reconnectDelays = options.reconnectDelays ?? [0, 1_000, 3_000, 5_000];
  const streamUploads = options.streamUploads ?? (options.fetch === undefined && onNode);

  return {
    async connect(credentials, { signal }) {
      throwIfAborted(signal);
      const { userId } = credentials;
      const fetch = options.fetch ?? (await platformFetch());
      const directGet = options.fetch !== undefined || options.directReadsFrom === Infinity ? undefined : await platformDirectGet();
      // The current token and session: renewal replaces the token, a fresh login the session.
      let token = credentials.token;
      const request = httpRequest({ fetch, token: () => token });
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
      const stream = new AbortController();
      let closed = false;

      /**
       * The server no longer knows the session (it restarted, or the session outlived its grace while we
       * were away; a session ended by the hub is still known then, and its stream says why): log in
       * afresh with the current token and rejoin the channels. `undefined` when logged in; else why not.
       */
      const freshLogin = async (): Promise<{ readonly cause: AbortCause; readonly reason: string } | 'retry' | undefined> => {
        try {
          sessionId = (await login(stream.signal)).sessionId;
        } catch (error) {
          const failure = failureOf(error);
          if (closed || failure._tag === 'Network' || failure._tag === 'Interrupted' || failure._tag === 'TooOften') return 'retry';
          return failure._tag === 'TokenExpired'
            ? { cause: 'TOKEN_EXPIRED', reason: 'the token expired before a fresh login' }
            : { cause: 'LOGIN_FAILURE', reason: `the server refused a fresh login: ${describeFailure(failure)}` };
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

      const listen = async (): Promise<void> => {
        let lastEventId = '';
        let attempt = 0;
        let dropped = false;
        while (!closed) {
          let aborted = false;
          try {
            const response = await fetch(`${sessionUrl()}/events`, {
              headers: { Authorization: `Bearer ${token}`, Accept: 'text/event-stream', ...(lastEventId ? { 'Last-Event-ID': lastEventId } : {}) },
              signal: stream.signal,
            });
            if (response.status === 401 || response.status === 404) {
              const refused = await failureOfResponse(response, { method: 'GET', what: 'the event stream', signal: stream.signal });
              const outcome =
                refused._tag === 'TokenExpired'
                  ? { cause: 'TOKEN_EXPIRED' as const, reason: 'the token expired' }
                  : refused._tag === 'InvalidToken'
                    ? { cause: 'LOGIN_FAILURE' as const, reason: describeFailure(refused) }
                    : await freshLogin();
              if (outcome === 'retry') throw fault(Failure.network('a fresh login got no answer'));
              if (outcome !== undefined) {
                if (!closed) emit({ type: 'aborted', reason: outcome.reason, cause: outcome.cause });
                return end();
              }
              // A new session: its events start afresh.
              lastEventId = '';
              if (!dropped) emit({ type: 'connection', state: 'RECONNECTING' });
              dropped = true;
              continue;
            }
            if (!response.ok || !response.body) throw fault(Failure.network(`event stream answered ${response.status}`));
            if (dropped) emit({ type: 'connection', state: 'CONNECTED' });
            dropped = false;
            attempt = 0;
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
                if (event.right.type === 'aborted') aborted = true;
                emit(event.right);
              },
            });
            const reader = response.body.pipeThrough(new TextDecoderStream()).getReader();
            for (;;) {
              const { done, value } = await reader.read();
              if (done) break;
              parser.feed(value);
            }
          } catch {
            // Any failure of the stream counts as a dropped link: reconnect, and let the server say (401/404)
            // whether the session still exists.
            if (closed) break;
          }
          if (aborted || closed) break;
          if (!dropped) emit({ type: 'connection', state: 'RECONNECTING' });
          dropped = true;
          await pause(clock, retryDelay(++attempt, reconnectDelays), stream.signal);
        }
        end();
      };
      void listen();

      // Requests are authenticated by token, so the session contract ("after it ended, every call
      // rejects NotLoggedIn") is kept here, and the server checks it too through `Ferry-Session`.
      const whileOpen = <A extends unknown[], R>(call: (...args: A) => Promise<R>) =>
        (...args: A): Promise<R> => (closed || stream$.ended ? Promise.reject(fault(Failure.notLoggedIn())) : call(...args));
      const media = httpMedia({
        url: base,
        token: () => token,
        fetch,
        streamUploads,
        sessionId: () => sessionId,
        ...(directGet ? { directGet } : {}),
        ...(options.directReadsFrom === undefined ? {} : { directReadsFrom: options.directReadsFrom }),
      });
      const session: Session = {
        userId,
        events$: stream$.events$,
        ...(first.expiresAt === undefined ? {} : { expiresAt: first.expiresAt }),
        renewToken: whileOpen(async (next: string, { signal: s }: CallOptions) => {
          // The new token authenticates its own renewal; the server checks it belongs to this session's user.
          const answer = RenewAnswer.decode(
            await request(`${sessionUrl()}/token`, { method: 'PUT', headers: { Authorization: `Bearer ${next}` }, signal: s }),
          );
          token = next;
          return E.isRight(answer) && answer.right.expiresAt !== undefined ? { expiresAt: answer.right.expiresAt } : {};
        }),
        createUpload: whileOpen(media.createUpload),
        getUpload: whileOpen(media.getUpload),
        appendUpload: whileOpen(media.appendUpload),
        // Cleanup after a logout or a kick must still work.
        terminateUpload: media.terminateUpload,
        getMedia: whileOpen(media.getMedia),
        readMedia: (mediaId, offset, opts) =>
          closed || stream$.ended
            ? (async function* (): AsyncIterable<Uint8Array> {
                yield* [];
                throw fault(Failure.notLoggedIn());
              })()
            : media.readMedia(mediaId, offset, opts),
        sendToPeer: whileOpen(async (peerId, message, { signal: s }) => {
          await request(`${sessionUrl()}/peers/${encodeURIComponent(peerId)}/messages`, { method: 'POST', json: encodeMessage(message), signal: s });
        }),
        joinChannel: whileOpen(async (channelId, { signal: s }) => {
          await request(`${sessionUrl()}/channels/${encodeURIComponent(channelId)}`, { method: 'PUT', signal: s });
          joined.add(channelId);
        }),
        leaveChannel: whileOpen(async (channelId, { signal: s }) => {
          await request(`${sessionUrl()}/channels/${encodeURIComponent(channelId)}`, { method: 'DELETE', signal: s });
          joined.delete(channelId);
        }),
        sendToChannel: whileOpen(async (channelId, message, { signal: s }) => {
          await request(`${sessionUrl()}/channels/${encodeURIComponent(channelId)}/messages`, { method: 'POST', json: encodeMessage(message), signal: s });
        }),
        channelMembers: whileOpen(async (channelId, { signal: s }) => {
          const body = await request(`${sessionUrl()}/channels/${encodeURIComponent(channelId)}/members`, { method: 'GET', signal: s });
          const members = t.type({ members: t.array(t.string) }).decode(body);
          if (E.isLeft(members)) throw fault(Failure.unknown('the server answered members without a list'));
          return members.right.members;
        }),
        async close({ signal: s }) {
          if (closed) return;
          closed = true;
          stream.abort();
          try {
            await request(sessionUrl(), { method: 'DELETE', signal: s });
          } catch (error) {
            // A session the server already forgot is closed: the goal is reached.
            if (failureOf(error)._tag !== 'NotLoggedIn') throw error;
          } finally {
            end();
          }
        },
      };
      return session;
    },
  };
};
