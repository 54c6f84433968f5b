/**
 * Run by `disk-full.spec.ts` under `prlimit --fsize=<bytes>`, so the kernel refuses file writes past
 * that size (EFBIG) as a full disk would: downloads 3 MiB to a file in `<folder>` and prints, as JSON,
 * how the download ended and what is left in the folder.
 */
import { readdirSync } from 'node:fs';
import { join } from 'node:path';
import { createClient, createHub, memoryStore, memoryTransport } from '../../src/index.js';

const folder = process.argv[2];
if (!folder) throw new Error('usage: disk-limit-child.ts <folder>');
const hub = createHub({ store: memoryStore() });
const client = createClient({ transport: memoryTransport(hub) });
await client.login({ userId: 'alice', token: hub.issueToken('alice') });
const bytes = new Uint8Array(3 * 1024 * 1024).map((_, i) => (i * 7) & 0xff);
const { mediaId } = await client.createFileMessageByUploading(bytes).result;
const task = client.downloadMediaToFile(mediaId, join(folder, 'big.bin'));
const outcome = await task.result.then(
  () => ({ ok: true as const }),
  (error: { code?: number; message?: string }) => ({ ok: false as const, code: error.code, message: error.message }),
);
await client.logout();
hub.close();
process.stdout.write(`${JSON.stringify({ ...outcome, left: readdirSync(folder) })}\n`);
