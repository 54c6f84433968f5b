/**
 * The operator's endpoints: `GET /healthz` (the process serves), `GET /readyz` (it should be sent
 * traffic: the store is writable and it is not draining) and `GET /metrics` (Prometheus text). They
 * take no token, so a deployment exposes them only to its probes and its scraper (`metricsPort`).
 * @module
 */
import type { ServerResponse } from 'node:http';
import { Failure } from '../core/failure.js';
import { type Route, sendFailure } from './http-util.js';
import type { ServerMetrics } from './metrics.js';

/** Whether the server should be sent traffic, and if not, why. */
export type Readiness = { readonly state: 'ready' } | { readonly state: 'unready'; readonly reason: string };

/** Options of {@link readinessCheck}. */
export interface ReadinessCheckOptions {
  /** Proves the store writable; rejects when it is not (e.g. `FileStore.probe`). */
  readonly probe: () => Promise<void>;
  /** Time in milliseconds. Default: `Date.now`. @example { now: () => clock.now() } */
  readonly now?: () => number;
  /** How long a result answers further checks: a flood of probes costs one write. Default: 1,000 ms. */
  readonly cacheMs?: number;
}

/** A cached readiness probe. */
export interface ReadinessCheck {
  /** The latest result if younger than `cacheMs` (a probe still running included), else a new probe's. */
  check(): Promise<Readiness>;
}

/**
 * Caches the store probe's result for `cacheMs`; concurrent checks share one probe.
 * @example
 * const readiness = readinessCheck({ probe: () => store.probe() });
 * (await readiness.check()).state; // 'ready'
 */
export const readinessCheck = (options: ReadinessCheckOptions): ReadinessCheck => {
  const now = options.now ?? Date.now;
  const cacheMs = options.cacheMs ?? 1_000;
  let latest: { readonly at: number; readonly result: Promise<Readiness> } | undefined;
  return {
    check() {
      const at = now();
      if (latest && at - latest.at < cacheMs) return latest.result;
      const result = options.probe().then(
        (): Readiness => ({ state: 'ready' }),
        (error: unknown): Readiness => ({ state: 'unready', reason: `the store is not writable: ${error instanceof Error ? error.message : String(error)}` }),
      );
      latest = { at, result };
      return result;
    },
  };
};

/** Options of {@link opsRoutes}. */
export interface OpsRoutesOptions {
  readonly readiness: ReadinessCheck;
  readonly metrics: ServerMetrics;
  /** Why the server refuses traffic regardless of its store (draining), or `undefined`. */
  readonly stopping: () => string | undefined;
}

const sendJson = (res: ServerResponse, status: number, body: unknown, head: boolean): void => {
  const json = Buffer.from(JSON.stringify(body));
  res.writeHead(status, { 'Content-Type': 'application/json; charset=utf-8', 'Content-Length': String(json.length), 'Cache-Control': 'no-store' });
  res.end(head ? undefined : json);
};

/** One GET-only route at exactly `prefix`. */
const getOnly = (prefix: string, answer: (res: ServerResponse, head: boolean) => Promise<void> | void): Route => ({
  prefix,
  async handle(exchange) {
    const { method, res, segments } = exchange;
    if (segments.length > 0) return sendFailure(exchange, Failure.notExist(`route ${prefix}/${segments.join('/')}`));
    if (method !== 'GET' && method !== 'HEAD') {
      return sendFailure(exchange, Failure.invalidArgument('method', `${method} is not allowed here`), { Allow: 'GET, HEAD' }, 405);
    }
    await answer(res, method === 'HEAD');
  },
});

/** `/healthz`, `/readyz` and `/metrics`, as route modules of the main server or of the metrics port's. */
export const opsRoutes = ({ readiness, metrics, stopping }: OpsRoutesOptions): Route[] => [
  getOnly('/healthz', (res, head) => sendJson(res, 200, { alive: true }, head)),
  getOnly('/readyz', async (res, head) => {
    const reason = stopping();
    const ready: Readiness = reason === undefined ? await readiness.check() : { state: 'unready', reason };
    // Stopping may have begun while the probe ran.
    const now = stopping();
    const result: Readiness = now === undefined ? ready : { state: 'unready', reason: now };
    if (result.state === 'ready') sendJson(res, 200, { ready: true }, head);
    else sendJson(res, 503, { ready: false, reason: result.reason }, head);
  }),
  getOnly('/metrics', async (res, head) => {
    const { contentType, body } = await metrics.scrape();
    const bytes = Buffer.from(body);
    res.writeHead(200, { 'Content-Type': contentType, 'Content-Length': String(bytes.length), 'Cache-Control': 'no-store' });
    res.end(head ? undefined : bytes);
  }),
];
