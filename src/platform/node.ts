/**
 * Every Node-only default of the engine, behind one module: `defaults.ts` imports it on demand and only
 * on Node, so browser builds stub this one file (the package's `browser` field, the dev bundler) and
 * never follow what it imports. The WebSocket constructor is one more hop away, so a client that uses
 * HTTP never loads `ws`.
 * @module
 */
import type { WebSocketConstructor } from './websocket.js';

export { nodeSha256 } from './node-hash.js';
export { nodeFiles } from './node-files.js';
export { nodeFetch } from './node-fetch.js';
export { directGet } from './node-direct-get.js';

/** `ws`'s client as the standard constructor, loaded on first use. */
export const loadNodeWebSocket = (): Promise<WebSocketConstructor> => import('./node-websocket.js').then((module) => module.NodeWebSocket);
