/**
 * Child process of the "client memory while uploading from a path" scenario. Run with `--expose-gc`:
 *
 *   node --expose-gc --import tsx bench/upload-memory-child.ts <file> <warm-up file>
 *
 * Uploads the warm-up file first (loads the Node file module, warms the JIT), collects garbage, takes
 * the RSS baseline, then samples memory every 5 ms while uploading `<file>` by path to a hub whose
 * store discards bytes. Prints one JSON line: the peak growth over the baseline of RSS, heap and
 * array buffers, what remains after a final GC (garbage versus retention), and the upload time.
 * @module
 */
import { stat } from 'node:fs/promises';
import { createClient, createHub, memoryStore, memoryTransport } from '../src/index.js';
import { measureUploadMemory } from './harness.js';

export type { UploadMemorySample } from './harness.js';

/**
 * The client's timers are unref'd, so an upload whose result never settles would let node exit
 * silently with no output; this ref'd timer turns that into a clear failure.
 */
const GIVE_UP_MS = 30_000;

const main = async (): Promise<void> => {
  const [file, warmupFile] = process.argv.slice(2);
  if (!file || !warmupFile) throw new Error('usage: upload-memory-child.ts <file> <warm-up file>');
  const { size } = await stat(file);

  const hub = createHub({ store: memoryStore({ discardBytes: true }) });
  const client = createClient({ transport: memoryTransport(hub) });
  await client.login({ userId: 'bench', token: hub.issueToken('bench') });
  await client.createFileMessageByUploading(warmupFile).result;

  const result = await measureUploadMemory(size, async () => (await client.createFileMessageByUploading(file).result).size);
  await client.logout();
  hub.close();
  process.stdout.write(`${JSON.stringify(result)}\n`);
};

const watchdog = setTimeout(() => {
  console.error(`upload-memory-child: no result after ${GIVE_UP_MS} ms (a task result that never settles?)`);
  process.exit(2);
}, GIVE_UP_MS);
main()
  .catch((error: unknown) => {
    console.error(error);
    process.exitCode = 1;
  })
  .finally(() => clearTimeout(watchdog));
