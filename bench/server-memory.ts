/**
 * Scenario "server memory under a flood" (issue 12, defects 2 and 3): what one user can make the server
 * hold.
 *
 * - Event stream: bob sends alice 3,000 × 30 KiB messages (88 MiB) over a raw WebSocket while her HTTP
 *   event stream is read by a raw socket that stopped reading (candidate) or by a reader that keeps up
 *   (baseline). The stream hands its socket at most 64 KiB unsent and cuts a reader that falls behind the
 *   replay (1 MiB, 1,000 events); the server keeps 1 MiB of
 *   replay, so its peak growth over the baseline's is bounded by those.
 * - Replay: alice logs in 20 times over HTTP, each session receiving 100 messages while it is the live
 *   one, and never reads a stream: 100 × 30 KiB each (candidate, 59 MiB) or 100 × 30 bytes (baseline:
 *   the same sessions and messages without the bulk). At most 4 sessions of a user (`sessionsPerUser`)
 *   with at most 1 MiB each (`replayBytes`) are kept.
 * - For information, each with the bounds lifted (what the server did before the fix).
 *
 * Every run is a fresh server in a child process (`spec/server/memory-server-child.ts`, shared with the
 * memory specs, as are the raw clients of `spec/server/memory-support.ts`) that reports its RSS: a warm-up
 * flood to another user, full GCs, a baseline, the run, the peak RSS sampled every 5 ms, full GCs again.
 * The message and login rates are lifted (a flood is the point); every other limit is the default.
 * @module
 */
import {
  BIG_TEXT,
  FLOOD_LIMITS,
  growth,
  type Growth,
  httpLogin,
  type MemoryServer,
  readEvents,
  stalledEventStream,
  startMemoryServer,
  warmUp,
  wsClose,
  wsFloodPeer,
  wsLogin,
} from '../spec/server/memory-support.js';
import { checkTarget, fixed, interleave, markdownTable, type Measurement, type ScenarioReport } from './harness.js';

/** Options of {@link runServerMemory}. */
export interface ServerMemoryOptions {
  /** Recorded interleaved runs of every case (each a fresh server). Default: 5. */
  readonly runs?: number;
  /** Progress lines (one per run). Default: nothing. */
  readonly log?: (line: string) => void;
}

const FLOOD = 3_000;
const SESSIONS = 20;
const PER_SESSION = 100;
const SMALL_TEXT = 'x'.repeat(30);
const SLOW_READER_MIB = 8;
const REPLAY_MIB = 1;
const SESSIONS_PER_USER = 4;
/** The stalled stream's peak over the reading one's: its unsent bytes and the replay, plus 8 MiB of garbage. */
const STREAM_EXTRA_LIMIT = SLOW_READER_MIB + REPLAY_MIB + 8;
/** The stalled stream's own peak: the bounds plus slack, half the flood (the specs' bound). */
const STREAM_PEAK_LIMIT = SLOW_READER_MIB + REPLAY_MIB + 39;
/**
 * What 20 sessions of big messages hold over small ones after GC: 4 replays, plus slack. RSS keeps
 * pages the allocator freed after the flood (12 MiB of slack); the heap is the sharp figure (3 MiB).
 */
const REPLAY_RSS_LIMIT = SESSIONS_PER_USER * REPLAY_MIB + 12;
const REPLAY_HEAP_LIMIT = SESSIONS_PER_USER * REPLAY_MIB + 3;
const LIFTED = { slowReaderBytes: 2 ** 40, sessionsPerUser: 1_000, replayBytes: 2 ** 40 } as const;

/** Runs `body` against a fresh server with `limits` over the flood limits; its growth from after the warm-up. */
const onFreshServer = async (lifted: boolean, body: (server: MemoryServer, mark: () => Promise<void>) => Promise<void>): Promise<Growth> => {
  const server = await startMemoryServer({ limits: { ...FLOOD_LIMITS, ...(lifted ? LIFTED : {}) }, ...(lifted ? { idleTimeoutMs: 600_000 } : {}) });
  try {
    await warmUp(server);
    let base: Awaited<ReturnType<MemoryServer['mark']>> | undefined;
    await body(server, async () => {
      base = await server.mark();
    });
    if (!base) throw new Error('the run took no baseline');
    return growth(base, await server.measure());
  } finally {
    await server.stop();
  }
};

const asMeasurement = (grew: Growth, value: number): Measurement => ({
  value,
  details: { peakRss: grew.peakRss, rss: grew.rss, heapUsed: grew.heapUsed },
});

/** Bob floods alice while her stream is read, or stalled. */
const streamCase = (stalled: boolean, lifted = false) => async (): Promise<Measurement> => {
  const grew = await onFreshServer(lifted, async (server, mark) => {
    const alice = await httpLogin(server.url, 'alice');
    const reader = stalled ? undefined : readEvents(server.url, alice, 'peerMessage', FLOOD);
    await reader?.ready;
    const stream = stalled ? await stalledEventStream(server.url, alice) : undefined;
    const bob = await wsLogin(server.wsUrl, 'bob');
    await mark();
    await wsFloodPeer(bob, 'alice', FLOOD, BIG_TEXT);
    await reader?.done;
    await wsClose(bob.ws);
    stream?.socket.destroy();
  });
  return asMeasurement(grew, grew.peakRss);
};

/** Alice's 20 sessions, each sent 100 messages of `text`; measured after GC. */
const replayCase = (text: string, lifted = false) => async (): Promise<Measurement> => {
  const grew = await onFreshServer(lifted, async (server, mark) => {
    const bob = await wsLogin(server.wsUrl, 'bob');
    await mark();
    for (let i = 0; i < SESSIONS; i++) {
      await httpLogin(server.url, 'alice');
      await wsFloodPeer(bob, 'alice', PER_SESSION, text);
    }
    await wsClose(bob.ws);
  });
  return asMeasurement(grew, grew.rss);
};

const CASES = {
  'stream read': streamCase(false),
  'stream stalled': streamCase(true),
  'stream stalled, bound lifted': streamCase(true, true),
  'replay 30 B': replayCase(SMALL_TEXT),
  'replay 30 KiB': replayCase(BIG_TEXT),
  'replay 30 KiB, bounds lifted': replayCase(BIG_TEXT, true),
} as const;

/** Runs the scenario and reports it. */
export const runServerMemory = async (options: ServerMemoryOptions = {}): Promise<ScenarioReport> => {
  const runs = options.runs ?? 5;
  const result = await interleave({
    runs,
    // Every run is a fresh server with its own warm-up flood: the parent's state is no concern of it.
    warmup: 0,
    before: () => undefined,
    timeoutMs: 120_000,
    cases: CASES,
    onRun: ({ name, run, value }) => options.log?.(`  run ${run}/${runs}  ${name.padEnd(28)} +${fixed(value, 1)} MiB`),
  });
  const c = result.cases;
  const streamExtra = c['stream stalled'].median - c['stream read'].median;
  const replayExtra = c['replay 30 KiB'].median - c['replay 30 B'].median;
  const replayHeapExtra = (c['replay 30 KiB'].details.heapUsed ?? Number.NaN) - (c['replay 30 B'].details.heapUsed ?? Number.NaN);
  const row = (name: keyof typeof CASES, what: string, sent: string): string[] => {
    const r = c[name];
    return [
      name,
      sent,
      what,
      fixed(r.median, 1),
      `${fixed(r.min, 1)}–${fixed(r.max, 1)}`,
      fixed(r.details.peakRss ?? Number.NaN, 1),
      fixed(r.details.rss ?? Number.NaN, 1),
      fixed(r.details.heapUsed ?? Number.NaN, 1),
    ];
  };
  const floodSent = `${FLOOD.toLocaleString('en-US')} × 30 KiB`;
  const replaySent = (size: string) => `${SESSIONS} × ${PER_SESSION} × ${size}`;
  return {
    title: 'Server memory under a flood (unread event stream, replay buffers)',
    method: [
      'Every run is a fresh `startServer()` in a child process (`node --expose-gc --min-semi-space-size=16 --import tsx spec/server/memory-server-child.ts`; the young generation starts at its full size so that V8 growing it is not counted as held memory) with the default limits but the message and login rates lifted;',
      'the raw clients (`spec/server/memory-support.ts`) run in the bench process. Each run: a warm-up flood of 1,000 × 30 KiB to another user, full GCs and a baseline, the case, the peak RSS sampled every 5 ms, full GCs, the RSS and heap again.',
      `Event stream: bob sends alice ${floodSent} (88 MiB) over a raw WebSocket, 16 in flight, while her HTTP event stream is read by a client that keeps up (baseline: *stream read*) or by a \`node:net\` socket that sent the GET and paused (*stream stalled*); figure: peak RSS growth.`,
      `Replay: alice logs in ${SESSIONS} times over HTTP, each session sent ${PER_SESSION} messages while it is the live one, no event stream read; messages of 30 bytes (baseline: the same sessions and messages without the bulk) or 30 KiB (59 MiB in all); figure: RSS growth after GC (what is held).`,
      `"Lifted" cases, for information, set \`slowReaderBytes\`, \`replayBytes\` to 2^40 and \`sessionsPerUser\` to 1,000 (the replay then holds its 1,000 events whatever their size). ${runs} interleaved runs of all six cases; medians.`,
    ].join('\n'),
    table: markdownTable(
      ['case', 'sent', 'figure', 'median MiB', 'range MiB', 'peak RSS MiB', 'RSS after GC MiB', 'heap after GC MiB'],
      [
        row('stream read', 'peak RSS growth', floodSent),
        row('stream stalled', 'peak RSS growth', floodSent),
        row('stream stalled, bound lifted', 'peak RSS growth', floodSent),
        row('replay 30 B', 'RSS growth after GC', replaySent('30 B')),
        row('replay 30 KiB', 'RSS growth after GC', replaySent('30 KiB')),
        row('replay 30 KiB, bounds lifted', 'RSS growth after GC', replaySent('30 KiB')),
      ],
    ),
    targets: [
      checkTarget({ name: 'stalled event stream: peak RSS growth (64 KiB unsent + 1 MiB replay + slack)', value: c['stream stalled'].median, comparison: '<', limit: STREAM_PEAK_LIMIT, unit: ' MiB', digits: 1 }),
      checkTarget({ name: 'stalled − read event stream: peak RSS growth', value: streamExtra, comparison: '<=', limit: STREAM_EXTRA_LIMIT, unit: ' MiB', digits: 1 }),
      checkTarget({ name: 'replay of 20 sessions: RSS after GC, 30 KiB − 30 B messages (4 × 1 MiB + slack)', value: replayExtra, comparison: '<=', limit: REPLAY_RSS_LIMIT, unit: ' MiB', digits: 1 }),
      checkTarget({ name: 'replay of 20 sessions: heap after GC, 30 KiB − 30 B messages (4 × 1 MiB + slack)', value: replayHeapExtra, comparison: '<=', limit: REPLAY_HEAP_LIMIT, unit: ' MiB', digits: 1 }),
    ],
    notes: [
      `The stalled stream costs the server ${fixed(streamExtra, 1)} MiB more at its peak than a reader that keeps up (${fixed(c['stream stalled'].median, 1)} against ${fixed(c['stream read'].median, 1)} MiB); with the bound lifted it holds the flood: +${fixed(c['stream stalled, bound lifted'].median, 1)} MiB.`,
      `Twenty sessions of big messages hold ${fixed(replayExtra, 1)} MiB of RSS (${fixed(replayHeapExtra, 1)} MiB of heap) more than twenty of small ones, against +${fixed(c['replay 30 KiB, bounds lifted'].median, 1)} MiB with the bounds lifted.`,
    ].join(' '),
    elapsedMs: result.elapsedMs,
  };
};
