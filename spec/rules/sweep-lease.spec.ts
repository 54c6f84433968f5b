/**
 * The sweep lease in one process: the cases of `sweep-lease-cases.ts` on `memoryLease` (only the holder
 * sweeps; the lease passes after a crash once its TTL ran out, at once after a close), and `soleLease`,
 * the default. `spec/cluster/redis-lease.spec.ts` runs the same cases on Redis.
 */
import { describe, expect, it } from 'vitest';
import { memoryLease, soleLease } from '../../src/index.js';
import { sweepLeaseCases } from './sweep-lease-cases.js';

describe('the sweep lease', () => {
  describe('memoryLease', () => {
    sweepLeaseCases((clock) => {
      const lease = memoryLease({ clock });
      return [lease, lease];
    });
  });

  it('soleLease, the default, is always held', async () => {
    expect(await soleLease.acquire('anyone', 1)).toBe(true);
    expect(await soleLease.acquire('anyone else', 1)).toBe(true);
  });
});
