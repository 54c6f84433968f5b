/**
 * Scenario "client memory while uploading from a path": the client streams a file in 64 KiB chunks
 * and must never hold it, so the memory an upload needs must not grow with the file's size.
 *
 * Each run is a fresh child process (`upload-memory-child.ts`, with `--expose-gc`) that uploads one
 * file by path over the memory transport to a hub whose store discards bytes, and reports its peak RSS
 * over the RSS before the upload. 1 MiB and 30 MiB children alternate; the figure is
 * median growth(30 MiB) − median growth(1 MiB): what 29 MiB more of file costs in memory.
 * @module
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { checkTarget, fixed, interleave, markdownTable, mib, runNodeScript, type ScenarioReport, writeRandomFile } from './harness.js';
import type { UploadMemorySample } from './upload-memory-child.js';

/** Options of {@link runUploadMemory}. */
export interface UploadMemoryOptions {
  /** Recorded interleaved runs (child processes) per file size. Default: 5. */
  readonly runs?: number;
  /** Progress lines (one per run). Default: nothing. */
  readonly log?: (line: string) => void;
}

const MiB = 1024 * 1024;
const SMALL = 1 * MiB;
const LARGE = 30 * MiB;
/** Growth(30 MiB) − growth(1 MiB) must stay below this. */
const LIMIT = 8 * MiB;
// More than two chunks, so the warm-up takes the same read loop as the measured upload.
const WARMUP_BYTES = 3 * 64 * 1024 + 1;

const here = dirname(fileURLToPath(import.meta.url));
const root = dirname(here);
const childScript = join(here, 'upload-memory-child.ts');


/** Runs the scenario and reports RSS growth per file size and the difference against the target. */
export const runUploadMemory = async (options: UploadMemoryOptions = {}): Promise<ScenarioReport> => {
  const runs = options.runs ?? 5;
  const folder = await mkdtemp(join(tmpdir(), 'ferry-bench-'));
  try {
    const files = { small: join(folder, '1mib.bin'), large: join(folder, '30mib.bin'), warmup: join(folder, 'warmup.bin') };
    await writeRandomFile(files.small, SMALL);
    await writeRandomFile(files.large, LARGE);
    await writeRandomFile(files.warmup, WARMUP_BYTES);

    const child = (file: string) => async () => {
      const sample = await runNodeScript<UploadMemorySample>(childScript, [file, files.warmup], {
        nodeArgs: ['--expose-gc', '--import', 'tsx'],
        cwd: root,
      });
      const { rssGrowth, size: _size, ...details } = sample;
      return { value: rssGrowth, details };
    };
    const result = await interleave({
      runs,
      warmup: 0,
      // Each run is its own process: the parent's heap is no concern of the measurement.
      before: () => undefined,
      // The child gives up on its own after 30 s; this covers a child that hangs before its watchdog.
      timeoutMs: 120_000,
      cases: { '1 MiB': child(files.small), '30 MiB': child(files.large) },
      onRun: ({ name, run, value }) => options.log?.(`  run ${run}/${runs}  ${name.padEnd(7)} RSS +${mib(value)} MiB`),
    });

    const small = result.cases['1 MiB'];
    const large = result.cases['30 MiB'];
    const difference = large.median - small.median;
    const row = (name: string, r: typeof small): string[] => [
      name,
      mib(r.median),
      `${mib(r.min)}–${mib(r.max)}`,
      mib(r.details.heapGrowth ?? Number.NaN),
      mib(r.details.arrayBuffersGrowth ?? Number.NaN),
      mib(r.details.arrayBuffersRetained ?? Number.NaN),
      fixed(r.details.uploadMs ?? Number.NaN, 0),
      fixed(r.details.samples ?? Number.NaN, 0),
    ];
    return {
      title: 'Client memory while uploading from a path',
      method: [
        `Each run is a child process (\`node --expose-gc --import tsx bench/upload-memory-child.ts\`): hub with \`memoryStore({ discardBytes: true })\`, client over \`memoryTransport\`,`,
        `one warm-up upload of a ${WARMUP_BYTES.toLocaleString('en-US')}-byte file, GC, then \`createFileMessageByUploading(absolutePath).result\` of a random file written beforehand,`,
        `with \`process.memoryUsage()\` sampled every 5 ms. Growth = peak − value before the upload (after GC).`,
        `${runs} interleaved runs per size (1 MiB, 30 MiB, 1 MiB, …); medians. Figure: growth(30 MiB) − growth(1 MiB).`,
      ].join('\n'),
      table: [
        markdownTable(
          ['file', 'RSS growth MiB', 'RSS range', 'heap growth MiB', 'array buffers growth MiB', 'array buffers after GC MiB', 'upload ms', 'samples'],
          [row('1 MiB', small), row('30 MiB', large)],
        ),
        '',
        `growth(30 MiB) − growth(1 MiB) = **${mib(difference)} MiB**`,
      ].join('\n'),
      notes:
        (large.details.arrayBuffersRetained ?? Number.POSITIVE_INFINITY) < MiB
          ? `After the upload and a full GC the array buffers are back to the baseline (${mib(large.details.arrayBuffersRetained ?? Number.NaN)} MiB for 30 MiB): the client retains no chunk, so growth beyond the young generation is garbage not yet collected (mostly 64 KiB chunk buffers, see the array buffers column), not a held file.`
          : `After the upload and a full GC ${mib(large.details.arrayBuffersRetained ?? Number.NaN)} MiB of array buffers remain over the baseline for 30 MiB: something keeps chunks reachable.`,
      targets: [
        checkTarget({ name: 'RSS growth(30 MiB) − growth(1 MiB)', value: difference / MiB, comparison: '<', limit: LIMIT / MiB, unit: ' MiB' }),
      ],
      elapsedMs: result.elapsedMs,
    };
  } finally {
    await rm(folder, { recursive: true, force: true });
  }
};
