/**
 * Run by `disk-full.spec.ts` under `prlimit --fsize=<bytes>`, so the kernel refuses file writes past
 * that size (EFBIG) as a full disk would: a hub on the durable file store in `<folder>` receives
 * 3 MiB uploads whose part files cannot grow past the limit — one from a client (chunks the store must
 * copy, the source reusing its buffer) and one appended as a server's network chunks (`owned`) — then
 * a small upload. Prints, as JSON, how each ended and what `media/` holds.
 */
import { readdirSync } from 'node:fs';
import { join } from 'node:path';
import { createClient, createHub, memoryTransport } from '../../src/index.js';
import { fileStore } from '../../src/server/file-store.js';

const folder = process.argv[2];
if (!folder) throw new Error('usage: disk-limit-upload-child.ts <folder>');
const store = await fileStore({ dataDir: folder });
const hub = createHub({ store });
const client = createClient({ transport: memoryTransport(hub) });
await client.login({ userId: 'alice', token: hub.issueToken('alice') });
const bytes = new Uint8Array(3 * 1024 * 1024).map((_, i) => (i * 7) & 0xff);
const ended = <T>(promise: Promise<T>) =>
  promise.then(
    () => ({ ok: true as const }),
    (error: { code?: number; message?: string }) => ({ ok: false as const, ...(error.code === undefined ? {} : { code: error.code }), message: error.message }),
  );

const copied = await ended(client.createFileMessageByUploading(bytes).result);
const created = await hub.createUpload('alice', { size: bytes.length, fileName: 'owned.bin' });
async function* network() {
  for (let at = 0; at < bytes.length; at += 65_536) yield bytes.slice(at, at + 65_536);
}
const owned = await ended(hub.appendUpload('alice', created.uploadId, 0, network(), { owned: true }));
const small = await ended(client.createFileMessageByUploading(bytes.subarray(0, 100_000)).result);
await client.logout();
hub.close();
await store.close();
process.stdout.write(`${JSON.stringify({ copied, owned, small, media: readdirSync(join(folder, 'media')) })}\n`);
