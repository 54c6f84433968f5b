/**
 * The part of the standard `WebSocket` ferry uses: the global one in browsers, `ws`'s on Node
 * (`node-websocket.ts`). A type only, so both the transport and the Node default can name it.
 * @module
 */

/**
 * The part of the standard `WebSocket` the transport uses. Handlers take `never` so that both the DOM's
 * `WebSocket` and `ws`'s (whose event types differ) fit; the link types the events it reads itself.
 */
export interface WebSocketLike {
  binaryType: string;
  readonly readyState: number;
  readonly bufferedAmount: number;
  onopen: ((event: never) => void) | null;
  onmessage: ((event: never) => void) | null;
  onclose: ((event: never) => void) | null;
  onerror: ((event: never) => void) | null;
  send(data: string | Uint8Array<ArrayBuffer>): void;
  close(code?: number, reason?: string): void;
}

/** A standard `WebSocket` constructor: the global one in browsers, `ws`'s in Node. */
export type WebSocketConstructor = new (url: string) => WebSocketLike;
