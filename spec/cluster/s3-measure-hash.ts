/**
 * Measures what decision 90 weighs, for one 30 MiB upload on this machine's RGW: hashing as bytes arrive
 * (node:crypto, and @noble/hashes, the pure-JS hasher whose state could be saved and restored across
 * nodes) against reading the assembled object back at completion and hashing it; and what completion
 * costs around it (CompleteMultipartUpload, the copy that makes media visible). Not a spec: run it by hand.
 * It writes about 750 MiB (removed at the end); RGW frees removed bytes only when its garbage collector
 * runs (`rgw_gc_obj_min_wait`, 2 h by default), so on the specs' 2 GiB in-memory OSD run it rarely.
 *
 *   eval "$(scripts/services.sh env)" && npx tsx spec/cluster/s3-measure-hash.ts
 */
import { createHash } from 'node:crypto';
import type { Readable } from 'node:stream';
import {
  CompleteMultipartUploadCommand,
  CopyObjectCommand,
  CreateMultipartUploadCommand,
  GetObjectCommand,
  PutObjectCommand,
  UploadPartCommand,
} from '@aws-sdk/client-s3';
import { sha256 as nobleSha256 } from '@noble/hashes/sha2.js';
import { s3Store } from '../../src/cluster/s3-store.js';
import { services } from './services.js';
import { ensureTestBucket, freshPrefix, MiB, newId, randomContent, rawClient, removeUnder, reusedChunks } from './s3-support.js';

const s3 = services().s3;
if (!s3) throw new Error('needs FERRY_TEST_S3_*: eval "$(scripts/services.sh env)" first');
const RUNS = 5;
const SIZE = 30 * MiB;
const PART = 5 * MiB;
const bytes = randomContent(SIZE);
const chunk = 64 * 1024;

const median = (values: number[]): number => [...values].sort((a, b) => a - b)[Math.floor(values.length / 2)]!;
const time = async (name: string, run: () => Promise<unknown> | unknown): Promise<void> => {
  const samples: number[] = [];
  for (let i = 0; i < RUNS; i++) {
    const start = performance.now();
    await run();
    samples.push(performance.now() - start);
  }
  console.log(`${name.padEnd(64)} median ${median(samples).toFixed(1).padStart(7)} ms  (min ${Math.min(...samples).toFixed(1)}, max ${Math.max(...samples).toFixed(1)}, ${RUNS} runs)`);
};

const client = rawClient(s3);
await ensureTestBucket(client, s3.bucket);
const prefix = freshPrefix();
const { bucket } = s3;
try {
  await time('node:crypto SHA-256 of 30 MiB in 64 KiB chunks (running hash)', () => {
    const hash = createHash('sha256');
    for (let at = 0; at < SIZE; at += chunk) hash.update(bytes.subarray(at, at + chunk));
    return hash.digest('hex');
  });
  await time('@noble/hashes SHA-256 of 30 MiB in 64 KiB chunks (restorable state)', () => {
    const hash = nobleSha256.create();
    for (let at = 0; at < SIZE; at += chunk) hash.update(bytes.subarray(at, at + chunk));
    return hash.digest();
  });

  // One assembled 30 MiB object, as completion leaves it.
  const staging = `${prefix}staging`;
  const assemble = async (): Promise<void> => {
    const { UploadId } = await client.send(new CreateMultipartUploadCommand({ Bucket: bucket, Key: staging }));
    const Parts = [];
    for (let n = 1; n <= SIZE / PART; n++) {
      const { ETag } = await client.send(new UploadPartCommand({ Bucket: bucket, Key: staging, UploadId, PartNumber: n, Body: bytes.subarray((n - 1) * PART, n * PART) }));
      Parts.push({ PartNumber: n, ETag });
    }
    const start = performance.now();
    await client.send(new CompleteMultipartUploadCommand({ Bucket: bucket, Key: staging, UploadId, MultipartUpload: { Parts } }));
    completions.push(performance.now() - start);
  };
  const completions: number[] = [];
  await time('raw: six 5 MiB UploadParts + CompleteMultipartUpload (30 MiB)', assemble);
  console.log(`${'  of which CompleteMultipartUpload'.padEnd(64)} median ${median(completions).toFixed(1).padStart(7)} ms`);
  await time('raw: PutObject of 30 MiB', () => client.send(new PutObjectCommand({ Bucket: bucket, Key: `${prefix}put`, Body: bytes })));
  await time('read-back: GET 30 MiB from RGW and node:crypto SHA-256 it', async () => {
    const answer = await client.send(new GetObjectCommand({ Bucket: bucket, Key: staging }));
    const hash = createHash('sha256');
    let seen = 0;
    for await (const piece of answer.Body as Readable) {
      hash.update(piece as Buffer);
      seen += (piece as Buffer).length;
    }
    if (seen !== SIZE) throw new Error(`read ${seen} bytes`);
    return hash.digest('hex');
  });
  await time('CopyObject of 30 MiB with MetadataDirective REPLACE', () =>
    client.send(new CopyObjectCommand({ Bucket: bucket, Key: `${prefix}media`, CopySource: `${bucket}/${encodeURIComponent(staging)}`, MetadataDirective: 'REPLACE', Metadata: { 'ferry-record': 'x' } })),
  );

  // The store end to end: one 30 MiB append, then completion, on the node that saw every byte and on
  // another; each upload removed once measured (RGW's in-memory OSD is shared with other specs).
  const store = s3Store({ ...s3, prefix: `${prefix}store/` });
  const other = s3Store({ ...s3, prefix: `${prefix}store/` });
  const now = () => Date.now();
  const appended = async (): Promise<string> => {
    const id = newId();
    await store.create({ mediaId: id, size: SIZE, fileName: 'x', uploader: 'alice', createdAt: now() }, now());
    await store.append(id, 0, reusedChunks(bytes, chunk), { now });
    return id;
  };
  await time('store: create + one 30 MiB append (64 KiB chunks)', async () => store.delete(await appended()));
  const completion = (node: typeof store) => async (): Promise<void> => {
    const id = await appended();
    const start = performance.now();
    await node.complete(id, now());
    completionTimes.push(performance.now() - start);
    await store.delete(id);
  };
  let completionTimes: number[] = [];
  await time('(setup) append 30 MiB, then complete on the node that appended it', completion(store));
  console.log(`${'  store.complete, running hash'.padEnd(64)} median ${median(completionTimes).toFixed(1).padStart(7)} ms`);
  completionTimes = [];
  await time('(setup) append 30 MiB, then complete on another node', completion(other));
  console.log(`${'  store.complete, read back and hashed'.padEnd(64)} median ${median(completionTimes).toFixed(1).padStart(7)} ms`);
  await store.close();
  await other.close();
} finally {
  await removeUnder(client, bucket, prefix);
  client.destroy();
}
