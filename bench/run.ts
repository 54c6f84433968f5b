/**
 * `npm run bench`: runs every scenario, prints each with its targets (PASS/FAIL), and writes
 * `bench/RESULTS.md` with the date, the machine, the method and the figures. Exits 0 even when a
 * target fails: a benchmark reports, it does not gate. Exits 1 if a scenario could not run at all.
 *
 *   npm run bench                          all scenarios, 5 runs each, writes RESULTS.md
 *   npm run bench -- --only upload-memory  one scenario (comma-separated names allowed)
 *   npm run bench -- --only http-transfer  30 MiB over HTTP against raw node:http
 *   npm run bench -- --only ws-transfer    WebSocket: 30 MiB upload, message relay, chat under load
 *   npm run bench -- --only server-memory  the server's RSS under an unread event stream and 20 sessions' replay
 *   npm run bench -- --only ws-fanout      WebSocket channel fan-out, 200 members, vs a raw `ws` server batching per turn
 *   npm run bench -- --only ws-sessions    server memory per logged-in WebSocket session vs a raw `ws` server
 *   npm run bench -- --only cluster        nodes on Redis and S3 (RGW) vs raw PutObject/GetObject; relay and channel fan-out across nodes (needs FERRY_TEST_*)
 *   npm run bench -- --runs 7              more runs (at least 5 for figures worth quoting)
 *   npm run bench -- --quick               engine overhead at 2k/20k instead of 10k/100k, to iterate
 *
 * Only a full run with the default sizes writes RESULTS.md, so a partial run never overwrites it.
 * @module
 */
import { writeFile } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { runCluster } from './cluster.js';
import { runEngineOverhead } from './engine-overhead.js';
import { fixed, formatTarget, machineInfo, type ScenarioReport, sourceVersion } from './harness.js';
import { runHttpTransfer } from './http-transfer.js';
import { runServerMemory } from './server-memory.js';
import { runUploadMemory } from './upload-memory.js';
import { runWsFanout } from './ws-fanout.js';
import { runWsSessions } from './ws-sessions.js';
import { runWsTransfer } from './ws-transfer.js';

const MIN_RUNS = 5;
const here = dirname(fileURLToPath(import.meta.url));
const root = dirname(here);

const { values } = parseArgs({
  options: {
    only: { type: 'string' },
    runs: { type: 'string' },
    quick: { type: 'boolean', default: false },
  },
});
const runs = values.runs === undefined ? MIN_RUNS : Number(values.runs);
if (!(Number.isInteger(runs) && runs >= 1)) throw new RangeError(`--runs must be a positive integer, got ${String(values.runs)}`);

const log = (line: string): void => {
  process.stderr.write(`${line}\n`);
};

const scenarios: Record<string, () => Promise<ScenarioReport>> = {
  'engine-overhead': () => runEngineOverhead({ runs, log, ...(values.quick ? { counts: [2_000, 20_000] } : {}) }),
  'upload-memory': () => runUploadMemory({ runs, log }),
  'http-transfer': () => runHttpTransfer({ runs, log }),
  'ws-transfer': () => runWsTransfer({ runs, log }),
  'server-memory': () => runServerMemory({ runs, log }),
  'ws-fanout': () => runWsFanout({ runs, log }),
  'ws-sessions': () => runWsSessions({ runs, log }),
  cluster: () => runCluster({ runs, log }),
};
const selected = values.only === undefined ? Object.keys(scenarios) : values.only.split(',').map((name) => name.trim());
for (const name of selected) {
  if (!(name in scenarios)) throw new RangeError(`unknown scenario ${JSON.stringify(name)}; known: ${Object.keys(scenarios).join(', ')}`);
}
const complete = values.only === undefined && !values.quick && runs >= MIN_RUNS;

const machine = machineInfo();
const date = new Date();
const started = performance.now();
log(`ferry benchmarks — ${machine.cpu}, ${machine.cores} cores, node ${machine.node}, ${runs} runs`);

const reports: ScenarioReport[] = [];
// A scenario that throws measured nothing: the others still run, and the exit code says so.
const errors: { readonly name: string; readonly error: unknown }[] = [];
for (const name of selected) {
  log(`\n▶ ${name}`);
  const scenario = scenarios[name];
  if (!scenario) continue;
  try {
    const report = await scenario();
    reports.push(report);
    log(`  (${fixed(report.elapsedMs / 1000, 1)} s)`);
  } catch (error) {
    errors.push({ name, error });
    log(`  ERROR: ${error instanceof Error ? (error.stack ?? error.message) : String(error)}`);
  }
}
const totalMs = performance.now() - started;

const summary: string[] = [];
for (const report of reports) {
  summary.push(`\n== ${report.title} (${fixed(report.elapsedMs / 1000, 1)} s)`, '', report.table, '');
  for (const target of report.targets) summary.push(target.pass ? formatTarget(target) : `✗ ${formatTarget(target)}  ◀◀◀`);
  if (report.notes) summary.push('', report.notes);
}
const targets = reports.flatMap((report) => report.targets);
const failed = targets.filter((target) => !target.pass);
summary.push(
  '',
  ...(targets.length > 0
    ? [`${targets.length - failed.length}/${targets.length} targets met${failed.length ? ` — FAIL: ${failed.map((t) => t.name).join('; ')}` : ''}`]
    : []),
  ...errors.map(({ name }) => `ERROR  ${name}: did not complete, no figures (see above)`),
  `total ${fixed(totalMs / 1000, 1)} s`,
);
process.stdout.write(`${summary.join('\n')}\n`);
if (errors.length > 0) process.exitCode = 1;

if (complete && errors.length === 0) {
  const markdown = [
    '# ferry benchmark results',
    '',
    'Generated by `npm run bench` (`bench/run.ts`); do not edit by hand.',
    '',
    `- date: ${date.toISOString()}`,
    `- source: ${sourceVersion(root)}`,
    `- machine: ${machine.os}; ${machine.cpu}; ${machine.cores} cores; node ${machine.node}`,
    `- runs: ${runs} interleaved runs per case (baseline, candidate, baseline, candidate, …), medians; full GC before each in-process run (and \`sync\` in the HTTP and WebSocket transfer scenarios)`,
    `- total time: ${fixed(totalMs / 1000, 1)} s`,
    '',
    ...reports.flatMap((report) => [
      `## ${report.title}`,
      '',
      report.method,
      '',
      report.table,
      '',
      ...report.targets.map((target) => `- **${target.pass ? 'PASS' : 'FAIL'}** ${formatTarget(target).slice(6)}`),
      ...(report.notes ? ['', report.notes] : []),
      '',
      `(${fixed(report.elapsedMs / 1000, 1)} s)`,
      '',
    ]),
  ].join('\n');
  const path = join(here, 'RESULTS.md');
  await writeFile(path, markdown);
  log(`wrote ${path}`);
} else {
  log(`RESULTS.md not written: ${errors.length > 0 ? 'a scenario failed' : 'partial run (--only, --quick or fewer than 5 runs)'}`);
}
