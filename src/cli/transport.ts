/**
 * The one place the CLI chooses its transport (`--transport http|ws`).
 *
 * State: `transports/ws.ts` is not in this tree yet, so `ws` is refused with a usage error (exit 2)
 * rather than imported: a static import of a missing module would break `tsc`. When it lands, this
 * file imports `wsTransport` statically and maps the server URL to its WebSocket endpoint.
 * @module
 */
import { httpTransport } from '../../transports/http.js';
import type { Transport } from '../../transports/transport.js';
import { UsageError } from './exit.js';

/** The transports the CLI can name. */
export const TRANSPORTS = ['http', 'ws'] as const;

/** One of {@link TRANSPORTS}. */
export type TransportKind = (typeof TRANSPORTS)[number];

/**
 * The transport to the server at `serverUrl` (`http://host:port`, the URL `ferry serve` prints).
 * @throws {UsageError} for `ws` while the WebSocket transport is not built in.
 */
export const transportFor = (kind: TransportKind, serverUrl: string): Transport => {
  switch (kind) {
    case 'http':
      return httpTransport({ url: serverUrl });
    case 'ws':
      throw new UsageError('--transport ws: the WebSocket transport is not part of this version yet; use --transport http');
  }
};
