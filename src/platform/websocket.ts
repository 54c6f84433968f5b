/**
 * The part of the standard `WebSocket` ferry uses: the global one in browsers, ferry's own on Node
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
  /**
   * Not standard, optional (the Node default has it, browsers do not): sends `data` as one binary
   * frame without copying it. The socket may change `data` (it masks in place) and keeps it until it
   * calls `sent`, once the bytes were handed to the operating system (or the socket failed); the caller
   * must not touch `data` before. Without it the link sends with `send`, which copies.
   */
  sendOwned?(data: Uint8Array<ArrayBuffer>, sent: () => void): void;
  /**
   * Not standard, optional (the Node default, `DirectWebSocket`, has it): the caller, and everyone it lent the
   * bytes to, is done with a binary message it received (or a view of one); the socket may receive a
   * later message into that memory. Without it, or never called, the bytes are garbage once dropped.
   */
  recycle?(data: Uint8Array): void;
}

/** A standard `WebSocket` constructor: the global one in browsers, `DirectWebSocket` on Node. */
export type WebSocketConstructor = new (url: string) => WebSocketLike;
