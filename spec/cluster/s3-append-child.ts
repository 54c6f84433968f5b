/**
 * A process that creates an upload in the S3 store and appends the spec's 16 MiB to it, printing each
 * acknowledged offset on its own line (`acknowledged <offset>`), for `s3-store-kill.spec.ts` to kill -9
 * in the middle. Arguments: the key prefix and the media ID; the store's address from FERRY_TEST_S3_*.
 */
import { s3Store } from '../../src/cluster/s3-store.js';
import { killedUpload } from './s3-support.js';

const [prefix, mediaId] = process.argv.slice(2);
const { FERRY_TEST_S3_ENDPOINT: endpoint, FERRY_TEST_S3_BUCKET: bucket, FERRY_TEST_S3_ACCESS_KEY_ID: accessKeyId, FERRY_TEST_S3_SECRET_ACCESS_KEY: secretAccessKey } = process.env;
if (!endpoint || !bucket || !accessKeyId || !secretAccessKey || !prefix || !mediaId) throw new Error('usage: s3-append-child.ts <prefix> <mediaId>, with FERRY_TEST_S3_* set');
// Not `services.ts`: it imports vitest, which only runs inside the test runner.
const store = s3Store({ endpoint, bucket, accessKeyId, secretAccessKey, prefix });
const now = () => Date.now();
await store.create({ mediaId, size: killedUpload.size, fileName: 'killed.bin', uploader: 'alice', createdAt: now() }, now());
process.stdout.write('created\n');
await store.append(mediaId, 0, killedUpload.chunks(0), { now, onAppended: (offset) => process.stdout.write(`acknowledged ${offset}\n`) });
process.stdout.write('appended every byte\n');
