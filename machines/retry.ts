/**
 * Retry policy as pure data and functions: which failures are worth another attempt and how long to
 * wait before it. The transfer machine asks; it never loops.
 * @module
 */
import { type Failure, isTransient } from '../src/core/failure.js';

/**
 * Delays before attempts 1, 2, 3, … after consecutive transient failures, in ms; past the end of the
 * table the last delay repeats. The count resets whenever bytes move. Retries never give up by count:
 * the idle watchdog ends a transfer whose link stays down, with TIMEOUT (3).
 */
export const DEFAULT_RETRY_DELAYS: readonly number[] = [0, 1_000, 3_000, 5_000];

/** Whether to try again after the `attempt`-th consecutive failure (1-based): only transient failures. */
export const shouldRetry = (failure: Failure, attempt: number): boolean => isTransient(failure) && attempt >= 1;

/** How long to wait before retrying after the `attempt`-th consecutive failure. */
export const retryDelay = (attempt: number, delays: readonly number[] = DEFAULT_RETRY_DELAYS): number =>
  delays[Math.min(Math.max(attempt, 1), delays.length) - 1] ?? 0;
