/**
 * Retry policy as pure data and functions: which failures are worth another attempt and how long to
 * wait before it. The transfer machine and the link machine ask; neither loops.
 * @module
 */
import { type Failure, isTransient } from '../src/core/failure.js';

/**
 * Delays before attempts 1, 2, 3, … after consecutive transient failures, in ms; past the end of the
 * table the last delay repeats. The one table of ferry: transfers retry by it (the count resets whenever
 * bytes move) and links reconnect by it (the count resets when the link is back). Retries never give up
 * by count: the idle watchdog ends a transfer whose link stays down, with TIMEOUT (3).
 */
export const DEFAULT_RETRY_DELAYS: readonly number[] = [0, 1_000, 3_000, 5_000];

/**
 * The longest wait a server's `Retry-After` (or a refusal's `retryAfterMs`) is honoured for, in ms: a
 * server asking for more is asked again after this, so a long request never starves the idle watchdog.
 */
export const MAX_RETRY_AFTER_MS = 10_000;

/** Whether to try again after the `attempt`-th consecutive failure (1-based): only transient failures. */
export const shouldRetry = (failure: Failure, attempt: number): boolean => isTransient(failure) && attempt >= 1;

/** How long to wait before retrying after the `attempt`-th consecutive failure. */
export const retryDelay = (attempt: number, delays: readonly number[] = DEFAULT_RETRY_DELAYS): number =>
  delays[Math.min(Math.max(attempt, 1), delays.length) - 1] ?? 0;

/**
 * The wait before the next attempt: what the server asked for (`retryAfterMs`, bounded by
 * {@link MAX_RETRY_AFTER_MS}) when it said, else the table's delay for the `attempt`-th failure.
 * @example nextDelay(2, [0, 1000]) // 1000; nextDelay(2, [0, 1000], 4000) // 4000
 */
export const nextDelay = (attempt: number, delays: readonly number[] = DEFAULT_RETRY_DELAYS, retryAfterMs?: number): number =>
  retryAfterMs === undefined || !(retryAfterMs >= 0) ? retryDelay(attempt, delays) : Math.min(retryAfterMs, MAX_RETRY_AFTER_MS);
