/**
 * Scenario "Cluster" (issue 14): what a ferry node in front of the shared stores costs, and what the
 * Redis bus costs a message, on loopback.
 *
 * - Upload: 30 MiB from a file path through node A (`httpTransport`, `createFileMessageByUploading(path)`)
 *   against a raw `PutObject` of the same file (`createReadStream(path)`, @aws-sdk/client-s3 configured
 *   as the node's own client) to the same RGW bucket, in the bench process like ferry's client.
 * - Download: the 30 MiB media through node B (`downloadMediaToMemory`, SHA-256 verified) against a raw
 *   `GetObject` of that very media object read into memory.
 * - Relay: N peer messages, a bounded number in flight, alice → bob: on two nodes of the cluster (A → B),
 *   on one node of the same cluster (A → A), and on a single node without Redis or S3 (its own file
 *   store), over HTTP and over WebSocket; msg/s and p99 latency (send → bob's `peerMessages$`), after
 *   an untimed warm-up of each case ({@link PRIMER}), and after a lead-in relay case compared with nothing
 *   ({@link LEAD_IN}).
 * - Fan-out (issue 17): the channel fan-out of `ws-fanout.ts` (200 raw WebSocket members, one sends 2,000
 *   messages) with the members spread over A and B, all on A, and all on the single node; deliveries/s
 *   and the nodes' CPU per delivery.
 *
 * Every node is a `ferry serve` process started as deployed (`bench/cluster-nodes.ts`) with
 * `--limit messageRate=off` (the relay sends thousands of messages at once where a user may send 180
 * per 3 s) and `--limit storedBytes=1024GiB` (as `BENCH_LIMITS` in the other scenarios). The run uses a
 * Redis key prefix and an S3 object prefix of its own and removes both when it ends. Without the
 * services in the environment the scenario reports itself as not run, with the reason.
 * @module
 */
import { randomUUID } from 'node:crypto';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { DeleteObjectCommand, GetObjectCommand, PutObjectCommand } from '@aws-sdk/client-s3';
import { type Client, createClient, textMessage } from '../src/index.js';
import { httpTransport } from '../transports/http.js';
import { wsTransport } from '../transports/ws.js';
import { clusterServices, ensureBenchBucket, removeRedisPrefix, removeS3Prefix, s3ClientOf, type ServeNode, startServeNode } from './cluster-nodes.js';
import { benchToken, checkTarget, fixed, formatRatio, interleave, markdownTable, type ScenarioReport, type TargetResult, writeRandomFile } from './harness.js';
import { type Channel, joinChannel, MEMBERS, sendAll } from './ws-fanout.js';

/** Options of {@link runCluster}. */
export interface ClusterOptions {
  /** Recorded interleaved runs of every case. Default: 5. */
  readonly runs?: number;
  /** Progress lines (one per run). Default: nothing. */
  readonly log?: (line: string) => void;
  /** Where the services are. Default: `process.env` (`FERRY_TEST_*`). */
  readonly env?: NodeJS.ProcessEnv;
}

const MiB = 1024 * 1024;
const SIZE = 30 * MiB;
const MESSAGES = 5_000;
const IN_FLIGHT = 100;
/**
 * Messages each relay case sends untimed, the same way, before it is timed (decision 142). The first
 * HTTP relay case of every run started slow whichever path it took (p50 30–64 ms over its first
 * 1,500–2,000 messages, ~20 ms after them); the next case, on warm paths, did not. With this warm-up the
 * cases' p50s agree; the p99 of whichever compared case ran first still came out higher, which
 * {@link LEAD_IN} takes care of (decision 146). The warm-up's own time and p99 are reported with each
 * case, so its cost stays visible.
 */
const PRIMER = 2_000;
const TITLE = 'Cluster: ferry nodes on Redis and S3 (RGW), loopback';
const LIMIT_FLAGS = ['--limit', 'messageRate=off', '--limit', 'storedBytes=1024GiB'] as const;

const percentile = (values: readonly number[], p: number): number => {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.ceil((p / 100) * sorted.length) - 1)] ?? Number.NaN;
};

/** Runs `count` sends with at most `window` in flight; `send(i)` resolves when message i is delivered. */
const windowed = async (count: number, window: number, send: (i: number) => Promise<void>): Promise<void> => {
  let next = 0;
  const lane = async (): Promise<void> => {
    while (next < count) await send(next++);
  };
  await Promise.all(Array.from({ length: window }, lane));
};

/** Who waits for which message (a plain object, not a churned `Map`: see `ws-transfer.ts`). */
const waiters = () => {
  const table: Record<string, () => void> = Object.create(null) as Record<string, () => void>;
  return {
    add(key: string, waiter: () => void): void {
      table[key] = waiter;
    },
    wake(key: string): void {
      const waiter = table[key];
      delete table[key];
      waiter?.();
    },
  };
};

const RELAYS = ['http A→B', 'http A→A', 'http single', 'ws A→B', 'ws A→A', 'ws single'] as const;
type RelayName = (typeof RELAYS)[number];
/**
 * The case each round runs between the transfers and the relays, on a pair of users of its own, A → A over
 * HTTP, measured like a relay case and compared with nothing (decision 146). Whichever HTTP relay case
 * came first after the transfers paid: its untimed warm-up cost the bench process and node A up to about
 * twice the CPU of the same warm-up one case later, and its timed p99 came out 3–10 ms higher (medians).
 * Listed `A→B, A→A`, the cross-node p99 ratio came out 1.24–1.71× (failing in every full run); listed
 * `A→A, A→B`, 0.76–0.84×. With this case in front, neither compared case is first.
 */
const LEAD_IN = 'http lead-in A→A';
/** A relay case the bench runs: a compared one, or the lead-in. */
type RelayCase = RelayName | typeof LEAD_IN;
const TRANSFERS = ['raw PutObject', 'ferry upload (node A)', 'raw GetObject → memory', 'ferry → memory (node B)'] as const;
const FANOUTS = ['fan-out A+B', 'fan-out A', 'fan-out single'] as const;
/**
 * Messages per fan-out run: a burst shorter than a session's replay on the Redis bus (1,000 deliveries).
 * Nothing paces a sender to the nodes that read its channel's members: a node more than that behind a
 * member's stream finds the deliveries it has not read trimmed and ends the session (`Conflict`, never a
 * gap). A first try with `ws-fanout.ts`'s 2,000 at once on this loaded machine stalled members at 628 to
 * 953 messages.
 */
const FANOUT_MESSAGES = 500;
type FanoutName = (typeof FANOUTS)[number];
type CaseName = (typeof TRANSFERS)[number] | typeof LEAD_IN | RelayName | FanoutName;

const notRun = (reason: string, started: number): ScenarioReport => ({
  title: `${TITLE} — not run`,
  method: 'Needs Redis and an S3 store: `eval "$(scripts/services.sh start)"` before `npm run bench` (`env` instead of `start` when they already run).',
  table: markdownTable(['case', 'figures'], [['all', `not run: ${reason}`]]),
  targets: [],
  notes: `Not run: ${reason}`,
  elapsedMs: performance.now() - started,
});

/** Runs the scenario and reports it; without the services, reports it as not run. */
export const runCluster = async (options: ClusterOptions = {}): Promise<ScenarioReport> => {
  const runs = options.runs ?? 5;
  const log = options.log ?? (() => undefined);
  const started = performance.now();
  const services = clusterServices(options.env ?? process.env);
  if (typeof services === 'string') return notRun(services, started);
  // As `ferry serve` does: the SDK's notice that its 2027 releases need Node 22 is not a result.
  process.env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED ??= 'true';

  const id = randomUUID().slice(0, 8);
  const redisPrefix = `ferry-bench-${id}:`;
  const s3Prefix = `ferry-bench-${id}/`;
  const rawPrefix = `${s3Prefix}raw/`;
  const { bucket } = services.s3;
  const s3 = s3ClientOf(services);
  const folder = await mkdtemp(join(tmpdir(), 'ferry-bench-cluster-'));
  const nodes: ServeNode[] = [];
  const clients: Client[] = [];
  const channels: Channel[] = [];
  try {
    await ensureBenchBucket(s3, bucket);
    const source = join(folder, '30mib.bin');
    await writeRandomFile(source, SIZE);

    const clusterFlags = [
      ...LIMIT_FLAGS,
      '--redis', services.redisUrl,
      '--redis-prefix', redisPrefix,
      '--s3-endpoint', services.s3.endpoint,
      '--s3-bucket', bucket,
      '--s3-prefix', s3Prefix,
    ];
    const awsEnv = { AWS_ACCESS_KEY_ID: services.s3.accessKeyId, AWS_SECRET_ACCESS_KEY: services.s3.secretAccessKey };
    const [nodeA, nodeB, single] = await Promise.all([
      startServeNode(clusterFlags, awsEnv),
      startServeNode(clusterFlags, awsEnv),
      startServeNode(LIMIT_FLAGS, {}),
    ]);
    nodes.push(nodeA, nodeB, single);

    const login = async (node: ServeNode, transport: 'http' | 'ws', userId: string): Promise<Client> => {
      const client = createClient({ transport: transport === 'http' ? httpTransport({ url: node.url }) : wsTransport({ url: node.wsUrl }) });
      await client.login({ userId, token: benchToken(userId) });
      clients.push(client);
      return client;
    };

    // Transfers: alice uploads through A, bob downloads through B (any node serves any media).
    const uploader = await login(nodeA, 'http', 'alice');
    const reader = await login(nodeB, 'http', 'bob');
    const { mediaId } = await uploader.createFileMessageByUploading(source).result;
    const mediaKey = `${s3Prefix}media/${mediaId}`;
    /** Untimed: removes a ferry upload through the tus termination endpoint, so RGW's memory OSD does not fill. */
    const removeMedia = async (node: ServeNode, id: string): Promise<void> => {
      const res = await fetch(`${node.uploadsUrl}/${id}`, { method: 'DELETE', headers: { Authorization: `Bearer ${benchToken('alice')}`, 'Tus-Resumable': '1.0.0' } });
      if (res.status !== 204) throw new Error(`removing ${id}: ${res.status}`);
    };

    // Relays: one sender and one receiver per setup, each its own pair of users.
    const relays = {} as Record<RelayCase, () => Promise<{ value: number; details: Record<string, number> }>>;
    let serial = 0;
    const setups: readonly [RelayCase, 'http' | 'ws', ServeNode, ServeNode][] = [
      [LEAD_IN, 'http', nodeA, nodeA],
      ['http A→B', 'http', nodeA, nodeB],
      ['http A→A', 'http', nodeA, nodeA],
      ['http single', 'http', single, single],
      ['ws A→B', 'ws', nodeA, nodeB],
      ['ws A→A', 'ws', nodeA, nodeA],
      ['ws single', 'ws', single, single],
    ];
    for (const [name, transport, from, to] of setups) {
      const tag = name.replace(/\W+/g, '-');
      const sender = await login(from, transport, `s-${tag}`);
      const receiver = await login(to, transport, `r-${tag}`);
      const delivered = waiters();
      receiver.peerMessages$.subscribe(({ message }) => {
        if (message.messageType === 'TEXT') delivered.wake(message.text);
      });
      /** Sends `count` messages named `${prefix}${i}`, `IN_FLIGHT` at a time; `timed(ms)` hears each one's send-to-delivery time. */
      const relay = (prefix: string, count: number, timed?: (ms: number) => void): Promise<void> =>
        windowed(count, IN_FLIGHT, async (i) => {
          const text = `${prefix}${i}`;
          const s = performance.now();
          const arrived = new Promise<void>((resolve) => delivered.add(text, resolve));
          await sender.sendMessageToPeer(`r-${tag}`, textMessage(text));
          await arrived;
          timed?.(performance.now() - s);
        });
      relays[name] = async () => {
        const run = ++serial;
        const latencies: number[] = [];
        const warmLatencies: number[] = [];
        const w0 = performance.now();
        await relay(`primer-${run}-`, PRIMER, (ms) => warmLatencies.push(ms));
        const warmupMs = performance.now() - w0;
        const t0 = performance.now();
        await relay(`${run}-`, MESSAGES, (ms) => latencies.push(ms));
        const elapsed = performance.now() - t0;
        return {
          value: elapsed,
          details: { rate: MESSAGES / (elapsed / 1000), p99: percentile(latencies, 99), p50: percentile(latencies, 50), warmupMs, warmupP99: percentile(warmLatencies, 99) },
        };
      };
    }

    // Fan-out: the members of a channel spread over A and B (the sender on A), all on A, all on the single node.
    const deliveries = FANOUT_MESSAGES * (MEMBERS - 1);
    const fanoutSetups: readonly [FanoutName, readonly ServeNode[]][] = [
      ['fan-out A+B', [nodeA, nodeB]],
      ['fan-out A', [nodeA]],
      ['fan-out single', [single]],
    ];
    const fanouts = {} as Record<FanoutName, () => Promise<{ value: number; details: Record<string, number> }>>;
    let nextCallId = 1_000;
    for (const [name, servers] of fanoutSetups) {
      const tag = name.replace(/\W+/g, '');
      // A channel per setup: A and B share theirs through the bus, so one channel would have every setup's
      // members, and each send would also go to the members another setup counts (and keep the nodes busy
      // after the case, during the next ones).
      const channel = await joinChannel(
        servers.map((node) => node.wsUrl),
        `f${tag}-`,
        `fanout-${tag}`,
      );
      channels.push(channel);
      let run = 0;
      fanouts[name] = async () => {
        run++;
        const cpuOf = async (): Promise<number> => (await Promise.all(servers.map((node) => node.cpu()))).reduce((a, b) => a + b, 0);
        const cpu0 = await cpuOf();
        const t0 = performance.now();
        const received = channel.allReceived(run * FANOUT_MESSAGES);
        await sendAll(channel, run, nextCallId, FANOUT_MESSAGES);
        await received;
        const elapsed = performance.now() - t0;
        const cpu = (await cpuOf()) - cpu0;
        nextCallId += FANOUT_MESSAGES;
        return { value: elapsed, details: { rate: deliveries / (elapsed / 1000), cpuPerDeliveryUs: cpu / deliveries } };
      };
    }

    const cases: Record<CaseName, () => Promise<void | number | { value: number; details: Record<string, number> }>> = {
      'raw PutObject': async () => {
        const key = `${rawPrefix}put-${++serial}`;
        const t0 = performance.now();
        // The file read whole, then sent as one body: RGW refuses the SDK's streamed upload of a stream
        // body (aws-chunked with a trailing checksum: MissingContentLength). As for the node's parts, the
        // SDK signs the body's SHA-256 (plain http) and adds its CRC32.
        const put = await s3.send(new PutObjectCommand({ Bucket: bucket, Key: key, Body: await readFile(source) }));
        const elapsed = performance.now() - t0;
        if (!put.ETag) throw new Error('PutObject answered no ETag');
        await s3.send(new DeleteObjectCommand({ Bucket: bucket, Key: key }));
        return elapsed;
      },
      'ferry upload (node A)': async () => {
        const t0 = performance.now();
        const message = await uploader.createFileMessageByUploading(source).result;
        const elapsed = performance.now() - t0;
        if (message.size !== SIZE) throw new Error(`ferry uploaded ${message.size} bytes`);
        await removeMedia(nodeA, message.mediaId);
        return elapsed;
      },
      'raw GetObject → memory': async () => {
        const t0 = performance.now();
        const got = await s3.send(new GetObjectCommand({ Bucket: bucket, Key: mediaKey }));
        const chunks: Uint8Array[] = [];
        for await (const chunk of got.Body as AsyncIterable<Uint8Array>) chunks.push(chunk);
        const bytes = Buffer.concat(chunks);
        const elapsed = performance.now() - t0;
        if (bytes.length !== SIZE) throw new Error(`GetObject read ${bytes.length} bytes`);
        return elapsed;
      },
      'ferry → memory (node B)': async () => {
        const bytes = await reader.downloadMediaToMemory(mediaId).result;
        if (bytes.length !== SIZE) throw new Error(`ferry read ${bytes.length} bytes`);
      },
      ...relays,
      ...fanouts,
    };

    const timed = await interleave<CaseName>({
      runs,
      warmup: 1,
      timeoutMs: 120_000,
      cases,
      onRun: ({ name, run, value }) => log(`  ${run === 0 ? 'warm-up' : `run ${run}/${runs}`}  ${name.padEnd(24)} ${fixed(value, 0).padStart(6)} ms`),
    });

    const c = timed.cases;
    const ms = (name: CaseName): number => c[name].median;
    const range = (name: CaseName): string => `${fixed(c[name].min, 0)}–${fixed(c[name].max, 0)}`;
    const mibps = (name: CaseName): number => SIZE / MiB / (ms(name) / 1000);
    const rate = (name: RelayCase): number => c[name].details.rate ?? Number.NaN;
    const p99 = (name: RelayCase): number => c[name].details.p99 ?? Number.NaN;
    const p50 = (name: RelayCase): number => c[name].details.p50 ?? Number.NaN;
    const uploadRatio = mibps('ferry upload (node A)') / mibps('raw PutObject');
    const downloadRatio = mibps('ferry → memory (node B)') / mibps('raw GetObject → memory');
    const transferRow = (name: (typeof TRANSFERS)[number], versus: string): string[] => [name, fixed(ms(name), 0), range(name), `${fixed(mibps(name), 0)} MiB/s${versus}`];
    const fanoutRate = (name: FanoutName): number => c[name].details.rate ?? Number.NaN;
    const fanoutRow = (name: FanoutName): string[] => {
      const versus = name === 'fan-out single' ? '' : `; ${formatRatio(fanoutRate(name) / fanoutRate('fan-out single'))} of single${name === 'fan-out A' ? '' : `, ${formatRatio(fanoutRate(name) / fanoutRate('fan-out A'))} of all on A`}`;
      return [
        `${name}, ${FANOUT_MESSAGES.toLocaleString('en-US')} msgs × ${MEMBERS - 1}`,
        fixed(ms(name), 0),
        range(name),
        `${fixed(fanoutRate(name) / 1000, 0)}k deliveries/s, ${fixed(c[name].details.cpuPerDeliveryUs ?? Number.NaN, 2)} µs node CPU per delivery${versus}`,
      ];
    };
    const relayRow = (name: RelayCase): string[] => {
      const [transport] = name.split(' ');
      const base = `${transport} single` as RelayName;
      const cluster = `${transport} A→A` as RelayName;
      const versus =
        name === LEAD_IN
          ? '; compared with nothing: it runs first so that no compared case does (decision 146)'
          : name === base
            ? ''
            : `; ${formatRatio(rate(name) / rate(base))} of single${name === cluster ? '' : `, ${formatRatio(rate(name) / rate(cluster))} of A→A`}`;
      const warmup = `; untimed warm-up of ${PRIMER.toLocaleString('en-US')}: ${fixed(c[name].details.warmupMs ?? Number.NaN, 0)} ms, p99 ${fixed(c[name].details.warmupP99 ?? Number.NaN, 1)} ms`;
      return [`relay ${name}, ${MESSAGES.toLocaleString('en-US')} msgs`, fixed(ms(name), 0), range(name), `${fixed(rate(name), 0)} msg/s, p50 ${fixed(p50(name), 1)} ms, p99 ${fixed(p99(name), 1)} ms${versus}${warmup}`];
    };
    const table = markdownTable(
      ['case', 'median ms', 'range ms', 'figures'],
      [
        transferRow('raw PutObject', ''),
        transferRow('ferry upload (node A)', `; ferry ÷ raw throughput ${formatRatio(uploadRatio)}`),
        transferRow('raw GetObject → memory', ''),
        transferRow('ferry → memory (node B)', `; ferry ÷ raw throughput ${formatRatio(downloadRatio)}`),
        relayRow(LEAD_IN),
        ...RELAYS.map(relayRow),
        ...FANOUTS.map(fanoutRow),
      ],
    );
    const targets: TargetResult[] = [
      checkTarget({ name: `upload through a node: raw time ÷ ferry time must be ≥ ${fixed(UPLOAD_RATIO, 2)} (is ${fixed(uploadRatio, 2)}); checked as ferry ÷ raw time`, value: 1 / uploadRatio, comparison: '<=', limit: 1 / UPLOAD_RATIO, unit: '×', digits: 3 }),
      checkTarget({ name: `download through a node: raw time ÷ ferry time must be ≥ ${fixed(DOWNLOAD_RATIO, 2)} (is ${fixed(downloadRatio, 2)}); checked as ferry ÷ raw time`, value: 1 / downloadRatio, comparison: '<=', limit: 1 / DOWNLOAD_RATIO, unit: '×', digits: 3 }),
      ...(['http', 'ws'] as const).flatMap((transport) => {
        const cross = `${transport} A→B` as RelayName;
        const same = `${transport} A→A` as RelayName;
        const crossRatio = rate(cross) / rate(same);
        return [
          checkTarget({ name: `${transport} relay across nodes: A→A rate ÷ A→B rate must be ≤ ${fixed(1 / CROSS_RATIO, 2)} (A→B is ${fixed(crossRatio, 2)} of A→A)`, value: 1 / crossRatio, comparison: '<=', limit: 1 / CROSS_RATIO, unit: '×', digits: 2 }),
          checkTarget({ name: `${transport} relay p99 across nodes ÷ p99 on one node of the cluster (A→B ${fixed(p99(cross), 1)} ms, A→A ${fixed(p99(same), 1)} ms)`, value: p99(cross) / p99(same), comparison: '<=', limit: CROSS_P99_RATIO, unit: '×', digits: 2 }),
        ];
      }),
    ];
    return {
      title: TITLE,
      method: [
        `Nodes: three \`ferry serve\` processes (\`node --import tsx src/cli/serve-main.ts --port 0 --data-dir <temp> ${LIMIT_FLAGS.join(' ')}\`, FERRY_SECRET shared, log level warn): A and B with \`--redis ${services.redisUrl} --redis-prefix <run prefix> --s3-endpoint ${services.s3.endpoint} --s3-bucket ${bucket} --s3-prefix <run prefix>\` (AWS_* credentials), and a single node without Redis or S3 (durable file store). \`messageRate=off\`: the relay sends thousands of messages at once where a user may send 180 per 3 s; \`storedBytes=1024GiB\` as the other scenarios' \`BENCH_LIMITS\`. Redis 7 with AOF \`appendfsync always\`; Ceph RGW with one in-memory OSD; all on this machine.`,
        `Clients in the bench process. Upload: \`createFileMessageByUploading(<path of a 30 MiB random file>)\` through \`httpTransport({ url: A })\` vs a raw \`PutObject\` (@aws-sdk/client-s3, path-style, SDK defaults as the node's own client) with \`Body: await readFile(<same path>)\` (timed; RGW refuses the SDK's aws-chunked upload of a stream body), in the bench process too; the SDK signs the body's SHA-256 (plain http) and adds a CRC32, as it does for the node's parts; both objects removed after each run, untimed.`,
        `Download: \`downloadMediaToMemory(<that media>)\` through \`httpTransport({ url: B })\` (SHA-256 verified, the default) vs a raw \`GetObject\` of the very object the node serves (\`<prefix>media/<id>\`) read into one buffer.`,
        `Relay: ${MESSAGES.toLocaleString('en-US')} \`sendMessageToPeer\` with ${IN_FLIGHT} in flight, each timed from send to the receiver's \`peerMessages$\`: sender on A and receiver on B; both on A; both on the single node; over HTTP (\`httpTransport\`) and WebSocket (\`wsTransport\`), a pair of users per setup. Each case first sends ${PRIMER.toLocaleString('en-US')} messages the same way, untimed (its time and p99 are in the row): the first HTTP relay case of a run started slow for about that many, whichever path it took (see \`PRIMER\` in \`bench/cluster.ts\`). Each round runs one more relay case between the transfers and the relays, \`${LEAD_IN}\` (a pair of users of its own, measured the same way, compared with nothing): the first relay case after the transfers paid more CPU and a higher p99 whichever path it took, so none of the compared cases comes first (see \`LEAD_IN\`).`,
        `Fan-out (issue 17): the channel fan-out of \`bench/ws-fanout.ts\` on the nodes: ${MEMBERS} raw \`ws\` sockets (\`batch: true, eventRuns: true\`) join one channel, member i on node i mod n: spread over A and B (the sender, member 0, on A), all on A, all on the single node; the sender sends ${FANOUT_MESSAGES.toLocaleString('en-US')} TEXT messages (a burst shorter than a session's replay of 1,000 on the Redis bus: see \`FANOUT_MESSAGES\`), 100 calls in flight, and the others count them in each frame's bytes. Figures: deliveries/s (${FANOUT_MESSAGES.toLocaleString('en-US')} × ${MEMBERS - 1} ÷ the time from the first send to the last delivery) and the nodes' CPU per delivery (user + system of the \`ferry serve\` processes of the case, from \`/proc/<pid>/stat\`, 10 ms steps). No target: issue 17 asks for the figure.`,
        `${runs} interleaved runs of all ${TRANSFERS.length + 1 + RELAYS.length + FANOUTS.length} cases after 1 warm-up round, full GC before each; medians (rates and p99s: medians of the runs' figures). The run's Redis keys and S3 objects are removed at its end.`,
      ].join('\n'),
      table,
      targets,
      notes: NOTES,
      elapsedMs: performance.now() - started,
    };
  } finally {
    for (const channel of channels) for (const ws of channel.sockets) ws.terminate();
    for (const client of clients) await client.logout().catch(() => undefined);
    await Promise.all(nodes.map((node) => node.stop()));
    const objects = await removeS3Prefix(s3, bucket, s3Prefix).catch((error: unknown) => {
      log(`  clean-up: removing s3://${bucket}/${s3Prefix}* failed: ${String(error)}`);
      return Number.NaN;
    });
    const keys = await removeRedisPrefix(services.redisUrl, redisPrefix).catch((error: unknown) => {
      log(`  clean-up: removing Redis keys ${redisPrefix}* failed: ${String(error)}`);
      return Number.NaN;
    });
    log(`  clean-up: ${String(objects)} S3 objects and ${String(keys)} Redis keys removed`);
    s3.destroy();
    await rm(folder, { recursive: true, force: true });
  }
};

/**
 * Upload speed through a node ÷ raw PutObject speed, at least. What the design costs: the bytes cross
 * one more process (client → node → RGW, on the same 2 cores as RGW), are hashed twice (SHA-256 in the
 * client and in the node; the raw client's SigV4 payload hash is on both sides alike), and reach RGW
 * about twice: 5 MiB parts, plus at the end of each tus PATCH window the rest as a tail object that the
 * next window reads back, then the completion's `CopyObject` of the whole media to `media/<id>`; every
 * part and tail is followed by a compare-and-set write of the record before the offset is acknowledged.
 * With RGW the bottleneck, twice the bytes caps the ratio near 0.5; 0.4 leaves the hop's share.
 */
const UPLOAD_RATIO = 0.4;
/**
 * Download speed through a node ÷ raw GetObject speed, at least: the node streams the object (no
 * copy in S3) and the client verifies the SHA-256; the extra hop shares 2 cores with RGW and the client.
 */
const DOWNLOAD_RATIO = 0.5;
/**
 * Cross-node relay rate ÷ same-node rate in the same cluster, at least: in a cluster every message goes
 * through the receiver's Redis stream whichever node holds the receiver, so across nodes adds only that
 * a second node process reads and delivers it.
 */
const CROSS_RATIO = 0.8;
/**
 * Cross-node p99 ÷ same-node p99 in the cluster, at most. Not an absolute figure: with 100 messages in
 * flight the latency is mostly queueing (p50 ≈ window ÷ rate), so an absolute p99 would measure the
 * window, not the hop.
 */
const CROSS_P99_RATIO = 1.5;

const NOTES = [
  'No target against the single node (information): a cluster makes each message durable in Redis before it acknowledges it (a Lua script appending to the receiver\'s stream, AOF with `appendfsync always`, then read by the receiver\'s node), where a single node keeps its queues in its own memory.',
  'Over HTTP each message is one request, so the HTTP transport is the bottleneck everywhere and the cluster costs little in comparison; over WebSocket the Redis round trips and fsyncs are what is left.',
  'The upload trails raw `PutObject` by design (see the upload target\'s reasoning in `bench/cluster.ts`: about twice the bytes into RGW, two SHA-256s, one more process); the download trails `GetObject` by the hop and the client\'s SHA-256.',
  'The raw `PutObject` reads the file whole first (timed): RGW answers the SDK\'s aws-chunked upload of a stream body with `MissingContentLength`.',
].join(' ');
