/**
 * Model-based property (fc.commands) of the client's scheduling and cancellation rules, against a tiny
 * model that predicts every task's state exactly: FIFO, cap 9, idle timeouts on virtual time, cancel and
 * failure at any point, `'queue'` and `'reject'` overflow. The real system is a client over the memory
 * transport, wrapped so each chunk of each task waits for the test to release (or fail) it.
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { abortFault } from '../../src/core/abort.js';
import { type Client, createClient, createHub, type FerryError, type Hub, memoryStore, type MemoryStore, memoryTransport, type TransferState, virtualClock, type VirtualClock } from '../../src/index.js';
import { Failure, fault } from '../../src/core/failure.js';
import { nobleSha256 } from '../../src/core/hash.js';
import type { Session, Transport } from '../../transports/transport.js';
import { fcOptions } from './support.js';

const CHUNK = 64 * 1024;
const IDLE_MS = 60_000;
const CAP = 9;
const MAX_TASKS = 40;

type Final = 'done' | 'cancelled' | 'failed';
interface ModelTask {
  readonly kind: 'upload' | 'download';
  state: TransferState;
  chunksLeft: number;
  idleSince: number;
  code?: number;
}
interface Model {
  readonly overflow: 'queue' | 'reject';
  now: number;
  tasks: ModelTask[];
  queue: number[];
  startOrder: number[];
}

interface RealTask {
  readonly requestId: number;
  readonly cancel: () => Promise<void>;
  states: TransferState[];
  outcome: { ok: true } | { ok: false; error: FerryError } | undefined;
  mediaId: string | undefined;
  progressAfterFinal: number;
}
interface Real {
  readonly clock: VirtualClock;
  readonly hub: Hub;
  readonly store: MemoryStore;
  readonly client: Client;
  readonly tasks: RealTask[];
  readonly startOrder: number[];
  readonly gates: Map<number, { resolve: () => void; reject: (e: unknown) => void }>;
  readonly downloadOwner: Map<string, number>;
}

/** The index of the task an upload belongs to, written in its first four bytes. */
const sourceFor = (index: number, chunks: number): Uint8Array => {
  const bytes = new Uint8Array((chunks - 1) * CHUNK + 4 + (index % 97));
  new DataView(bytes.buffer).setUint32(0, index);
  return bytes;
};

/** Wraps the memory transport so every chunk of every task waits in `gates` under its task index. */
const gatedTransport = (inner: Transport, real: () => Real): Transport => ({
  async connect(credentials, options) {
    const session = await inner.connect(credentials, options);
    const gate = (task: number, signal: AbortSignal): Promise<void> =>
      new Promise((resolve, reject) => {
        const onAbort = (): void => {
          real().gates.delete(task);
          reject(abortFault(signal));
        };
        if (signal.aborted) return onAbort();
        signal.addEventListener('abort', onAbort, { once: true });
        real().gates.set(task, {
          resolve: () => {
            signal.removeEventListener('abort', onAbort);
            resolve();
          },
          reject: (e) => {
            signal.removeEventListener('abort', onAbort);
            reject(e);
          },
        });
      });
    async function* gated(task: () => number, chunks: AsyncIterable<Uint8Array>, signal: AbortSignal) {
      for await (const chunk of chunks) {
        await gate(task(), signal);
        yield chunk;
      }
    }
    const wrapped: Session = {
      ...session,
      appendUpload(uploadId, offset, source, opts) {
        let index = -1;
        async function* tagged(chunks: AsyncIterable<Uint8Array>) {
          for await (const chunk of chunks) {
            if (index < 0) index = new DataView(chunk.buffer, chunk.byteOffset).getUint32(0);
            yield chunk;
          }
        }
        const gatedSource = {
          size: source.size,
          chunks: (from: number, chunkSize: number, signal: AbortSignal) => gated(() => index, tagged(source.chunks(from, chunkSize, signal)), signal),
        };
        return session.appendUpload(uploadId, offset, gatedSource, opts);
      },
      readMedia(mediaId, offset, opts) {
        const owner = real().downloadOwner.get(mediaId) ?? -1;
        return gated(() => owner, session.readMedia(mediaId, offset, opts), opts.signal);
      },
    };
    return wrapped;
  },
});

const settle = async (): Promise<void> => {
  for (let i = 0; i < 8; i++) await new Promise((resolve) => setImmediate(resolve));
};

const active = (m: Model): number => m.tasks.filter((t) => t.state === 'transferring').length;
const transferring = (m: Model): number[] => m.tasks.flatMap((t, i) => (t.state === 'transferring' ? [i] : []));

/** Starts queued tasks while slots are free, FIFO, at the model's current time. */
const promote = (m: Model): void => {
  while (m.queue.length > 0 && active(m) < CAP) {
    const index = m.queue.shift() as number;
    const task = m.tasks[index] as ModelTask;
    task.state = 'transferring';
    task.idleSince = m.now;
    m.startOrder.push(index);
  }
};
const end = (m: Model, index: number, state: Final, code?: number): void => {
  const task = m.tasks[index] as ModelTask;
  task.state = state;
  if (code !== undefined) task.code = code;
  m.queue = m.queue.filter((i) => i !== index);
};

/** Compares every task of the real system with the model. */
const agree = (m: Model, r: Real): void => {
  expect(r.tasks.length).toBe(m.tasks.length);
  m.tasks.forEach((t, i) => {
    const real = r.tasks[i] as RealTask;
    expect({ task: i, state: real.states.at(-1) }).toEqual({ task: i, state: t.state });
    const finals = real.states.filter((s) => s === 'done' || s === 'cancelled' || s === 'failed');
    expect(finals.length).toBeLessThanOrEqual(1);
    if (t.state === 'done') expect(real.outcome).toEqual({ ok: true });
    if (t.state === 'cancelled' || t.state === 'failed') {
      expect(real.outcome?.ok).toBe(false);
      expect((real.outcome as { error: FerryError }).error.code).toBe(t.state === 'cancelled' ? 6 : t.code);
      expect(real.mediaId).toBeUndefined();
    }
    expect(real.progressAfterFinal).toBe(0);
  });
  expect(r.tasks.filter((t) => t.states.at(-1) === 'transferring').length).toBeLessThanOrEqual(CAP);
  expect(r.startOrder).toEqual(m.startOrder);
};

const track = (r: Real, index: number, task: ReturnType<Client['downloadMediaToMemory']> | ReturnType<Client['createFileMessageByUploading']>): void => {
  const real: RealTask = { requestId: task.requestId, cancel: task.cancel, states: [], outcome: undefined, mediaId: undefined, progressAfterFinal: 0 };
  r.tasks[index] = real;
  task.state$.subscribe((s) => {
    real.states.push(s);
    if (s === 'transferring') r.startOrder.push(index);
  });
  task.progress$.subscribe(() => {
    if (real.states.some((s) => s === 'cancelled' || s === 'failed')) real.progressAfterFinal++;
  });
  (task.result as Promise<unknown>).then(
    (value) => {
      real.outcome = { ok: true };
      if (value && typeof value === 'object' && 'mediaId' in value) real.mediaId = String(value.mediaId);
    },
    (error: FerryError) => {
      real.outcome = { ok: false, error };
    },
  );
};

type Cmd = fc.AsyncCommand<Model, Real>;

const start = (kind: 'upload' | 'download', chunks: number): Cmd => ({
  check: (m) => m.tasks.length < MAX_TASKS,
  async run(m, r) {
    const index = m.tasks.length;
    const t: ModelTask = { kind, state: 'pending', chunksLeft: chunks, idleSince: m.now };
    m.tasks.push(t);
    if (kind === 'upload') {
      track(r, index, r.client.createFileMessageByUploading(sourceFor(index, chunks)));
    } else {
      const size = (chunks - 1) * CHUNK + 1 + (index % 89);
      const created = await r.hub.createUpload('seeder', { size, fileName: `m${index}` });
      await r.hub.appendUpload('seeder', created.uploadId, 0, (async function* () { yield new Uint8Array(size); })());
      r.downloadOwner.set(created.uploadId, index);
      track(r, index, r.client.downloadMediaToMemory(created.uploadId));
    }
    if (m.overflow === 'reject' && active(m) >= CAP) end(m, index, 'failed', 5);
    else {
      m.queue.push(index);
      promote(m);
    }
    await settle();
    agree(m, r);
  },
  toString: () => `start ${kind} of ${chunks} chunk(s)`,
});

const completeChunk = (pick: number): Cmd => ({
  check: (m) => active(m) > 0,
  async run(m, r) {
    const index = transferring(m)[pick % active(m)] as number;
    const t = m.tasks[index] as ModelTask;
    await settle();
    r.gates.get(index)?.resolve();
    r.gates.delete(index);
    t.chunksLeft--;
    t.idleSince = m.now;
    if (t.chunksLeft === 0) {
      end(m, index, 'done');
      promote(m);
    }
    await settle();
    agree(m, r);
  },
  toString: () => `complete a chunk of transferring #${pick}`,
});

const failChunk = (pick: number): Cmd => ({
  check: (m) => active(m) > 0,
  async run(m, r) {
    const index = transferring(m)[pick % active(m)] as number;
    await settle();
    r.gates.get(index)?.reject(fault(Failure.unknown('injected failure')));
    r.gates.delete(index);
    end(m, index, 'failed', 1);
    promote(m);
    await settle();
    agree(m, r);
  },
  toString: () => `fail transferring #${pick}`,
});

const cancel = (pick: number, unknown: boolean): Cmd => ({
  check: (m) => unknown || m.tasks.length > 0,
  async run(m, r) {
    if (unknown) {
      const error = await r.client.cancelMediaDownload(10_000 + pick).then(() => undefined, (e: FerryError) => e);
      expect(error).toMatchObject({ name: 'CancelError', code: 2 });
      return;
    }
    const index = pick % m.tasks.length;
    const t = m.tasks[index] as ModelTask;
    const real = r.tasks[index] as RealTask;
    const outcome = await real.cancel().then(() => 'ok', (e: FerryError) => e.code);
    if (t.state === 'pending' || t.state === 'transferring') {
      expect(outcome).toBe('ok');
      end(m, index, 'cancelled');
      promote(m);
    } else expect(outcome).toBe(2);
    await settle();
    agree(m, r);
  },
  toString: () => (unknown ? `cancel unknown request` : `cancel task #${pick}`),
});

const tick = (ms: number): Cmd => ({
  check: () => true,
  async run(m, r) {
    const target = m.now + ms;
    for (const index of transferring(m)) {
      if ((m.tasks[index] as ModelTask).idleSince + IDLE_MS <= target) end(m, index, 'failed', 3);
    }
    m.now = target;
    r.clock.advance(ms);
    // Tasks promoted by timeouts start once the synchronous advance returns, at the target time.
    promote(m);
    await settle();
    agree(m, r);
  },
  toString: () => `advance ${ms} ms`,
});

const commands = fc.commands(
  [
    // Starts are weighted up so runs often fill all nine slots and queue behind them.
    ...[1, 2, 3].map(() => fc.integer({ min: 1, max: 3 }).map((c) => start('upload', c))),
    ...[1, 2, 3].map(() => fc.integer({ min: 1, max: 3 }).map((c) => start('download', c))),
    fc.nat(40).map(completeChunk),
    fc.nat(40).map(completeChunk),
    fc.nat(40).map(completeChunk),
    fc.nat(40).map(failChunk),
    fc.tuple(fc.nat(60), fc.boolean()).map(([p, u]) => cancel(p, u)),
    fc.integer({ min: 1, max: 40_000 }).map(tick),
  ],
  { maxCommands: 70 },
);

const setup = async (overflow: 'queue' | 'reject'): Promise<{ model: Model; real: Real }> => {
  const clock = virtualClock(0);
  const store = memoryStore();
  const hub = createHub({ clock, store });
  let real: Real | undefined;
  const transport = gatedTransport(memoryTransport(hub), () => real as Real);
  // The hasher is given, not loaded on demand, so no module load (real I/O) sits between the model's steps.
  const client = createClient({ transport, clock, idleTimeoutMs: IDLE_MS, overflow, progressIntervalMs: 0, createHasher: nobleSha256 });
  await client.login({ userId: 'alice', token: hub.issueToken('alice') });
  real = { clock, hub, store, client, tasks: [], startOrder: [], gates: new Map(), downloadOwner: new Map() };
  return { model: { overflow, now: 0, tasks: [], queue: [], startOrder: [] }, real };
};

describe('model: scheduling and cancellation', () => {
  it.each(['queue', 'reject'] as const)(
    "with overflow '%s', every run agrees with the model: cap 9, FIFO, one final state, cancels and timeouts as predicted",
    async (overflow) => {
      await fc.assert(
        fc.asyncProperty(commands, async (cmds) => {
          const { model, real } = await setup(overflow);
          try {
            await fc.asyncModelRun(() => ({ model, real }), cmds);
            // Nothing of a cancelled or failed upload stays on the hub: what is stored is what was seeded or done.
            const done = model.tasks.filter((t) => t.kind === 'upload' && t.state === 'done').length;
            const seeded = model.tasks.filter((t) => t.kind === 'download').length;
            await real.client.logout();
            await settle();
            let stored = 0;
            for await (const _ of real.store.list()) stored++;
            expect(stored).toBe(done + seeded);
          } finally {
            real.hub.close();
          }
        }),
        fcOptions(1000),
      );
    },
    240_000,
  );
});
