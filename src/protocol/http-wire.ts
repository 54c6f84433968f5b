/**
 * What the HTTP client and server share of their wire (`docs/protocol-http.md`): the paths under a
 * server's base URL, ferry's own header names, and the tus constants. Each is written here once.
 * @module
 */

/** The paths of a ferry server, under its base URL. */
export const HTTP_PATHS = {
  /** Messaging sessions: `POST` logs in; `/:id/events` streams; `/:id/…` calls. */
  sessions: '/v1/sessions',
  /** The tus 1.0.0 creation endpoint; `/:uploadId` is an upload. */
  uploads: '/v1/uploads',
  /** Downloads: `GET`/`HEAD` `/:mediaId`, with `Range`. */
  media: '/v1/media',
  /** The WebSocket endpoint (`docs/protocol-ws.md`). */
  ws: '/v1/ws',
} as const;

/** The header naming the messaging session a media request belongs to. */
export const SESSION_HEADER = 'Ferry-Session';

/** The header carrying a failure as percent-encoded JSON where a response has no body (`HEAD`). */
export const FAILURE_HEADER = 'Ferry-Failure';

/** The tus protocol version ferry speaks. */
export const TUS_VERSION = '1.0.0';

/** The `Tus-Resumable` header every tus request and answer carries. */
export const TUS_RESUMABLE = { 'Tus-Resumable': TUS_VERSION } as const;

/** The content type of a tus `PATCH` body. */
export const OFFSET_STREAM = 'application/offset+octet-stream';

/**
 * The WebSocket URL of the server whose base URL is `httpUrl`: `http://h:p/base` → `ws://h:p/base/v1/ws`
 * (`https` → `wss`). `undefined` unless `httpUrl` is an http(s) URL.
 * @example wsUrlOfBase('http://127.0.0.1:8080') // 'ws://127.0.0.1:8080/v1/ws'
 */
export const wsUrlOfBase = (httpUrl: string): string | undefined => {
  const url = URL.canParse(httpUrl) ? new URL(httpUrl) : undefined;
  if (!url || (url.protocol !== 'http:' && url.protocol !== 'https:')) return undefined;
  url.protocol = url.protocol === 'https:' ? 'wss:' : 'ws:';
  url.pathname = `${url.pathname.replace(/\/+$/, '')}${HTTP_PATHS.ws}`;
  return url.href;
};

/**
 * The messaging routes of issue 15 under a session (`/v1/sessions/:id/…`), each a `POST` with a JSON
 * body (`docs/protocol-http.md`, decision 103).
 */
export const MESSAGING_PATHS = {
  /** `{"channelIds": […]}` → `{"counts": {…}}`. */
  memberCounts: 'channel-member-counts',
  /** `{"peerIds": […]}` → `{"peers": {…}}`; `/subscribe` and `/unsubscribe` under it → 204. */
  presence: 'presence',
  subscribe: 'subscribe',
  unsubscribe: 'unsubscribe',
} as const;

/**
 * The query parameters of a peer or channel send: `messageId` (the send's ID) and, for a peer,
 * `enableOfflineMessaging=true|false`. Query parameters rather than body fields, so the body stays
 * the wire message and a server that predates them still takes the send (decision 103).
 */
export const SEND_QUERY = { messageId: 'messageId', enableOfflineMessaging: 'enableOfflineMessaging' } as const;
