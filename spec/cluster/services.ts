/**
 * Where the specs find Redis and the S3 store (Ceph RGW): the environment `scripts/services.sh start`
 * prints, which `.ci/run` exports. Without it a spec that needs them is skipped with a printed reason,
 * except under CI (`CI=true`), where it fails: CI must not pass without running them.
 */
import { describe, it } from 'vitest';

/** The S3 store's address and credentials, as `startServer({ s3 })` takes them. */
export interface S3Service {
  readonly endpoint: string;
  readonly bucket: string;
  readonly region: string;
  readonly accessKeyId: string;
  readonly secretAccessKey: string;
  readonly forcePathStyle: true;
}

/** The services this machine offers the specs. */
export interface Services {
  readonly redisUrl?: string;
  readonly s3?: S3Service;
  /** The folder `scripts/services.sh` keeps their state and pid files in. */
  readonly dir?: string;
}

const env = process.env;

/** What the environment says is running. */
export const services = (): Services => {
  const { FERRY_TEST_REDIS_URL: redisUrl, FERRY_TEST_S3_ENDPOINT: endpoint, FERRY_TEST_S3_BUCKET: bucket } = env;
  const { FERRY_TEST_S3_ACCESS_KEY_ID: accessKeyId, FERRY_TEST_S3_SECRET_ACCESS_KEY: secretAccessKey } = env;
  return {
    ...(redisUrl ? { redisUrl } : {}),
    ...(endpoint && bucket && accessKeyId && secretAccessKey
      ? { s3: { endpoint, bucket, region: 'us-east-1', accessKeyId, secretAccessKey, forcePathStyle: true as const } }
      : {}),
    ...(env.FERRY_TEST_SERVICES_DIR ? { dir: env.FERRY_TEST_SERVICES_DIR } : {}),
  };
};

const NAMES = { redis: 'Redis (FERRY_TEST_REDIS_URL)', s3: 'an S3 store (FERRY_TEST_S3_*)' } as const;

/**
 * `describe(name, body)` when every service in `needs` is there. Otherwise: under CI one failing test
 * saying what is missing; elsewhere the block is skipped and the reason printed.
 * @example describeWithServices('redis upload states', ['redis'], ({ redisUrl }) => { … })
 */
export const describeWithServices = (
  name: string,
  needs: readonly ('redis' | 's3')[],
  body: (found: Required<Pick<Services, 'redisUrl' | 's3'>>) => void,
): void => {
  const found = services();
  const missing = needs.filter((need) => (need === 'redis' ? !found.redisUrl : !found.s3));
  if (missing.length === 0) {
    describe(name, () => body(found as Required<Pick<Services, 'redisUrl' | 's3'>>));
    return;
  }
  const reason = `needs ${missing.map((need) => NAMES[need]).join(' and ')}: run \`eval "$(scripts/services.sh start)"\` first`;
  if (env.CI === 'true') {
    describe(name, () => {
      it(`runs (CI must run it): ${reason}`, () => {
        throw new Error(`${name} did not run under CI: ${reason}`);
      });
    });
    return;
  }
  console.warn(`skipped "${name}": ${reason}`);
  describe.skip(name, () => {
    it(reason, () => undefined);
  });
};
