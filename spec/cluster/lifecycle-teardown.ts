/**
 * Global setup of the cluster specs (`vitest.config.ts`): when the run ends, the S3 lifecycle rules its
 * stores put are given back. Every test uses fresh store prefixes, a store puts five rules per prefix and
 * S3 allows 1,000 per bucket, so a test RGW kept running between runs (`scripts/services.sh start`) refused
 * every node's rules ("MalformedXML") from the third run of the cluster specs on. Done once at the end, not
 * per test: no rule write runs while a test does.
 */
import { removeLifecycleRules } from '../../src/cluster/s3-bucket.js';
import { rawClient } from './s3-support.js';
import { services } from './services.js';

/** The key prefixes of the cluster specs' stores (`cluster-fixture.ts`, `processes.ts`, `alone.spec.ts`, `s3-support.ts`). */
const TEST_PREFIXES = ['contract-', 'cluster-', 'alone-', 'ferry-test:'] as const;

/** Removes the rules of the specs' prefixes from the test bucket, if there is an S3 store to clean. */
export async function teardown(): Promise<void> {
  const { s3 } = services();
  if (!s3) return;
  const client = rawClient(s3);
  try {
    let removed = 0;
    for (const prefix of TEST_PREFIXES) removed += await removeLifecycleRules(client, s3.bucket, prefix);
    console.log(`spec/cluster: removed ${removed} lifecycle rules of the specs' prefixes from ${s3.bucket}`);
  } catch (error) {
    // A cleanup: what it cannot remove now, a later run removes.
    console.log(`spec/cluster: removing the specs' lifecycle rules failed: ${String(error)}`);
  } finally {
    client.destroy();
  }
}
