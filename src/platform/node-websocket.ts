/**
 * The `ws` package's WebSocket, the WebSocket transport's default on Node (20 has no stable global one).
 * Loaded on demand through `node.ts`, never in browsers, so `ferry/ws` imports nothing Node-only statically.
 * @module
 */
import { WebSocket } from 'ws';
import type { WebSocketConstructor } from './websocket.js';

/**
 * `ws`'s client without `permessage-deflate`, which it offers by default: media does not compress, and a
 * compressed send is asynchronous, so it would keep a reference to a frame buffer the upload reuses
 * (`ws.send` copies synchronously only when it masks without compressing, as browsers always copy).
 */
class UncompressedWebSocket extends WebSocket {
  constructor(url: string | URL, protocols?: string | string[]) {
    super(url, protocols, { perMessageDeflate: false });
  }
}

/** `ws`'s client, typed as the standard API the transport uses. */
export const NodeWebSocket = UncompressedWebSocket as unknown as WebSocketConstructor;
