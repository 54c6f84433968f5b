/**
 * The platform's defaults for the effects the engine injects (SHA-256, file access, `fetch`, the direct
 * `GET`, the WebSocket constructor), each wired here once. "Are we on Node?" is asked here alone; the
 * Node implementations sit behind `node.ts`, loaded on first use and never in browsers.
 * @module
 */
import type { FileAccess } from '../core/files.js';
import { type CreateHasher, nobleSha256 } from '../core/hash.js';
import type { WebSocketConstructor } from './websocket.js';

/** Whether this runtime is Node (or one that says it is). */
export const onNode: boolean = typeof (globalThis as { process?: { versions?: { node?: string } } }).process?.versions?.node === 'string';

/** `directGet` of `node-direct-get.ts`, by type only (no static import: that module is Node-only). */
export type DirectGet = typeof import('./node-direct-get.js').directGet;

let nodeModule: Promise<typeof import('./node.js')> | undefined;
const node = (): Promise<typeof import('./node.js')> => (nodeModule ??= import('./node.js'));
let nodeWebSocket: Promise<WebSocketConstructor> | undefined;

/** The fastest SHA-256 this platform has: `node:crypto` on Node, `@noble/hashes` elsewhere. */
export const platformHasher = (): Promise<CreateHasher> => (onNode ? node().then((module) => module.nodeSha256) : Promise.resolve(nobleSha256));

/** File access for paths: Node's file system (there is none elsewhere; a browser passes `files` or uses bytes). */
export const platformFiles = (): Promise<FileAccess> => node().then((module) => module.nodeFiles);

/** The default `fetch`: the `node:http` one on Node, the global one elsewhere. */
export const platformFetch = (): Promise<typeof globalThis.fetch> =>
  onNode ? node().then((module) => module.nodeFetch as typeof globalThis.fetch) : Promise.resolve(globalThis.fetch.bind(globalThis));

/** The direct `GET` for large downloads on Node; none elsewhere. */
export const platformDirectGet = (): Promise<DirectGet | undefined> => (onNode ? node().then((module) => module.directGet) : Promise.resolve(undefined));

/** The default WebSocket constructor: the global one in browsers, `ws`'s on Node (20 has no stable global one). */
export const platformWebSocket = (): Promise<WebSocketConstructor> => {
  const global = (globalThis as { WebSocket?: WebSocketConstructor }).WebSocket;
  if (!onNode && global) return Promise.resolve(global);
  nodeWebSocket ??= node().then((module) => module.loadNodeWebSocket());
  return nodeWebSocket;
};
