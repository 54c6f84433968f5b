/**
 * The transport contract suite over the memory transport, with the hub keeping its bytes in the S3 store
 * on the specs' Ceph RGW (each fixture on a fresh key prefix, removed when it closes): every rule of the
 * contract holds with real S3 requests underneath, as `spec/server/file-store-contract.spec.ts` shows
 * for the file store. One difference: counting what is stored waits until the store's calls settle (see
 * `list` below), because a termination in the background takes real S3 requests.
 */
import type { S3Client } from '@aws-sdk/client-s3';
import { afterAll, beforeAll } from 'vitest';
import { s3Store } from '../../src/cluster/s3-store.js';
import { describeTransportContract } from '../contract/contract.js';
import { hubFixture } from '../contract/hub-fixture.js';
import { describeWithServices } from './services.js';
import { ensureTestBucket, freshPrefix, rawClient, removeUnder } from './s3-support.js';

describeWithServices('the S3 store under the transport contract', ['s3'], ({ s3 }) => {
  let raw: S3Client;
  beforeAll(async () => {
    raw = rawClient(s3);
    await ensureTestBucket(raw, s3.bucket);
  });
  afterAll(() => raw.destroy());

  describeTransportContract('memory over the S3 store', () =>
    hubFixture({
      store: async (clock) => {
        const prefix = freshPrefix();
        const store = s3Store({ ...s3, prefix, now: () => clock.now() });
        const inFlight = new Set<Promise<unknown>>();
        const tracked = <T>(call: Promise<T>): Promise<T> => {
          inFlight.add(call);
          const done = () => inFlight.delete(call);
          call.then(done, done);
          return call;
        };
        return {
          ...store,
          create: (meta, at) => tracked(store.create(meta, at)),
          stat: (mediaId) => tracked(store.stat(mediaId)),
          delete: (mediaId) => tracked(store.delete(mediaId)),
          // The suite counts what is stored a few event-loop turns after a cancellation; an upload cancelled
          // while its creation was in flight is terminated in the background once the creation answers
          // (decision 78), which takes S3 requests, not turns: the count waits until the store is idle.
          async *list() {
            while (inFlight.size > 0) {
              await Promise.allSettled([...inFlight]);
              for (let i = 0; i < 5; i++) await new Promise((resolve) => setImmediate(resolve));
            }
            yield* store.list();
          },
          async close() {
            await store.close();
            await removeUnder(raw, s3.bucket, prefix);
          },
        };
      },
      // Moving the clock may start a sweep: S3 requests take more than a few event-loop turns.
      settle: async () => {
        for (let i = 0; i < 5; i++) await new Promise((resolve) => setImmediate(resolve));
        await new Promise((resolve) => setTimeout(resolve, 50));
      },
    }),
  );
});
