/**
 * The server's Prometheus metrics: one `prom-client` registry per server (never the library's global
 * one, so many servers in one process each count their own), fed by the hub through a {@link HubMonitor}
 * and by a metered {@link MediaStore} that times every store call and counts the bytes kept and read.
 * The names, labels and meanings are listed in `docs/deploy.md`.
 * @module
 */
import { collectDefaultMetrics, Counter, Gauge, Histogram, Registry } from 'prom-client';
import type { AppendOptions, MediaStore } from '../hub/media-store.js';
import type { HubMonitor, LimitName, TransferOutcome } from '../hub/monitor.js';

/** The store operations timed in `ferry_store_operation_duration_seconds`. */
export type StoreOp = 'create' | 'append' | 'complete' | 'stat' | 'read' | 'delete';

/** Options of {@link serverMetrics}. */
export interface ServerMetricsOptions {
  /**
   * Monotonic time in milliseconds, for store latencies. Default: `performance.now`.
   * @example { now: () => clock.now() }
   */
  readonly now?: () => number;
}

/** The metrics of one server. */
export interface ServerMetrics {
  /** What the hub calls as things happen (`HubOptions.monitor`). */
  readonly monitor: HubMonitor;
  /**
   * The same store, each call of `create`, `append`, `complete`, `stat`, `read` and `delete` timed and
   * the bytes appended and read counted. Everything else of `store` (a file store's `close`, `probe`,
   * `dataDir`) is reached unchanged through the prototype.
   */
  meter<S extends MediaStore>(store: S): S;
  /** The text exposition of every metric, for `GET /metrics`. */
  scrape(): Promise<{ readonly contentType: string; readonly body: string }>;
}

/** Every limit, so each refusal counter exists (at 0) before its first refusal and `rate()` sees it start. */
const LIMITS = Object.keys({
  unfinishedUploads: 0,
  storedBytes: 0,
  diskReserve: 0,
  messageRate: 0,
  loginRate: 0,
  channelsJoined: 0,
  joinRate: 0,
  sessionsPerUser: 0,
  connectionsPerAddress: 0,
  transfersPerUser: 0,
  slowReader: 0,
  offlineMessages: 0,
  presenceQueryRate: 0,
  presenceSubscribeRate: 0,
  presenceSubscriptions: 0,
  memberCountRate: 0,
} satisfies Record<LimitName, 0>) as LimitName[];

const DIRECTIONS = ['upload', 'download'] as const;
const OUTCOMES = Object.keys({ done: 0, partial: 0, cancelled: 0, failed: 0 } satisfies Record<TransferOutcome, 0>) as TransferOutcome[];
const OPS: readonly StoreOp[] = ['create', 'append', 'complete', 'stat', 'read', 'delete'];

/** From a fast stat (sub-millisecond) to a slow fsync on a loaded disk. */
const LATENCY_BUCKETS = [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10];

/**
 * The chunks of `source`, calling `ended` when the source reports its end: a thin iterator, not a
 * generator, so the hot path gains one promise reaction per chunk and nothing else.
 */
const watchingEnd = (source: AsyncIterable<Uint8Array>, ended: () => void): AsyncIterable<Uint8Array> => ({
  [Symbol.asyncIterator]() {
    const inner = source[Symbol.asyncIterator]();
    return {
      next: () =>
        inner.next().then((result) => {
          if (result.done) ended();
          return result;
        }),
      return: (value?: unknown) => inner.return?.(value) ?? Promise.resolve({ done: true as const, value: undefined }),
    };
  },
});

/**
 * Creates the metrics of one server on a registry of its own.
 * @example
 * const metrics = serverMetrics();
 * const hub = createHub({ store: metrics.meter(await fileStore({ dataDir })), monitor: metrics.monitor });
 * // GET /metrics → (await metrics.scrape()).body
 */
export const serverMetrics = (options: ServerMetricsOptions = {}): ServerMetrics => {
  const now = options.now ?? (() => performance.now());
  const registry = new Registry();
  const registers = [registry];

  const sessions = new Gauge({ name: 'ferry_sessions', help: 'Logged-in sessions at the hub, over every transport.', registers });
  const lost = new Counter({
    name: 'ferry_sessions_lost_total',
    help: 'Sessions ended because the deliveries their client had not seen were no longer kept: a client back too late, or a node that read a shared bus more than the replay behind.',
    registers,
  });
  const active = new Gauge({ name: 'ferry_transfers_active', help: 'Uploads (appends) and downloads (reads) running now.', labelNames: ['direction'], registers });
  const transfers = new Counter({
    name: 'ferry_transfers_total',
    help: 'Appends and reads ended, by direction and outcome (done: reached the end; partial: stopped short without error; cancelled; failed).',
    labelNames: ['direction', 'outcome'],
    registers,
  });
  const received = new Counter({ name: 'ferry_received_bytes_total', help: 'Bytes of uploads written to the store.', registers });
  const sent = new Counter({ name: 'ferry_sent_bytes_total', help: 'Bytes of media read from the store for downloads.', registers });
  const messages = new Counter({ name: 'ferry_messages_total', help: 'Messages accepted by the hub, by kind (peer, channel).', labelNames: ['kind'], registers });
  const deliveries = new Counter({
    name: 'ferry_message_deliveries_total',
    help: 'Messages handed to receiving sessions (a channel message counts once per receiver), by kind.',
    labelNames: ['kind'],
    registers,
  });
  const refusals = new Counter({ name: 'ferry_refusals_total', help: 'Requests refused by a limit, by limit.', labelNames: ['limit'], registers });
  const latency = new Histogram({
    name: 'ferry_store_operation_duration_seconds',
    help: 'Time spent in store operations, by op; append: from the last byte received to the answer; read: until the first chunk.',
    labelNames: ['op'],
    buckets: LATENCY_BUCKETS,
    registers,
  });
  for (const direction of DIRECTIONS) {
    active.set({ direction }, 0);
    for (const outcome of OUTCOMES) transfers.inc({ direction, outcome }, 0);
  }
  for (const kind of ['peer', 'channel']) {
    messages.inc({ kind }, 0);
    deliveries.inc({ kind }, 0);
  }
  for (const limit of LIMITS) refusals.inc({ limit }, 0);
  for (const op of OPS) latency.zero({ op });

  // Registered on the first scrape, not at start: the event-loop and GC probes they install are never
  // removed, and the many servers a spec run starts are never scraped (decision 67).
  let processMetrics = false;

  const monitor: HubMonitor = {
    sessionOpened: () => sessions.inc(),
    sessionClosed: () => sessions.dec(),
    sessionLost: () => lost.inc(),
    transferStarted: (direction) => active.inc({ direction }),
    transferEnded: (direction, outcome) => {
      active.dec({ direction });
      transfers.inc({ direction, outcome });
    },
    messageDelivered: (kind, receivers) => {
      messages.inc({ kind });
      deliveries.inc({ kind }, receivers);
    },
    refused: (limit) => refusals.inc({ limit }),
  };

  /** Observes the time since `startedAt` once the operation settles, whatever its outcome. */
  const timed = <T>(op: StoreOp, run: () => Promise<T>): Promise<T> => {
    const startedAt = now();
    const observe = (): void => latency.observe({ op }, (now() - startedAt) / 1000);
    return run().finally(observe);
  };

  async function* timedRead(chunks: AsyncIterable<Uint8Array>): AsyncIterable<Uint8Array> {
    const startedAt = now();
    let first = true;
    const observe = (): void => {
      first = false;
      latency.observe({ op: 'read' }, (now() - startedAt) / 1000);
    };
    try {
      for await (const chunk of chunks) {
        if (first) observe();
        sent.inc(chunk.length);
        yield chunk;
      }
    } finally {
      // An empty read, or one that failed before its first chunk, is timed to its end.
      if (first) observe();
    }
  }

  const meter = <S extends MediaStore>(store: S): S => {
    const metered: MediaStore = {
      create: (meta, at) => timed('create', () => store.create(meta, at)),
      append(mediaId, offset, chunks, appendOptions) {
        // The time the client waits after its last byte: what is still being written, and the record.
        // Before that the duration is the client's sending, not the store's latency; an append that
        // ends before its source (aborted, failed) is not timed.
        let endedAt: number | undefined;
        let counted = offset;
        const options: AppendOptions = {
          ...appendOptions,
          onAppended: (reached) => {
            received.inc(reached - counted);
            counted = reached;
            appendOptions.onAppended?.(reached);
          },
        };
        const observe = (): void => {
          if (endedAt !== undefined) latency.observe({ op: 'append' }, (now() - endedAt) / 1000);
        };
        const source = watchingEnd(chunks, () => {
          endedAt ??= now();
        });
        return store.append(mediaId, offset, source, options).finally(observe);
      },
      complete: (mediaId, at) => timed('complete', () => store.complete(mediaId, at)),
      stat: (mediaId) => timed('stat', () => store.stat(mediaId)),
      read: (mediaId, offset, signal, into) => timedRead(store.read(mediaId, offset, signal, into)),
      delete: (mediaId) => timed('delete', () => store.delete(mediaId)),
      list: () => store.list(),
    };
    return Object.assign(Object.create(store) as S, metered);
  };

  return {
    monitor,
    meter,
    async scrape() {
      if (!processMetrics) {
        processMetrics = true;
        collectDefaultMetrics({ register: registry });
      }
      return { contentType: registry.contentType, body: await registry.metrics() };
    },
  };
};
