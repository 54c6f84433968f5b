/**
 * Child process of the WebSocket scenario's client memory case (`ws-transfer.ts`). Run with `--expose-gc`:
 *
 *   node --expose-gc --import tsx bench/ws-upload-memory-child.ts <ws URL> <token> <file> <warm-up file>
 *
 * Logs in over `wsTransport` (user `rss`), uploads the warm-up file (loads the Node file module and
 * `ws`, warms the JIT), collects garbage, takes the RSS baseline, then samples memory every 5 ms while
 * uploading `<file>` by path. Prints one JSON line ({@link UploadMemorySample}).
 * @module
 */
import { stat } from 'node:fs/promises';
import { createClient } from '../src/index.js';
import { wsTransport } from '../transports/ws.js';
import { measureUploadMemory } from './harness.js';

export type { UploadMemorySample } from './harness.js';

/** The client's timers are unref'd: an upload that never settles would let node exit silently without this. */
const GIVE_UP_MS = 45_000;

const main = async (): Promise<void> => {
  const [url, token, file, warmupFile] = process.argv.slice(2);
  if (!url || !token || !file || !warmupFile) throw new Error('usage: ws-upload-memory-child.ts <ws URL> <token> <file> <warm-up file>');
  const { size } = await stat(file);
  const client = createClient({ transport: wsTransport({ url }) });
  await client.login({ userId: 'rss', token });
  await client.createFileMessageByUploading(warmupFile).result;

  const result = await measureUploadMemory(size, async () => (await client.createFileMessageByUploading(file).result).size);
  await client.logout();
  process.stdout.write(`${JSON.stringify(result)}\n`);
};

const watchdog = setTimeout(() => {
  console.error(`ws-upload-memory-child: no result after ${GIVE_UP_MS} ms (a task result that never settles?)`);
  process.exit(2);
}, GIVE_UP_MS);
main()
  .catch((error: unknown) => {
    console.error(error);
    process.exitCode = 1;
  })
  .finally(() => clearTimeout(watchdog));
