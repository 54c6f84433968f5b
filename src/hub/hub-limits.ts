/**
 * What one user may consume of a hub, and the sliding windows that count rates. The hub decides every
 * limit, so memory, HTTP and WebSocket clients meet the same ones with the same codes. Defaults follow
 * Agora RTM 1.x where it has a number (messages, logins, channels); the rest are sized for a server
 * shared by many users (`docs/contract.md` lists them all). The hub counts rates through {@link Rates},
 * so hubs sharing one (over Redis) count a user's events across the cluster (decision 92).
 * @module
 */

/**
 * A rate: at most `limit` events in any window of `windowMs`. `limit: Infinity` turns it off (a benchmark
 * of raw speed); a finite limit is at most 100,000, as each active user holds a time per allowed event.
 */
export interface Rate {
  readonly limit: number;
  readonly windowMs: number;
}

/** The per-user limits of a hub. */
export interface HubLimits {
  /** Uploads created and not complete, per user; the next is refused with upload code 5 (HTTP 429). Default: 20. */
  readonly unfinishedUploads: number;
  /**
   * Bytes per user: complete media within retention plus the declared sizes of unfinished uploads; an
   * upload that would pass it is refused with upload code 4. Default: 2 GiB.
   */
  readonly storedBytes: number;
  /**
   * Free space the store's disk keeps: an upload whose declared size (with the unfinished uploads of
   * everyone) would eat into it is refused with upload code 1 (HTTP 507). Stores that cannot tell their
   * free space (memory) skip it. Default: 1 GiB.
   */
  readonly diskReserve: number;
  /** Peer and channel messages per user (Agora: 180 per 3 s); over → peer code 5 / channel code 3. */
  readonly messageRate: Rate;
  /** Logins per user (Agora: 2 per second); over → login code 10. */
  readonly loginRate: Rate;
  /** Channels a session is in at once (Agora: 20); the next join → join code 5. */
  readonly channels: number;
  /** Joins per user (Agora: 50 per 3 s); over → join code 7. */
  readonly joinRate: Rate;
  /**
   * Offline messages of one sender the server keeps at once, across every receiver; the next offline
   * send to an offline peer is refused with peer code 5 until some are delivered, replaced or expired.
   * It bounds what one user can make the server hold. Default: 1,000.
   */
  readonly offlineMessages: number;
  /** Online-status queries per user (Agora: 10 per 5 s); over → query code 5. */
  readonly presenceQueryRate: Rate;
  /** Online-status subscribes and unsubscribes per user (Agora: 10 per 5 s); over → subscription code 5. */
  readonly presenceSubscribeRate: Rate;
  /** Channel member-count queries per user (Agora: 1 per second); over → member-count code 3. */
  readonly memberCountRate: Rate;
}

/** The default limits. */
export const DEFAULT_HUB_LIMITS: HubLimits = Object.freeze({
  unfinishedUploads: 20,
  storedBytes: 2 * 1024 ** 3,
  diskReserve: 1024 ** 3,
  messageRate: { limit: 180, windowMs: 3_000 },
  loginRate: { limit: 2, windowMs: 1_000 },
  channels: 20,
  joinRate: { limit: 50, windowMs: 3_000 },
  offlineMessages: 1_000,
  presenceQueryRate: { limit: 10, windowMs: 5_000 },
  presenceSubscribeRate: { limit: 10, windowMs: 5_000 },
  memberCountRate: { limit: 1, windowMs: 1_000 },
});

const isCount = (n: unknown): n is number => typeof n === 'number' && Number.isSafeInteger(n) && n >= 0;
/** The most events a finite rate may allow: each active key holds one number per allowed event. */
const MAX_RATE_LIMIT = 100_000;
const isRate = (r: unknown): r is Rate =>
  typeof r === 'object' &&
  r !== null &&
  ((isCount((r as Rate).limit) && (r as Rate).limit >= 1 && (r as Rate).limit <= MAX_RATE_LIMIT) || (r as Rate).limit === Infinity) &&
  isCount((r as Rate).windowMs) &&
  (r as Rate).windowMs >= 1;

/**
 * The limits with `given` over the defaults, checked.
 * @throws {RangeError} naming the first limit out of range.
 */
export const resolveHubLimits = (given: Partial<HubLimits> = {}): HubLimits => {
  const limits = { ...DEFAULT_HUB_LIMITS, ...given };
  for (const name of ['unfinishedUploads', 'storedBytes', 'diskReserve', 'channels', 'offlineMessages'] as const) {
    if (!isCount(limits[name])) throw new RangeError(`limits.${name} must be a non-negative integer, got ${String(limits[name])}`);
  }
  for (const name of ['messageRate', 'loginRate', 'joinRate', 'presenceQueryRate', 'presenceSubscribeRate', 'memberCountRate'] as const) {
    if (!isRate(limits[name])) throw new RangeError(`limits.${name} must be { limit: 1 to ${MAX_RATE_LIMIT} or Infinity, windowMs: integer ≥ 1 }`);
  }
  return limits;
};

/**
 * The times of the last `limit` events of one key, in a ring: at most `limit` events in any window
 * `(now - windowMs, now]`. Exact (a fixed window would let twice the limit through across its edge) and
 * bounded (`limit` numbers per key).
 */
export class SlidingWindow {
  private readonly times: Float64Array;
  private start = 0;
  private count = 0;

  constructor(private readonly rate: Rate) {
    this.times = new Float64Array(rate.limit);
  }

  /** Counts an event at `now` and answers 0, or counts nothing and answers the ms until one is allowed. */
  take(now: number): number {
    const { limit, windowMs } = this.rate;
    while (this.count > 0 && (this.times[this.start] as number) <= now - windowMs) {
      this.start = (this.start + 1) % limit;
      this.count--;
    }
    if (this.count < limit) {
      this.times[(this.start + this.count) % limit] = now;
      this.count++;
      return 0;
    }
    return Math.max(1, (this.times[this.start] as number) + windowMs - now);
  }

  /** Whether every event counted has left the window at `now` (the key can be forgotten). */
  idle(now: number): boolean {
    return this.count === 0 || (this.times[(this.start + this.count - 1) % this.rate.limit] as number) <= now - this.rate.windowMs;
  }
}

/**
 * One sliding window per key (user ID). Keys whose events all left the window are forgotten now and
 * then, so the map holds only users active within the last window.
 */
export class RateLimiter {
  private readonly windows = new Map<string, SlidingWindow>();
  private takes = 0;
  private nextPrune = 1_024;

  constructor(readonly rate: Rate) {}

  /** Counts an event of `key` at `now`: 0 if allowed, else the ms to wait (nothing counted). */
  take(key: string, now: number): number {
    if (this.rate.limit === Infinity) return 0;
    // Amortized O(1): a prune visits every key, so the next one waits for as many takes as it kept.
    if (++this.takes >= this.nextPrune) this.prune(now);
    let window = this.windows.get(key);
    if (!window) {
      window = new SlidingWindow(this.rate);
      this.windows.set(key, window);
    }
    return window.take(now);
  }

  /** How many keys are remembered (for specs of the bound). */
  get size(): number {
    return this.windows.size;
  }

  private prune(now: number): void {
    this.takes = 0;
    for (const [key, window] of this.windows) if (window.idle(now)) this.windows.delete(key);
    this.nextPrune = Math.max(1_024, this.windows.size);
  }
}

/** The per-user rates the hub counts through {@link Rates}: the fields of {@link HubLimits} that are rates. */
export type RateName = 'messageRate' | 'loginRate' | 'joinRate' | 'presenceQueryRate' | 'presenceSubscribeRate' | 'memberCountRate';

/**
 * Where the hub counts rates per user. `take` counts one event or refuses it, in one atomic step, so
 * hubs sharing a `Rates` allow a user `rate.limit` events per window in total, not per hub. It may
 * reject (a shared counter's connection failed); the hub's call then rejects.
 */
export interface Rates {
  /**
   * Counts an event of `user` under `name` at `now` (the hub's clock) if fewer than `rate.limit` of
   * theirs fall in the window `(now - rate.windowMs, now]`, and resolves 0; otherwise counts nothing
   * and resolves the ms until one is allowed. A rate with `limit: Infinity` always resolves 0.
   */
  take(name: RateName, user: string, rate: Rate, now: number): Promise<number>;
}

/**
 * Rates counted in this process: a {@link RateLimiter} per name and rate, exact and bounded. The
 * default of `createHub`; hubs of one process may share one.
 * @example const rates = memoryRates(); createHub({ rates }); createHub({ rates });
 */
export const memoryRates = (): Rates => {
  const limiters = new Map<string, RateLimiter>();
  return {
    async take(name, user, rate, now) {
      // Keyed by the rate too: hubs sharing this object with other limits each keep their own windows.
      const key = `${name} ${rate.limit} ${rate.windowMs}`;
      let limiter = limiters.get(key);
      if (!limiter) {
        limiter = new RateLimiter(rate);
        limiters.set(key, limiter);
      }
      return limiter.take(user, now);
    },
  };
};
