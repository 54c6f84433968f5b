/**
 * The `ws` package's WebSocket, the WebSocket transport's default on Node (20 has no stable global one).
 * Loaded on demand by `ws.ts`, never in browsers, so `ferry/ws` imports nothing Node-only statically.
 * @module
 */
import { WebSocket } from 'ws';
import type { WebSocketConstructor } from './ws-link.js';

/** `ws`'s client, typed as the standard API the transport uses. */
export const NodeWebSocket = WebSocket as unknown as WebSocketConstructor;
