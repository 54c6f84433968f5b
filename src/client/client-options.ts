/**
 * The options of `createClient`, each with prose, a default and an example, and their validation.
 * @module
 */
import type { Transport } from '../../transports/transport.js';
import type { Clock } from '../core/clock.js';
import { Failure } from '../core/failure.js';
import type { FileAccess } from '../core/files.js';
import type { CreateHasher } from '../core/hash.js';
import { MAX_CONCURRENT_TRANSFERS, MAX_TIMER_MS } from '../core/limits.js';

/** Options of `createClient`. */
export interface ClientOptions {
  /** How to reach the hub. Required. @example memoryTransport(hub), httpTransport({ url }) */
  readonly transport: Transport;
  /** Transfers (uploads and downloads together) running at once, 1 to 9. Default: 9. @example { maxConcurrentTransfers: 3 } */
  readonly maxConcurrentTransfers?: number;
  /**
   * What happens to a transfer when all slots are busy: `'queue'` waits in FIFO order, `'reject'` fails
   * it at once with code 5 (CONCURRENCY_LIMIT_EXCEEDED, as Agora RTM did). Default: `'queue'`.
   * @example { overflow: 'reject' }
   */
  readonly overflow?: 'queue' | 'reject';
  /** A transfer that moves no byte for this long fails with code 3. Default: 120,000 ms. @example { idleTimeoutMs: 30_000 } */
  readonly idleTimeoutMs?: number;
  /** At most one progress event per task per interval (the final one always comes). Default: 100 ms. @example { progressIntervalMs: 250 } */
  readonly progressIntervalMs?: number;
  /** Time for idle timeouts, retries and throttling. Default: the system clock. @example { clock: virtualClock() } */
  readonly clock?: Clock;
  /** File access for paths. Default: Node's file system, loaded on first use. */
  readonly files?: FileAccess;
  /** SHA-256 for verifying downloads. Default: `node:crypto` on Node, `@noble/hashes` elsewhere. */
  readonly createHasher?: CreateHasher;
  /**
   * Delays before retries after transient failures (dropped links), in ms; the last one repeats until the
   * idle timeout ends the transfer. Default: [0, 1000, 3000, 5000]. @example { retryDelays: [0, 500, 2000] }
   */
  readonly retryDelays?: readonly number[];
  /**
   * A login, message, channel operation, logout or post-cancel cleanup without an answer for this long
   * fails with TIMEOUT (login code 9, peer and channel send code 2, SENT_TIMEOUT). Default: 10,000 ms.
   * @example { requestTimeoutMs: 5_000 }
   */
  readonly requestTimeoutMs?: number;
}

/** A positive delay a timer can take: longer ones would fire at once (Node and browsers clamp them). */
const positive = (value: unknown): boolean => typeof value === 'number' && value > 0 && value <= MAX_TIMER_MS;

/** The first bad option, naming it, or `undefined`. */
export const checkClientOptions = (options: unknown): Failure | undefined => {
  if (options === null || typeof options !== 'object') return Failure.invalidArgument('options', 'expected an object');
  const o = options as Partial<Record<keyof ClientOptions, unknown>>;
  const transport = o.transport as Partial<Transport> | undefined;
  if (!transport || typeof transport.connect !== 'function') return Failure.invalidArgument('transport', 'expected a transport');
  const max = o.maxConcurrentTransfers;
  if (max !== undefined && !(Number.isInteger(max) && (max as number) >= 1 && (max as number) <= MAX_CONCURRENT_TRANSFERS)) {
    return Failure.invalidArgument('maxConcurrentTransfers', `expected an integer from 1 to ${MAX_CONCURRENT_TRANSFERS}, got ${String(max)}`);
  }
  if (o.overflow !== undefined && o.overflow !== 'queue' && o.overflow !== 'reject') {
    return Failure.invalidArgument('overflow', `expected 'queue' or 'reject', got ${JSON.stringify(o.overflow)}`);
  }
  if (o.idleTimeoutMs !== undefined && !positive(o.idleTimeoutMs)) {
    return Failure.invalidArgument('idleTimeoutMs', `expected a positive number up to ${MAX_TIMER_MS}, got ${String(o.idleTimeoutMs)}`);
  }
  if (o.requestTimeoutMs !== undefined && !positive(o.requestTimeoutMs)) {
    return Failure.invalidArgument('requestTimeoutMs', `expected a positive number up to ${MAX_TIMER_MS}, got ${String(o.requestTimeoutMs)}`);
  }
  if (o.progressIntervalMs !== undefined && !(typeof o.progressIntervalMs === 'number' && o.progressIntervalMs >= 0)) {
    return Failure.invalidArgument('progressIntervalMs', `expected a number ≥ 0, got ${String(o.progressIntervalMs)}`);
  }
  const clock = o.clock as Partial<Clock> | undefined;
  if (clock !== undefined && !(clock && typeof clock.now === 'function' && typeof clock.setTimeout === 'function' && typeof clock.clearTimeout === 'function')) {
    return Failure.invalidArgument('clock', 'expected { now, setTimeout, clearTimeout }');
  }
  const files = o.files as Partial<FileAccess> | undefined;
  if (files !== undefined && !(files && typeof files.stat === 'function' && typeof files.read === 'function' && typeof files.createSink === 'function')) {
    return Failure.invalidArgument('files', 'expected { stat, read, createSink }');
  }
  if (o.createHasher !== undefined && typeof o.createHasher !== 'function') {
    return Failure.invalidArgument('createHasher', 'expected a function returning a hasher');
  }
  if (o.retryDelays !== undefined && !(Array.isArray(o.retryDelays) && o.retryDelays.length > 0 && o.retryDelays.every((d) => typeof d === 'number' && d >= 0 && d <= MAX_TIMER_MS))) {
    return Failure.invalidArgument('retryDelays', `expected a non-empty array of delays from 0 to ${MAX_TIMER_MS}`);
  }
  return undefined;
};
