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

/** The JSON line this script prints. Bytes, except `uploadMs`. */
export interface UploadMemorySample {
  readonly size: number;
  readonly rssGrowth: number;
  readonly heapGrowth: number;
  readonly arrayBuffersGrowth: number;
  /** RSS over the baseline after the upload and a full GC (the allocator may keep freed pages). */
  readonly rssRetained: number;
  /** Array buffers over the baseline after the upload and a full GC: bytes the upload left reachable. */
  readonly arrayBuffersRetained: number;
  readonly samples: number;
  readonly uploadMs: number;
}

const SAMPLE_EVERY_MS = 5;
/**
 * The client's timers are unref'd, so an upload whose result never settles would let node exit
 * silently with no output; this ref'd timer turns that into a clear failure.
 */
const GIVE_UP_MS = 30_000;

/**
 * Full GCs with pauses between them: V8 frees array buffer memory on a background thread after a GC,
 * so on a busy machine a reading taken right after `gc()` can still count freed buffers.
 */
const quiesce = async (gc: () => void): Promise<void> => {
  for (let round = 0; round < 3; round++) {
    gc();
    await new Promise((resolve) => setTimeout(resolve, 25));
  }
};

const main = async (): Promise<void> => {
  const [file, warmupFile] = process.argv.slice(2);
  const gc = (globalThis as { gc?: () => void }).gc;
  if (!file || !warmupFile) throw new Error('usage: upload-memory-child.ts <file> <warm-up file>');
  if (!gc) throw new Error('run with --expose-gc');
  const { size } = await stat(file);

  const hub = createHub({ store: memoryStore({ discardBytes: true }) });
  const client = createClient({ transport: memoryTransport(hub) });
  await client.login({ userId: 'bench', token: hub.issueToken('bench') });
  await client.createFileMessageByUploading(warmupFile).result;

  await quiesce(gc);
  const base = process.memoryUsage();
  const peak = { rss: base.rss, heapUsed: base.heapUsed, arrayBuffers: base.arrayBuffers };
  let samples = 0;
  const sample = (): void => {
    const now = process.memoryUsage();
    peak.rss = Math.max(peak.rss, now.rss);
    peak.heapUsed = Math.max(peak.heapUsed, now.heapUsed);
    peak.arrayBuffers = Math.max(peak.arrayBuffers, now.arrayBuffers);
    samples++;
  };
  const sampler = setInterval(sample, SAMPLE_EVERY_MS);

  const started = performance.now();
  const message = await client.createFileMessageByUploading(file).result;
  const uploadMs = performance.now() - started;
  sample();
  clearInterval(sampler);
  if (message.size !== size) throw new Error(`uploaded ${message.size} of ${size} bytes`);

  await quiesce(gc);
  const after = process.memoryUsage();
  await client.logout();
  hub.close();

  const result: UploadMemorySample = {
    size,
    rssGrowth: peak.rss - base.rss,
    heapGrowth: peak.heapUsed - base.heapUsed,
    arrayBuffersGrowth: peak.arrayBuffers - base.arrayBuffers,
    rssRetained: after.rss - base.rss,
    arrayBuffersRetained: after.arrayBuffers - base.arrayBuffers,
    samples,
    uploadMs,
  };
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
