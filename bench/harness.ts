/**
 * The benchmark harness: interleaved runs with medians, ratios against a baseline measured in the same
 * run, targets with a verdict, and markdown tables. Every scenario (`engine-overhead.ts`,
 * `upload-memory.ts`, later HTTP and WebSocket) is built from these pieces and returns a
 * {@link ScenarioReport} that `run.ts` prints and writes to `RESULTS.md`.
 *
 * Why interleaved: these machines are noisy (2 shared cores), so a slow minute must hit the baseline
 * and the candidate alike. Running `baseline, candidate, baseline, candidate, …` and comparing medians
 * keeps drift out of the ratios.
 *
 * A little over 300 lines because it is the one toolbox every scenario shares (runs, statistics,
 * targets, formatting, child processes); split it along those lines when HTTP and WebSocket add more.
 * @module
 */
import { execFileSync, spawn } from 'node:child_process';
import { randomFillSync } from 'node:crypto';
import { open } from 'node:fs/promises';
import { cpus, platform, release, arch } from 'node:os';
import { resolve as resolvePath } from 'node:path';
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import { utf8 } from '../src/core/bytes.js';
import { signToken } from '../src/hub/tokens.js';
import { writeAll } from '../src/platform/node-fs.js';

/**
 * What one run of a case yields: nothing (the harness records the wall time of the call, in ms), a
 * number (the metric itself, e.g. the ms of a timed section or bytes), or a number with named details
 * that are reported as medians beside it.
 */
export type Measurement = void | number | { readonly value: number; readonly details?: Readonly<Record<string, number>> };

/** One case of a comparison. Its setup may live inside it if it returns the measured value itself. */
export type Case = () => Measurement | Promise<Measurement>;

/** Options of {@link interleave}. */
export interface InterleaveOptions<K extends string> {
  /**
   * Recorded runs of every case. The team standard is at least 5.
   * @example { runs: 5 }
   */
  readonly runs: number;
  /** Unrecorded rounds before the recorded ones, to warm the JIT and caches. Default: 1. */
  readonly warmup?: number;
  /** Which cases the warm-up rounds run, in their order. Default: all of them. @example ['baseline 10k'] */
  readonly warmupCases?: readonly K[];
  /** The cases, run in this order within a round; the first is conventionally the baseline. */
  readonly cases: Readonly<Record<K, Case>>;
  /** Called before every run (warm-up included). Default: {@link collectGarbage}, so no run pays for the previous one's garbage. */
  readonly before?: () => void | Promise<void>;
  /** Told about each finished run, e.g. to print progress. Default: nothing. */
  readonly onRun?: (run: RunInfo<K>) => void;
  /**
   * A run that has not settled after this long fails the comparison with a message naming the case.
   * The timer also keeps the process alive: a case awaiting a promise that never settles (with only
   * unref'd timers left) would otherwise let node exit silently mid-benchmark. Default: 600,000 ms.
   */
  readonly timeoutMs?: number;
}

/** What {@link InterleaveOptions.onRun} is told. */
export interface RunInfo<K extends string> {
  readonly name: K;
  /** 1-based index of the recorded run, or 0 for a warm-up run. */
  readonly run: number;
  readonly runs: number;
  readonly value: number;
}

/** The recorded runs of one case and their summary. */
export interface CaseResult {
  /** Values in run order. */
  readonly samples: readonly number[];
  readonly median: number;
  readonly min: number;
  readonly max: number;
  /** Median of each detail the case reported (details missing from some runs use the runs that have them). */
  readonly details: Readonly<Record<string, number>>;
}

/** What {@link interleave} returns. */
export interface InterleaveResult<K extends string> {
  readonly runs: number;
  readonly cases: Readonly<Record<K, CaseResult>>;
  /** Wall time of the whole comparison, warm-up included. */
  readonly elapsedMs: number;
}

/**
 * Runs the cases alternately (`a, b, c, a, b, c, …`) `runs` times after `warmup` unrecorded rounds, and
 * returns each case's samples and median. A case that throws aborts the comparison: a benchmark of a
 * broken path measures nothing.
 * @example
 * const { cases } = await interleave({ runs: 5, cases: { baseline: () => direct(), engine: () => viaClient() } });
 * console.log(ratio(cases.engine.median, cases.baseline.median));
 */
export const interleave = async <K extends string>(options: InterleaveOptions<K>): Promise<InterleaveResult<K>> => {
  const { runs, cases } = options;
  if (!(Number.isInteger(runs) && runs >= 1)) throw new RangeError(`runs must be a positive integer, got ${String(runs)}`);
  const names = Object.keys(cases) as K[];
  const before = options.before ?? collectGarbage;
  const timeoutMs = options.timeoutMs ?? 600_000;
  const started = performance.now();
  const once = async (name: K): Promise<{ value: number; details: Readonly<Record<string, number>> }> => {
    await before();
    const t0 = performance.now();
    const measured = await withTimeout(Promise.resolve(cases[name]()), timeoutMs, `case ${JSON.stringify(name)}`);
    const elapsed = performance.now() - t0;
    if (typeof measured === 'number') return { value: measured, details: {} };
    if (measured === undefined) return { value: elapsed, details: {} };
    return { value: measured.value, details: measured.details ?? {} };
  };

  const warmupNames = options.warmupCases ?? names;
  for (let round = 0; round < (options.warmup ?? 1); round++) {
    for (const name of warmupNames) {
      const { value } = await once(name);
      options.onRun?.({ name, run: 0, runs, value });
    }
  }

  const samples = new Map<K, number[]>(names.map((name) => [name, []]));
  const details = new Map<K, Map<string, number[]>>(names.map((name) => [name, new Map()]));
  for (let run = 1; run <= runs; run++) {
    for (const name of names) {
      const measured = await once(name);
      samples.get(name)?.push(measured.value);
      const byKey = details.get(name);
      for (const [key, value] of Object.entries(measured.details)) {
        const list = byKey?.get(key) ?? [];
        list.push(value);
        byKey?.set(key, list);
      }
      options.onRun?.({ name, run, runs, value: measured.value });
    }
  }

  const summary = {} as Record<K, CaseResult>;
  for (const name of names) {
    const values = samples.get(name) ?? [];
    summary[name] = {
      samples: values,
      median: median(values),
      min: Math.min(...values),
      max: Math.max(...values),
      details: Object.fromEntries([...(details.get(name) ?? new Map<string, number[]>())].map(([key, list]) => [key, median(list)])),
    };
  }
  return { runs, cases: summary, elapsedMs: performance.now() - started };
};

/**
 * Settles like `promise`, or rejects once `ms` have passed. The timer is ref'd on purpose (see
 * {@link InterleaveOptions.timeoutMs}) and cleared when the promise settles.
 */
export const withTimeout = <T>(promise: Promise<T>, ms: number, what: string): Promise<T> =>
  new Promise<T>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`${what} did not settle within ${ms} ms`)), ms);
    promise.then(
      (value) => {
        clearTimeout(timer);
        resolve(value);
      },
      (error: unknown) => {
        clearTimeout(timer);
        reject(error);
      },
    );
  });

/** The median (the mean of the two middle values for an even count). `NaN` for no values. */
export const median = (values: readonly number[]): number => {
  if (values.length === 0) return Number.NaN;
  const sorted = [...values].sort((a, b) => a - b);
  const middle = Math.floor(sorted.length / 2);
  const upper = sorted[middle] ?? Number.NaN;
  return sorted.length % 2 === 1 ? upper : ((sorted[middle - 1] ?? Number.NaN) + upper) / 2;
};

/** `candidate / baseline`: how many times the baseline the candidate costs (> 1 is slower or bigger). */
export const ratio = (candidate: number, baseline: number): number => candidate / baseline;

/** A goal for one figure. */
export interface Target {
  /** What is checked, in words. @example 'engine µs/transfer at 100k ÷ at 10k' */
  readonly name: string;
  readonly value: number;
  /** The figure must stay below (`'<'`) or at most (`'<='`) the limit. */
  readonly comparison: '<' | '<=';
  readonly limit: number;
  /** Unit shown after value and limit, e.g. '×' or ' MiB'. Default: none. */
  readonly unit?: string;
  /** Digits after the point when shown. Default: 2. */
  readonly digits?: number;
}

/** A target with its verdict. */
export interface TargetResult extends Target {
  readonly pass: boolean;
}

/** Checks a target. `NaN` (a figure that could not be measured) fails. */
export const checkTarget = (target: Target): TargetResult => ({
  ...target,
  pass: target.comparison === '<' ? target.value < target.limit : target.value <= target.limit,
});

/** One line for a target: `PASS  name: 1.12× (target ≤ 1.50×)`. */
export const formatTarget = (target: TargetResult): string => {
  const unit = target.unit ?? '';
  const digits = target.digits ?? 2;
  return `${target.pass ? 'PASS' : 'FAIL'}  ${target.name}: ${fixed(target.value, digits)}${unit} (target ${target.comparison === '<' ? '<' : '≤'} ${fixed(target.limit, digits)}${unit})`;
};

/** A number with `digits` after the point and thousands separators; '—' for `NaN`. */
export const fixed = (value: number, digits = 1): string =>
  Number.isFinite(value) ? value.toLocaleString('en-US', { minimumFractionDigits: digits, maximumFractionDigits: digits }) : '—';

/** A ratio as `12.34×`. */
export const formatRatio = (value: number, digits = 2): string => `${fixed(value, digits)}×`;

/** Bytes as MiB with `digits` after the point. */
export const mib = (bytes: number, digits = 2): string => fixed(bytes / 1024 / 1024, digits);

/** A markdown table; cells are escaped for `|`. Reads well in a terminal too. */
export const markdownTable = (headers: readonly string[], rows: readonly (readonly string[])[]): string => {
  const cell = (text: string): string => text.replaceAll('|', '\\|');
  const line = (cells: readonly string[]): string => `| ${cells.map(cell).join(' | ')} |`;
  return [line(headers), line(headers.map(() => '---')), ...rows.map(line)].join('\n');
};

/** What a scenario hands to `run.ts`: prose, a table of figures and its targets. */
export interface ScenarioReport {
  readonly title: string;
  /** How it was measured, in markdown: what runs, how many times, what is compared. */
  readonly method: string;
  /** The figures as a markdown table (see {@link markdownTable}). */
  readonly table: string;
  readonly targets: readonly TargetResult[];
  /** Extra observations in markdown, e.g. where time goes. Default: none. */
  readonly notes?: string;
  readonly elapsedMs: number;
}

let gc: (() => void) | undefined;

/**
 * Runs a full garbage collection. Works without `--expose-gc` on the command line (tsx starts node
 * for us), by turning the flag on at run time and taking `gc` from a fresh context.
 */
export const collectGarbage = (): void => {
  if (!gc) {
    const exposed = (globalThis as { gc?: () => void }).gc;
    if (exposed) gc = exposed;
    else {
      setFlagsFromString('--expose-gc');
      gc = runInNewContext('gc') as () => void;
    }
  }
  gc();
};

/**
 * A full GC, then `sync`: every file system's dirty data written and its journal committed before the
 * next case is timed (decision 145). On this machine the root file system is ext4 mounted with `discard`,
 * so the blocks a case freed (an upload's removed file, a download's temp file) are discarded at the
 * next journal commit, and the dirty pages a case left go out with it: without this, the next case's
 * fsyncs paid for them. Best effort: where there is no `sync` command, or it takes over a minute, the GC
 * alone.
 */
export const settleDisk = (): void => {
  collectGarbage();
  if (platform() === 'win32') return;
  try {
    // Bounded: a `sync` stuck on a network file system must not hang the bench.
    execFileSync('sync', { stdio: 'ignore', timeout: 60_000 });
  } catch {
    // No `sync` here, or it took over a minute: the cases run without it, as they would anywhere else.
  }
};

/** The machine a result was measured on. */
export interface MachineInfo {
  readonly os: string;
  readonly cpu: string;
  readonly cores: number;
  readonly node: string;
}

/** Describes this machine for a results file. */
export const machineInfo = (): MachineInfo => {
  const all = cpus();
  return {
    os: `${platform()} ${release()} ${arch()}`,
    cpu: all[0]?.model.trim() ?? 'unknown',
    cores: all.length,
    node: process.version,
  };
};

/** The commit measured, as `git describe --always --dirty`, or 'unknown' outside a git checkout. */
export const sourceVersion = (cwd: string): string => {
  try {
    return execFileSync('git', ['describe', '--always', '--dirty'], { cwd, encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] }).trim();
  } catch {
    return 'unknown';
  }
};

/** Options of {@link runNodeScript}. */
export interface NodeScriptOptions {
  /** Flags for node before the script. Default: `['--import', 'tsx']`. @example ['--expose-gc', '--import', 'tsx'] */
  readonly nodeArgs?: readonly string[];
  /** Working directory; bare `--import` specifiers resolve from it. Default: this process's. */
  readonly cwd?: string;
  /** Kill the child after this long. Default: 120,000 ms. */
  readonly timeoutMs?: number;
}

/**
 * Runs a script in a fresh node process and resolves with the JSON on the last line of its stdout.
 * Rejects with its stderr if it exits non-zero, prints no JSON, or times out. For measurements that
 * need a process of their own (RSS, `--expose-gc`, a clean heap).
 * @example const figures = await runNodeScript<{ rss: number }>('/abs/child.ts', ['30'], { nodeArgs: ['--expose-gc', '--import', 'tsx'] });
 */
export const runNodeScript = <T>(script: string, args: readonly string[], options: NodeScriptOptions = {}): Promise<T> =>
  new Promise<T>((resolve, reject) => {
    const child = spawn(process.execPath, [...(options.nodeArgs ?? ['--import', 'tsx']), script, ...args], {
      cwd: options.cwd ?? process.cwd(),
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let stdout = '';
    let stderr = '';
    child.stdout.setEncoding('utf8').on('data', (text: string) => {
      stdout += text;
    });
    child.stderr.setEncoding('utf8').on('data', (text: string) => {
      stderr += text;
    });
    const timer = setTimeout(() => child.kill('SIGKILL'), options.timeoutMs ?? 120_000);
    child.on('error', (error) => {
      clearTimeout(timer);
      reject(error);
    });
    child.on('close', (code, signal) => {
      clearTimeout(timer);
      const last = stdout.trim().split('\n').at(-1) ?? '';
      if (code !== 0) return reject(new Error(`${script} exited with ${signal ?? String(code)}:\n${stderr || stdout}`));
      try {
        resolve(JSON.parse(last) as T);
      } catch (error) {
        reject(new Error(`${script} printed no JSON result:\n${stdout}\n${stderr}`, { cause: error }));
      }
    });
  });

// ---------------------------------------------------------------------------------------------------
// Servers in a process of their own.

/** The secret the bench's servers run their hub with, so the bench mints tokens without the hub. */
/**
 * Limits of the benchmark servers: the relay sends 20,000 messages as fast as it can and the runs store
 * gigabytes for one user, so the message rate and the stored-bytes quota are raised (what they measure is
 * raw speed, not a user within the defaults). Every other limit stays at its default.
 */
export const BENCH_LIMITS = { messageRate: { limit: Infinity, windowMs: 3_000 }, storedBytes: 1024 ** 4 } as const;

export const BENCH_SECRET = 'bench-secret';

/** A login token the bench's servers accept (their hub runs with {@link BENCH_SECRET}), valid an hour. */
export const benchToken = (userId: string): string => signToken(utf8(BENCH_SECRET), { userId, expiresAt: Date.now() + 3_600_000 });

/**
 * A script's child mode: when `script` itself runs with `flag` first (`node … script flag args…`), runs
 * `main` with the arguments after the flag; a failure is printed and sets the exit code.
 */
export const childMode = (script: string, flag: string, main: (args: readonly string[]) => Promise<void>): void => {
  if (process.argv[1] === undefined || resolvePath(process.argv[1]) !== script || process.argv[2] !== flag) return;
  main(process.argv.slice(3)).catch((error: unknown) => {
    console.error(error);
    process.exitCode = 1;
  });
};

/**
 * Child side: prints what `start` resolves with as one JSON line, then runs until its stdin ends (the
 * parent's {@link startServersChild} `stop()`), and closes what it started.
 */
export const serveUntilStdinEnds = async <T>(start: () => Promise<{ readonly info: T; close(): Promise<void> }>): Promise<void> => {
  const { info, close } = await start();
  process.stdout.write(`${JSON.stringify(info)}\n`);
  process.stdin.resume();
  await new Promise<void>((done) => process.stdin.once('end', done));
  await close();
};

/**
 * Parent side: runs `node --import tsx <script> <args…>` in `cwd`, resolves with the JSON line it prints
 * first (see {@link serveUntilStdinEnds}); `stop()` ends the child's stdin and waits for it to exit.
 * @example const servers = await startServersChild<{ url: string }>(thisScript, ['--servers-child', folder], root);
 */
export const startServersChild = async <T>(script: string, args: readonly string[], cwd: string): Promise<T & { stop(): Promise<void> }> => {
  const child = spawn(process.execPath, ['--import', 'tsx', script, ...args], { cwd, stdio: ['pipe', 'pipe', 'inherit'] });
  const exited = new Promise<void>((done) => child.once('exit', () => done()));
  const info = await new Promise<T>((done, fail) => {
    let text = '';
    child.stdout.setEncoding('utf8').on('data', (chunk: string) => {
      text += chunk;
      const line = text.split('\n')[0];
      if (text.includes('\n') && line !== undefined) done(JSON.parse(line) as T);
    });
    child.once('exit', (code) => fail(new Error(`${script} exited with ${String(code)} before listening`)));
  });
  return {
    ...info,
    stop: async () => {
      child.stdin.end();
      await exited;
    },
  };
};

// ---------------------------------------------------------------------------------------------------
// Memory of one upload, measured in a child process run with `--expose-gc`.

/** What {@link measureUploadMemory} reports. Bytes, except `uploadMs`. */
export interface UploadMemorySample {
  readonly size: number;
  readonly rssGrowth: number;
  readonly heapGrowth: number;
  readonly arrayBuffersGrowth: number;
  readonly externalGrowth: number;
  /** RSS over the baseline after the upload and a full GC (the allocator may keep freed pages). */
  readonly rssRetained: number;
  /** Array buffers over the baseline after the upload and a full GC: bytes the upload left reachable. */
  readonly arrayBuffersRetained: number;
  readonly samples: number;
  readonly uploadMs: number;
}

/**
 * Full GCs with pauses between them: V8 frees array buffer memory on a background thread after a GC,
 * so on a busy machine a reading taken right after `gc()` can still count freed buffers.
 */
const quiesce = async (gc: () => void): Promise<void> => {
  for (let round = 0; round < 3; round++) {
    gc();
    await new Promise((done) => setTimeout(done, 25));
  }
};

/**
 * Collects garbage, takes the baseline, then samples `process.memoryUsage()` every 5 ms while `upload`
 * runs (it resolves with the size it uploaded, checked against `size`); collects again and reports the
 * peak growth over the baseline and what remains. Needs `--expose-gc`.
 * @example const sample = await measureUploadMemory(size, async () => (await client.createFileMessageByUploading(file).result).size);
 */
export const measureUploadMemory = async (size: number, upload: () => Promise<number>): Promise<UploadMemorySample> => {
  const gc = (globalThis as { gc?: () => void }).gc;
  if (!gc) throw new Error('run with --expose-gc');
  await quiesce(gc);
  const base = process.memoryUsage();
  const peak = { rss: base.rss, heapUsed: base.heapUsed, arrayBuffers: base.arrayBuffers, external: base.external };
  let samples = 0;
  const sample = (): void => {
    const now = process.memoryUsage();
    peak.rss = Math.max(peak.rss, now.rss);
    peak.heapUsed = Math.max(peak.heapUsed, now.heapUsed);
    peak.arrayBuffers = Math.max(peak.arrayBuffers, now.arrayBuffers);
    peak.external = Math.max(peak.external, now.external);
    samples++;
  };
  const sampler = setInterval(sample, 5);
  const started = performance.now();
  let uploaded: number;
  try {
    uploaded = await upload();
  } finally {
    clearInterval(sampler);
  }
  const uploadMs = performance.now() - started;
  sample();
  if (uploaded !== size) throw new Error(`uploaded ${uploaded} of ${size} bytes`);
  await quiesce(gc);
  const after = process.memoryUsage();
  return {
    size,
    rssGrowth: peak.rss - base.rss,
    heapGrowth: peak.heapUsed - base.heapUsed,
    arrayBuffersGrowth: peak.arrayBuffers - base.arrayBuffers,
    externalGrowth: peak.external - base.external,
    rssRetained: after.rss - base.rss,
    arrayBuffersRetained: after.arrayBuffers - base.arrayBuffers,
    samples,
    uploadMs,
  };
};

/** Writes `size` random bytes to a new file at `path`, 1 MiB at a time, so the process never holds the file. */
export const writeRandomFile = async (path: string, size: number): Promise<void> => {
  const handle = await open(path, 'w');
  try {
    const block = new Uint8Array(Math.min(size, 1024 * 1024));
    for (let written = 0; written < size; ) {
      const length = Math.min(block.length, size - written);
      randomFillSync(block, 0, length);
      await writeAll(handle, block.subarray(0, length), written);
      written += length;
    }
  } finally {
    await handle.close();
  }
};
