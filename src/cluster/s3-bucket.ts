/**
 * The bucket of the S3 media store: created if missing, with the lifecycle rules that are the backstop
 * for anything the hub's sweeper missed (decision 89). The hub checks expiry on every read and sweeps;
 * the rules only ever remove what the hub no longer serves, a day or more after it stopped serving it.
 * @module
 */
import {
  CreateBucketCommand,
  DeleteBucketLifecycleCommand,
  GetBucketLifecycleConfigurationCommand,
  HeadBucketCommand,
  type LifecycleRule,
  PutBucketLifecycleConfigurationCommand,
  type S3Client,
} from '@aws-sdk/client-s3';
import { isNotFound } from './s3-faults.js';
import { keysOf } from './s3-records.js';

const DAY_MS = 24 * 60 * 60 * 1000;

/** Whole days strictly after `ms` has passed, at least one: a lifecycle rule never fires early. */
const daysAfter = (ms: number): number => Math.floor(ms / DAY_MS) + 1;

/**
 * The lifecycle rules of the store under `prefix`, each named `ferry <prefix> <what>` so that other rules
 * of the bucket (another prefix, another application) are kept when these are put:
 * - `media`: media and long names expire the day after the retention ran out (S3 counts from the copy
 *   that made the media visible, i.e. its completion, as the hub does), none if retention is infinite;
 * - `uploads`: records, tails and staging objects expire, and multipart uploads are aborted, the day
 *   after the unfinished-upload TTL ran out. A record and its tail are rewritten by every append, so an
 *   upload still in use is younger than that; a multipart upload counts from its first part, so an upload
 *   kept alive for longer than the TTL plus a day by appends at the TTL's edge loses its parts (the
 *   next append then fails with `NotExist` and the client starts over);
 * - `markers`: deletion markers and probe objects a crash left behind, after one day.
 * @example lifecycleRules('ferry/', 7 * 86_400_000, 86_400_000)
 */
export const lifecycleRules = (prefix: string, retentionMs: number, partialTtlMs: number): LifecycleRule[] => {
  const keys = keysOf(prefix);
  const id = (what: string) => `ferry ${prefix} ${what}`;
  const rule = (what: string, folder: string, days: number, abortUploads = false): LifecycleRule => ({
    ID: id(what),
    Status: 'Enabled',
    Filter: { Prefix: folder },
    Expiration: { Days: days },
    ...(abortUploads ? { AbortIncompleteMultipartUpload: { DaysAfterInitiation: days } } : {}),
  });
  return [
    ...(Number.isFinite(retentionMs)
      ? [rule('media', keys.mediaFolder, daysAfter(retentionMs)), rule('names', keys.name(''), daysAfter(retentionMs))]
      : []),
    rule('uploads', keys.uploadsFolder, daysAfter(partialTtlMs), true),
    rule('markers', keys.deleting(''), 1),
    rule('probes', keys.probe(''), 1),
  ];
};

/** The rules of `bucket`'s lifecycle configuration; none if it has none. */
const lifecycleRulesOf = (client: S3Client, bucket: string, options: { readonly abortSignal?: AbortSignal }): Promise<LifecycleRule[]> =>
  client.send(new GetBucketLifecycleConfigurationCommand({ Bucket: bucket }), options).then(
    (answer) => answer.Rules ?? [],
    (error: unknown) => {
      if (isNotFound(error)) return [];
      throw error;
    },
  );

/**
 * Creates `bucket` if it is missing and puts `rules` into its lifecycle configuration, replacing rules
 * with the same IDs and keeping the others. Two nodes starting at once put the same rules; a rule another
 * application adds between this read and write is lost (S3 has no conditional lifecycle write).
 */
export const ensureBucket = async (client: S3Client, bucket: string, rules: readonly LifecycleRule[], signal?: AbortSignal): Promise<void> => {
  const options = signal ? { abortSignal: signal } : {};
  const exists = await client.send(new HeadBucketCommand({ Bucket: bucket }), options).then(
    () => true,
    (error: unknown) => {
      if (isNotFound(error)) return false;
      throw error;
    },
  );
  if (!exists) {
    await client.send(new CreateBucketCommand({ Bucket: bucket }), options).catch((error: unknown) => {
      // Another node created it meanwhile.
      if ((error as Error).name !== 'BucketAlreadyOwnedByYou') throw error;
    });
  }
  const current = await lifecycleRulesOf(client, bucket, options);
  const ours = new Set(rules.map((rule) => rule.ID));
  const kept = current.filter((rule) => !ours.has(rule.ID));
  await client.send(new PutBucketLifecycleConfigurationCommand({ Bucket: bucket, LifecycleConfiguration: { Rules: [...kept, ...rules] } }), options);
};

/**
 * Removes from `bucket`'s lifecycle configuration the rules of every store under `prefix` (those whose
 * filter is under it), keeping the others; resolves with how many it removed. For a prefix taken out of
 * use: S3 allows 1,000 rules per bucket and a store puts five, so a bucket that saw two hundred prefixes
 * (a test or bench service that runs for days) refuses the next store's rules. The same caveat as
 * {@link ensureBucket}: a rule another writer adds between this read and write is lost.
 * @example await removeLifecycleRules(client, 'ferry-media', 'ferry-test:1234/')
 */
export const removeLifecycleRules = async (client: S3Client, bucket: string, prefix: string, signal?: AbortSignal): Promise<number> => {
  if (prefix === '') throw new RangeError('refusing to remove every rule of a bucket: the prefix is empty');
  const options = signal ? { abortSignal: signal } : {};
  const current = await lifecycleRulesOf(client, bucket, options);
  const kept = current.filter((rule) => !(rule.Filter?.Prefix ?? '').startsWith(prefix));
  if (kept.length === current.length) return 0;
  await client.send(
    kept.length === 0
      ? new DeleteBucketLifecycleCommand({ Bucket: bucket })
      : new PutBucketLifecycleConfigurationCommand({ Bucket: bucket, LifecycleConfiguration: { Rules: kept } }),
    options,
  );
  return current.length - kept.length;
};
