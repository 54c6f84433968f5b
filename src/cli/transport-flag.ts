/**
 * The one place the CLI chooses its transport (`--transport http|ws`). Both take the server's base URL,
 * the one `ferry serve` prints; the WebSocket endpoint is derived from it (`/v1/ws`, as `server.wsUrl`).
 * @module
 */
import { httpTransport } from '../../transports/http.js';
import type { Transport } from '../../transports/transport.js';
import { wsTransport } from '../../transports/ws.js';
import { UsageError } from './exit.js';
import { wsUrlOfBase } from '../protocol/http-wire.js';

/** The transports the CLI can name. */
export const TRANSPORTS = ['http', 'ws'] as const;

/** One of {@link TRANSPORTS}. */
export type TransportKind = (typeof TRANSPORTS)[number];

/**
 * The WebSocket URL of the server at `serverUrl`: `http://h:p/base` → `ws://h:p/base/v1/ws` (`https` →
 * `wss`), as `httpTransport` puts `/v1/…` after the base; a `ws:`/`wss:` URL is taken as the endpoint itself.
 * @throws {UsageError} when `serverUrl` is not an http(s) or ws(s) URL.
 * @example wsUrlOf('http://127.0.0.1:8080') // 'ws://127.0.0.1:8080/v1/ws'
 */
export const wsUrlOf = (serverUrl: string): string => {
  const url = URL.canParse(serverUrl) ? new URL(serverUrl) : undefined;
  if (url && (url.protocol === 'ws:' || url.protocol === 'wss:')) return url.href;
  const ws = wsUrlOfBase(serverUrl);
  if (ws === undefined) throw new UsageError(`--server ${JSON.stringify(serverUrl)}: expected a URL such as http://127.0.0.1:8080`);
  return ws;
};

/** The transport to the server at `serverUrl` (`http://host:port`, the URL `ferry serve` prints). */
export const transportFor = (kind: TransportKind, serverUrl: string): Transport => {
  switch (kind) {
    case 'http':
      return httpTransport({ url: serverUrl });
    case 'ws':
      return wsTransport({ url: wsUrlOf(serverUrl) });
  }
};
