/**
 * The limits of a server: the hub's (what one user may consume, `hub/limits.ts`) and those of its own
 * buffers and sockets. Every buffer a client can make the server hold is bounded by one of these.
 * @module
 */
import { DEFAULT_HUB_LIMITS, type HubLimits, resolveHubLimits } from '../hub/hub-limits.js';

/** The limits of `startServer`: the hub's and the server's own. */
export interface ServerLimits extends HubLimits {
  /**
   * Sessions kept per user and transport, the live one and those kicked or dropped waiting out their
   * grace; the oldest beyond it is forgotten. Default: 4.
   */
  readonly sessionsPerUser: number;
  /** Recent events kept per session for resumption, in bytes (and at most 1,000 events). Default: 1 MiB. */
  readonly replayBytes: number;
  /**
   * Open TCP connections per client address; more are closed at once. Behind a proxy every client has
   * the proxy's address: raise it there, or 0 turns it off. Default: 512.
   */
  readonly connectionsPerAddress: number;
  /**
   * Unsent bytes of a WebSocket beyond which its slow reader is cut (close 4002). Event streams hold at most
   * 64 KiB unsent and cut a reader that falls behind the replay instead. Default: 8 MiB.
   */
  readonly slowReaderBytes: number;
  /**
   * WebSocket uploads and downloads running at once per user, over all their sockets (a client runs at
   * most 9); the next is refused with upload or download code 5. Default: 32.
   */
  readonly transfersPerUser: number;
}

/** The default limits of a server. */
export const DEFAULT_SERVER_LIMITS: ServerLimits = Object.freeze({
  ...DEFAULT_HUB_LIMITS,
  sessionsPerUser: 4,
  replayBytes: 1024 * 1024,
  connectionsPerAddress: 512,
  slowReaderBytes: 8 * 1024 * 1024,
  transfersPerUser: 32,
});

/**
 * The limits with `given` over the defaults, checked.
 * @throws {RangeError} naming the first limit out of range.
 */
export const resolveServerLimits = (given: Partial<ServerLimits> = {}): ServerLimits => {
  const limits = { ...DEFAULT_SERVER_LIMITS, ...resolveHubLimits(given), ...given };
  for (const name of ['sessionsPerUser', 'replayBytes', 'slowReaderBytes', 'transfersPerUser'] as const) {
    if (!(Number.isSafeInteger(limits[name]) && limits[name] >= 1)) throw new RangeError(`limits.${name} must be a positive integer, got ${String(limits[name])}`);
  }
  if (!(Number.isSafeInteger(limits.connectionsPerAddress) && limits.connectionsPerAddress >= 0)) {
    throw new RangeError(`limits.connectionsPerAddress must be a non-negative integer, got ${String(limits.connectionsPerAddress)}`);
  }
  return limits;
};
