/**
 * Scenario "engine overhead": what the client adds per transfer over calling the hub directly.
 *
 * N tiny uploads (16 bytes each, so bytes cost nothing) are started at once and all results awaited,
 * through `createClient({ transport: memoryTransport(hub) })` (candidate) and through p-queue with the
 * same concurrency calling `hub.createUpload` + `hub.appendUpload` (baseline). Both pay for the hub's
 * work (IDs, hashing, records); the difference is the engine: tasks, machines, scheduler, observables,
 * the transport. Each run gets a fresh hub whose store discards bytes, so nothing accumulates across
 * runs, and setup (hub, login) is outside the timed section.
 *
 * The flatness check compares the engine's cost per transfer at the larger N with the smaller one: a
 * per-transfer cost that grows with the number of queued transfers would show here. The ratio check
 * (issue 17) holds the engine to at most 3× the baseline's time per transfer at every N, each ratio of
 * medians measured in the same interleaved runs.
 * @module
 */
import PQueue from 'p-queue';
import { createClient, createHub, type FileMessage, memoryStore, memoryTransport } from '../src/index.js';
import {
  checkTarget,
  collectGarbage,
  fixed,
  formatRatio,
  interleave,
  markdownTable,
  ratio,
  type RunInfo,
  type ScenarioReport,
  withTimeout,
} from './harness.js';

/** Options of {@link runEngineOverhead}. */
export interface EngineOverheadOptions {
  /** Recorded interleaved runs of every case. Default: 5. */
  readonly runs?: number;
  /** Transfer counts, smallest first; flatness compares the last with the first. Default: [10_000, 100_000]. */
  readonly counts?: readonly number[];
  /** Progress lines (one per run). Default: nothing. */
  readonly log?: (line: string) => void;
}

const UPLOADER = 'bench';
const PAYLOAD_BYTES = 16;
// The client's default cap (docs/contract.md §3); the baseline gets the same parallelism.
const CONCURRENCY = 9;
/** Flatness target: µs per transfer at the largest N over the smallest. */
const FLATNESS_LIMIT = 1.5;
/** Issue 17's target: engine µs per transfer over the baseline's, at every N. */
const RATIO_LIMIT = 3;
const WARMUP_TRANSFERS = 2_000;
/**
 * Idle time after the full GC before each run. A full GC leaves sweeping and unmapping to V8's background
 * threads; after a 100,000-transfer run (a heap near 1 GiB) that work overlapped the next run on two
 * cores, and the baseline's 10,000 runs (half a second) came out 60–145 µs per transfer straight after
 * the GC against 38–66 µs after a second's pause (decision 125).
 */
const SETTLE_MS = 1_000;
const WARMUP_TIMEOUT_MS = 60_000;

/** A full GC, then a pause for V8's background GC work to finish before the run is timed. */
const settle = async (): Promise<void> => {
  collectGarbage();
  await new Promise((resolve) => setTimeout(resolve, SETTLE_MS));
};

const payload = new Uint8Array(PAYLOAD_BYTES).fill(7);

async function* once(bytes: Uint8Array): AsyncIterable<Uint8Array> {
  yield bytes;
}

const freshHub = () => createHub({ store: memoryStore({ discardBytes: true }) });

/** N uploads through p-queue straight into the hub; resolves with the ms from the first add to the last result. */
const baselineRun = async (count: number): Promise<number> => {
  const hub = freshHub();
  const queue = new PQueue({ concurrency: CONCURRENCY });
  try {
    const started = performance.now();
    const results: Promise<{ readonly complete: boolean }>[] = [];
    for (let i = 0; i < count; i++) {
      results.push(
        queue.add(async () => {
          const created = await hub.createUpload(UPLOADER, { size: payload.length, fileName: '' });
          return hub.appendUpload(UPLOADER, created.uploadId, 0, once(payload));
        }),
      );
    }
    const done = await Promise.all(results);
    const elapsed = performance.now() - started;
    if (!done.every((status) => status.complete)) throw new Error('baseline: an upload did not complete');
    return elapsed;
  } finally {
    hub.close();
  }
};

/** N uploads through the client; resolves with the ms from the first call to the last result. */
const engineRun = async (count: number): Promise<number> => {
  const hub = freshHub();
  const client = createClient({ transport: memoryTransport(hub) });
  await client.login({ userId: UPLOADER, token: hub.issueToken(UPLOADER) });
  try {
    const started = performance.now();
    const results: Promise<FileMessage>[] = [];
    for (let i = 0; i < count; i++) results.push(client.createFileMessageByUploading(payload).result);
    const done = await Promise.all(results);
    const elapsed = performance.now() - started;
    if (!done.every((message) => message.size === PAYLOAD_BYTES)) throw new Error('engine: a message has the wrong size');
    return elapsed;
  } finally {
    await client.logout();
    hub.close();
  }
};

const label = (count: number): string => (count % 1000 === 0 ? `${count / 1000}k` : String(count));

/** Runs the scenario and reports µs per transfer, engine/baseline ratios and the flatness check. */
export const runEngineOverhead = async (options: EngineOverheadOptions = {}): Promise<ScenarioReport> => {
  const runs = options.runs ?? 5;
  const counts = options.counts ?? [10_000, 100_000];
  const smallest = counts[0];
  const largest = counts.at(-1);
  if (smallest === undefined || largest === undefined) throw new RangeError('counts must not be empty');

  const cases: Record<string, () => Promise<number>> = {};
  for (const count of counts) {
    cases[`baseline ${label(count)}`] = () => baselineRun(count);
    cases[`engine ${label(count)}`] = () => engineRun(count);
  }
  // Warm the JIT on a small batch outside the comparison; a warm-up at 100k would cost a full run.
  const warmupStarted = performance.now();
  const warmupCount = Math.min(smallest, WARMUP_TRANSFERS);
  const warmBaseline = await withTimeout(baselineRun(warmupCount), WARMUP_TIMEOUT_MS, 'baseline warm-up');
  const warmEngine = await withTimeout(engineRun(warmupCount), WARMUP_TIMEOUT_MS, 'engine warm-up');
  options.log?.(`  warm-up  baseline ${fixed(warmBaseline, 0)} ms, engine ${fixed(warmEngine, 0)} ms (${warmupCount} transfers)`);
  const warmupMs = performance.now() - warmupStarted;
  const result = await interleave<string>({
    runs,
    cases,
    warmup: 0,
    before: settle,
    // A 100k engine run takes about a minute here, under two on a loaded machine.
    timeoutMs: 300_000,
    onRun: ({ name, run, value }: RunInfo<string>) =>
      options.log?.(`  ${run === 0 ? 'warm-up' : `run ${run}/${runs}`}  ${name.padEnd(16)} ${fixed(value, 0).padStart(8)} ms`),
  });

  const usPerTransfer = (name: string, count: number): number => ((result.cases[name]?.median ?? Number.NaN) * 1000) / count;
  const range = (name: string, count: number): string => {
    const r = result.cases[name];
    return r ? `${fixed((r.min * 1000) / count)}–${fixed((r.max * 1000) / count)}` : '—';
  };
  const rows = counts.map((count) => {
    const base = usPerTransfer(`baseline ${label(count)}`, count);
    const engine = usPerTransfer(`engine ${label(count)}`, count);
    return [
      count.toLocaleString('en-US'),
      fixed(base),
      range(`baseline ${label(count)}`, count),
      fixed(engine),
      range(`engine ${label(count)}`, count),
      formatRatio(ratio(engine, base), 1),
      fixed(engine - base),
    ];
  });
  const flatness = ratio(usPerTransfer(`engine ${label(largest)}`, largest), usPerTransfer(`engine ${label(smallest)}`, smallest));
  const baselineFlatness = ratio(usPerTransfer(`baseline ${label(largest)}`, largest), usPerTransfer(`baseline ${label(smallest)}`, smallest));

  return {
    title: 'Engine overhead per transfer (memory transport)',
    method: [
      `${counts.map((c) => c.toLocaleString('en-US')).join(' and ')} uploads of ${PAYLOAD_BYTES} bytes each, all started at once, every \`task.result\` awaited.`,
      `Engine: \`createClient({ transport: memoryTransport(hub) })\`, default options (9 concurrent transfers, progress every 100 ms).`,
      `Baseline: p-queue (concurrency ${CONCURRENCY}) calling \`hub.createUpload\` + \`hub.appendUpload\` with a one-chunk async iterable, same uploader.`,
      `A fresh hub with \`memoryStore({ discardBytes: true })\` per run; hub creation and login are not timed; a full GC and ${SETTLE_MS.toLocaleString('en-US')} ms idle before every run (V8's background sweeping after a large run otherwise overlaps the next).`,
      `${runs} interleaved runs of each case (${Object.keys(cases).join(', ')}, repeated) after an untimed warm-up of ${Math.min(smallest, WARMUP_TRANSFERS).toLocaleString('en-US')} transfers each way; medians.`,
    ].join('\n'),
    table: markdownTable(
      ['transfers', 'baseline µs/transfer', 'baseline range', 'engine µs/transfer', 'engine range', 'engine ÷ baseline', 'engine − baseline µs'],
      [...rows, [`flatness ${label(largest)} ÷ ${label(smallest)}`, formatRatio(baselineFlatness), '', formatRatio(flatness), '', '', '']],
    ),
    targets: [
      ...counts.map((count) =>
        checkTarget({
          name: `engine ÷ baseline µs/transfer at ${label(count)}`,
          value: ratio(usPerTransfer(`engine ${label(count)}`, count), usPerTransfer(`baseline ${label(count)}`, count)),
          comparison: '<=',
          limit: RATIO_LIMIT,
          unit: '×',
        }),
      ),
      checkTarget({
        name: `engine µs/transfer at ${label(largest)} ÷ at ${label(smallest)} (flat)`,
        value: flatness,
        comparison: '<=',
        limit: FLATNESS_LIMIT,
        unit: '×',
      }),
    ],
    notes: [
      'Not measured by this run: from one-off profiles of compiled builds (decisions 143, 148), why the engine sits at about the 3× target at 100,000 on this machine (2.95–3.3× over the full runs of the last sessions), passing or failing by less than the run-to-run spread. The transfer actor\'s life alone (create, start, `START`, `MOVED`; the real machine with effects that resolve at once) costs about as much as the baseline\'s whole transfer, so the hub\'s work and the actor make 2× before any task, scheduler, transport or signal of the client.',
      'Per transfer at 100,000 the engine allocated 79.4 KB against the baseline\'s 20.0, 44.7 KB of it in XState\'s own code, and a queued task holds 3.9 KB; GC is about a quarter of the engine\'s time and XState\'s code another quarter.',
    ].join(' '),
    elapsedMs: warmupMs + result.elapsedMs,
  };
};
