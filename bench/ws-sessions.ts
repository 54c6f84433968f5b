/**
 * Scenario "WebSocket sessions: server memory per logged-in session" (issue 17): 400 raw `ws` sockets log
 * in (`hello` → `welcome`) and stay, against ferry's `startServer` and against the raw `ws` server of
 * `ws-fanout.ts` (which authenticates the same token and keeps a record per socket), each a fresh child
 * per run. The child reports its memory after full GCs before and after the logins; the figure is the
 * growth of the V8 heap in use per 100 sessions. RSS is reported beside it but decides nothing: the
 * heap's pages are committed ahead of use, so 400 raw sessions moved it by 0.03 to 0.56 MiB per 100 from
 * one run to the next, around a heap growth of 0.32. The children run compiled, as deployed
 * (`serverRuntime` in `ws-fanout.ts`; `FERRY_BENCH_SERVER_RUNTIME=tsx` runs them from the sources).
 * @module
 */
import { join } from 'node:path';
import type { WebSocket } from 'ws';
import { checkTarget, fixed, formatRatio, interleave, markdownTable, type Measurement, type ScenarioReport } from './harness.js';
import { rawLogin, type ServerKind, serverRuntimeNote, startServerProcess } from './ws-fanout.js';

/** Options of {@link runWsSessions}. */
export interface WsSessionsOptions {
  /** Recorded interleaved runs of every case (each a fresh server). Default: 5. */
  readonly runs?: number;
  /** Progress lines (one per run). Default: nothing. */
  readonly log?: (line: string) => void;
}

const SESSIONS = 400;
/** Sessions logged in and out first, so the server's code is compiled and its pools warm before the baseline. */
const WARM_UP = 50;
/** Issue 17: ferry's memory per session at most twice the raw server's. */
const RATIO_TARGET = 2;
const MiB = 1024 * 1024;

const loginAll = async (url: string, prefix: string, count: number): Promise<WebSocket[]> => {
  const sockets: WebSocket[] = [];
  for (let i = 0; i < count; i++) sockets.push(await rawLogin(url, `${prefix}${i}`));
  return sockets;
};

const closeAll = async (sockets: readonly WebSocket[]): Promise<void> => {
  await Promise.all(
    sockets.map(
      (ws) =>
        new Promise<void>((done) => {
          ws.once('close', () => done());
          ws.close();
        }),
    ),
  );
};

/** One run: a fresh server child, a warm-up, the baseline, the logins, the memory again; MiB per 100 sessions. */
const sessionsCase = (kind: ServerKind) => async (): Promise<Measurement> => {
  const server = await startServerProcess(kind);
  try {
    await closeAll(await loginAll(server.url, 'warm', WARM_UP));
    const before = await server.memory();
    // FERRY_BENCH_SNAPSHOTS=<folder>: heap snapshots of each child before and after the logins, for a diff.
    const snapshots = process.env.FERRY_BENCH_SNAPSHOTS;
    if (snapshots !== undefined) await server.snapshot(join(snapshots, `${kind}-before.heapsnapshot`));
    const sockets = await loginAll(server.url, 'u', SESSIONS);
    const after = await server.memory();
    if (snapshots !== undefined) await server.snapshot(join(snapshots, `${kind}-after.heapsnapshot`));
    const per100 = (bytes: number): number => ((bytes / SESSIONS) * 100) / MiB;
    await closeAll(sockets);
    return {
      value: per100(after.heapUsed - before.heapUsed),
      details: {
        rss: per100(after.rss - before.rss),
        external: per100(after.external + after.arrayBuffers - before.external - before.arrayBuffers),
      },
    };
  } finally {
    await server.stop();
  }
};

/** Runs the scenario and reports it. */
export const runWsSessions = async (options: WsSessionsOptions = {}): Promise<ScenarioReport> => {
  const runs = options.runs ?? 5;
  const result = await interleave({
    runs,
    warmup: 0,
    before: () => undefined,
    timeoutMs: 120_000,
    cases: { 'raw ws': sessionsCase('raw'), ferry: sessionsCase('ferry') },
    onRun: ({ name, run, value }) => options.log?.(`  run ${run}/${runs}  ${name.padEnd(8)} ${fixed(value, 2)} MiB of heap per 100 sessions`),
  });
  const c = result.cases;
  const ratio = c.ferry.median / c['raw ws'].median;
  const row = (name: 'raw ws' | 'ferry', label: string): string[] => {
    const r = c[name];
    return [label, fixed(r.median, 2), `${fixed(r.min, 2)}–${fixed(r.max, 2)}`, fixed(r.details.rss ?? Number.NaN, 2), fixed(r.details.external ?? Number.NaN, 2)];
  };
  return {
    title: 'WebSocket sessions: server memory per 100 logged-in sessions',
    method: [
      `Each run a fresh server child (\`node --expose-gc --min-semi-space-size=16\`, ${serverRuntimeNote()}, as in \`bench/ws-fanout.ts\`): ferry's \`startServer({ limits: BENCH_LIMITS })\` with the login rate off, or the raw \`ws\` server of the fan-out scenario (the same \`hello\` token verified, a record per socket).`,
      `${WARM_UP} sessions log in and out first; then full GCs and a baseline (\`process.memoryUsage()\` in the child), ${SESSIONS} raw \`ws\` sockets in the bench process log in one after another and stay, full GCs, the memory again. Figure: the growth of the V8 heap in use per 100 sessions (RSS beside it is too coarse to decide: the heap's pages are committed ahead of use). ${runs} interleaved runs; medians.`,
    ].join('\n'),
    table: markdownTable(
      ['server', 'heap MiB / 100 sessions', 'range', 'RSS MiB / 100', 'external + array buffers MiB / 100'],
      [row('raw ws', 'raw `ws`, a record per socket'), row('ferry', 'ferry `startServer`')],
    ),
    targets: [checkTarget({ name: 'memory per logged-in WebSocket session: ferry ÷ raw `ws` (heap)', value: ratio, comparison: '<=', limit: RATIO_TARGET, unit: '×' })],
    notes: `Ferry holds ${fixed(c.ferry.median, 2)} MiB of heap per 100 logged-in sessions against the raw server's ${fixed(c['raw ws'].median, 2)} (${formatRatio(ratio)}); ${fixed((c.ferry.median * MiB) / 100 / 1024, 1)} KiB per session.`,
    elapsedMs: result.elapsedMs,
  };
};
