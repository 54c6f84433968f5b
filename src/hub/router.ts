/**
 * The router's event types, now defined by the message bus (`message-bus.ts`, which replaced the router).
 * Kept only so that modules importing `HubEvent` from here (the server's sessions, the memory transport,
 * rewritten on other branches) keep compiling until they import from `message-bus.ts`; then delete it.
 * @module
 */
export type { HubAbortCause, HubEvent } from './message-bus.js';
