/**
 * Who runs the background sweeps (retention, stale uploads) when several hubs share one store: the hub
 * holding the lease. A hub asks for the lease at each sweep tick, which also renews it, for a TTL longer
 * than one interval; a holder that stops asking (closed, crashed) loses it when the TTL runs out, and
 * another hub takes it at its next tick. `redisLease` (`src/cluster/redis-lease.ts`) keeps the holder
 * and its end on the hubs' clock in one hash, taken, renewed and released by Lua scripts that compare
 * the holder. Decisions 86, 91.
 * @module
 */
import { type Clock, systemClock } from '../core/clock.js';

/** The sweep lease. Every method may reject (the hub then skips that sweep and reports the failure). */
export interface SweepLease {
  /**
   * Takes the lease for `holder`, or renews it if `holder` has it, for `ttlMs` from now. Resolves with
   * whether `holder` holds it.
   */
  acquire(holder: string, ttlMs: number): Promise<boolean>;
  /** Gives the lease up if `holder` has it, so another hub need not wait out the TTL. */
  release(holder: string): Promise<void>;
}

/**
 * The lease of a hub that sweeps alone: always held. The default of `createHub`, since one process
 * with its own store has nobody to share the sweeps with.
 * @example createHub({ lease: soleLease })
 */
export const soleLease: SweepLease = {
  acquire: async () => true,
  release: async () => undefined,
};

/** Options of {@link memoryLease}. */
export interface MemoryLeaseOptions {
  /** Time source of the TTL; give the hubs' clock. Default: the system clock. @example { clock: virtualClock() } */
  readonly clock?: Clock;
}

/**
 * A lease shared by the hubs of one process, with the TTL semantics of a Redis lease: held by one
 * holder until its TTL runs out without renewal.
 * @example const lease = memoryLease({ clock }); createHub({ clock, lease }); createHub({ clock, lease });
 */
export const memoryLease = (options: MemoryLeaseOptions = {}): SweepLease => {
  const clock = options.clock ?? systemClock;
  let held: { readonly holder: string; readonly until: number } | undefined;
  return {
    async acquire(holder, ttlMs) {
      const now = clock.now();
      if (held && held.holder !== holder && held.until > now) return false;
      held = { holder, until: now + ttlMs };
      return true;
    },
    async release(holder) {
      if (held?.holder === holder) held = undefined;
    },
  };
};
