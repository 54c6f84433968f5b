/**
 * The worker-thread SHA-256 (`workerSha256`) that verifies large downloads on Node: the same digest as
 * `node:crypto` on the calling thread for any bytes in any chunking, even when the caller reuses its
 * buffer right after `update`; hashes running at once stay apart; misuse is refused.
 */
import { createHash } from 'node:crypto';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { loadPlatformHasher } from '../src/hash.js';
import { nodeSha256, workerSha256 } from '../src/node-hash.js';
import { fcOptions } from './properties/support.js';

const hex = (bytes: Uint8Array): string => createHash('sha256').update(bytes).digest('hex');

/** `bytes` cut at `cuts` (positions, any order, duplicates allowed). */
const pieces = (bytes: Uint8Array, cuts: number[]): Uint8Array[] => {
  const at = [0, ...cuts.map((c) => c % (bytes.length + 1)).sort((a, b) => a - b), bytes.length];
  return at.slice(1).map((end, i) => bytes.subarray(at[i], end));
};

describe('workerSha256', () => {
  it('gives the digest of node:crypto for any bytes in any chunking, from a reused buffer', async () => {
    await fc.assert(
      fc.asyncProperty(fc.uint8Array({ maxLength: 4096 }), fc.array(fc.nat(), { maxLength: 8 }), async (bytes, cuts) => {
        const hasher = workerSha256();
        const buffer = new Uint8Array(4096);
        for (const piece of pieces(bytes, cuts)) {
          buffer.set(piece);
          hasher.update(buffer.subarray(0, piece.length));
          buffer.fill(0xee); // what a source that reuses its buffer does next
        }
        expect(await hasher.digest()).toBe(hex(bytes));
      }),
      fcOptions(200),
    );
  });

  it('keeps hashes that run at once apart', async () => {
    const inputs = [new Uint8Array(3 << 20).fill(1), new Uint8Array(5).fill(2), new Uint8Array(0)];
    const hashers = inputs.map(() => workerSha256());
    for (let at = 0; at < 3 << 20; at += 65536) {
      inputs.forEach((input, i) => {
        if (at < input.length) hashers[i]!.update(input.subarray(at, at + 65536));
      });
    }
    expect(await Promise.all(hashers.map((h) => h.digest()))).toEqual(inputs.map(hex));
  });

  it('refuses use after digest or dispose', async () => {
    const done = workerSha256();
    await done.digest();
    expect(() => done.update(new Uint8Array(1))).toThrow(/after digest or dispose/);
    await expect(done.digest()).rejects.toThrow(/after digest or dispose/);
    const dropped = workerSha256();
    dropped.update(new Uint8Array(10));
    dropped.dispose();
    dropped.dispose();
    await expect(dropped.digest()).rejects.toThrow(/after digest or dispose/);
  });

  it('is the platform default on Node from 1 MiB, node:crypto on the calling thread below', async () => {
    const create = await loadPlatformHasher();
    const small = create(1024 * 1024 - 1);
    const large = create(1024 * 1024);
    expect(small.digest()).toBe(nodeSha256().digest());
    expect(large).toHaveProperty('dispose');
    await expect(large.digest()).resolves.toBe(nodeSha256().digest());
  });
});
