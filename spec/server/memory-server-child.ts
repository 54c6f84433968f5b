/**
 * The real server in a process of its own, so a spec can read its memory apart from the test runner's:
 * `node --expose-gc --import tsx spec/server/memory-server-child.ts '<options JSON>'`, where the JSON is
 * `{ secret, idleTimeoutMs?, wsGraceMs?, limits? }` (`Infinity` written as the string "Infinity").
 *
 * Prints `{"memoryServer": {"url": …, "wsUrl": …}}` once it listens, then answers one command a line on
 * stdin with one JSON line on stdout:
 * - `mark`: full GCs, then the RSS now becomes the baseline and the peak starts again from it;
 * - `measure`: the peak RSS since `mark` (sampled every 5 ms) and, after full GCs, the RSS now.
 * Bytes throughout. Closes the server and exits when stdin ends.
 */
import { createInterface } from 'node:readline';
import { startServer } from '../../src/server/server.js';
import type { ServerLimits } from '../../src/server/server-limits.js';

/** What the parent passes. */
export interface MemoryServerOptions {
  readonly secret: string;
  readonly idleTimeoutMs?: number;
  readonly wsGraceMs?: number;
  readonly limits?: Partial<ServerLimits>;
}

/** The answer to `mark` and `measure`. */
export interface MemoryReading {
  /** RSS after full GCs, now. */
  readonly rss: number;
  /** Highest RSS sampled since the last `mark`. */
  readonly peakRss: number;
  readonly heapUsed: number;
  readonly arrayBuffers: number;
}

const gc = (globalThis as { gc?: () => void }).gc;
if (!gc) throw new Error('run with --expose-gc');
const given = process.argv[2];
if (!given) throw new Error("usage: memory-server-child.ts '<options JSON>'");
const options = JSON.parse(given, (_key, value: unknown) => (value === 'Infinity' ? Infinity : value)) as MemoryServerOptions;

const server = await startServer({
  port: 0,
  secret: options.secret,
  logLevel: 'error',
  ...(options.idleTimeoutMs === undefined ? {} : { idleTimeoutMs: options.idleTimeoutMs }),
  ...(options.wsGraceMs === undefined ? {} : { wsGraceMs: options.wsGraceMs }),
  ...(options.limits === undefined ? {} : { limits: options.limits }),
});

let peakRss = 0;
const sampler = setInterval(() => {
  peakRss = Math.max(peakRss, process.memoryUsage.rss());
}, 5);

/** V8 frees array buffers on a background thread after a GC: pauses between rounds let it finish. */
const quiesce = async (): Promise<void> => {
  for (let round = 0; round < 3; round++) {
    gc();
    await new Promise((done) => setTimeout(done, 20));
  }
};
const reading = (): MemoryReading => {
  const now = process.memoryUsage();
  return { rss: now.rss, peakRss: Math.max(peakRss, now.rss), heapUsed: now.heapUsed, arrayBuffers: now.arrayBuffers };
};

process.stdout.write(`${JSON.stringify({ memoryServer: { url: server.url, wsUrl: server.wsUrl } })}\n`);
const lines = createInterface({ input: process.stdin });
for await (const line of lines) {
  const command = line.trim();
  if (command === 'mark') {
    await quiesce();
    peakRss = process.memoryUsage.rss();
    process.stdout.write(`${JSON.stringify(reading())}\n`);
  } else if (command === 'measure') {
    const peak = Math.max(peakRss, process.memoryUsage.rss());
    await quiesce();
    process.stdout.write(`${JSON.stringify({ ...reading(), peakRss: peak })}\n`);
  } else {
    process.stdout.write(`${JSON.stringify({ error: `unknown command ${JSON.stringify(command)}` })}\n`);
  }
}
clearInterval(sampler);
await server.close();
