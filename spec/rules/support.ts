/**
 * Shared helpers of the DESIGN §3 rule specs: a hub and clients on one virtual clock, a controllable
 * gate for the memory transport, error assertions, byte fixtures and temporary folders.
 * @module
 */
import { mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Observable, Subscription } from 'rxjs';
import { expect } from 'vitest';
import {
  type Client,
  type ClientOptions,
  type ChunkStep,
  createClient,
  createHub,
  FerryError,
  type Hub,
  type HubOptions,
  memoryTransport,
  type Task,
  type TransferState,
  virtualClock,
  type VirtualClock,
} from '../../src/index.js';

/** Lets pending promise callbacks and I/O callbacks run: a few macrotask turns. */
export const flush = async (rounds = 10): Promise<void> => {
  for (let i = 0; i < rounds; i++) await new Promise<void>((resolve) => setImmediate(resolve));
};

/**
 * Flushes until `predicate` holds. Bounded: gives up loudly after `limitMs` of real time (file I/O and a
 * first module load can take more than a few turns), instead of waiting forever.
 */
export const until = async (predicate: () => boolean, what: string, limitMs = 3000): Promise<void> => {
  const deadline = Date.now() + limitMs;
  while (!predicate()) {
    if (Date.now() > deadline) throw new Error(`gave up waiting for ${what}`);
    await new Promise<void>((resolve) => setImmediate(resolve));
  }
};

/**
 * A gate for `memoryTransport`: chunks pass while it is open; once closed, each chunk waits until it is
 * opened again or released one at a time. `reached` counts the chunks that arrived at the gate.
 */
export interface Gate {
  readonly fn: (step: ChunkStep, signal: AbortSignal) => Promise<void>;
  /** Every step that reached the gate, in order. */
  readonly steps: ChunkStep[];
  /** Steps waiting at the gate now. */
  readonly waiting: number;
  /** Stops every later chunk at the gate (a stalled network). */
  close(): void;
  /** Lets every waiting and later chunk through. */
  open(): void;
  /** Lets the oldest waiting chunk through, if any. */
  releaseOne(): boolean;
}

export const gate = (initiallyOpen = true): Gate => {
  let isOpen = initiallyOpen;
  const queue: (() => void)[] = [];
  const steps: ChunkStep[] = [];
  return {
    fn: (step) => {
      steps.push(step);
      if (isOpen) return Promise.resolve();
      return new Promise<void>((resolve) => queue.push(resolve));
    },
    steps,
    get waiting() {
      return queue.length;
    },
    close() {
      isOpen = false;
    },
    open() {
      isOpen = true;
      for (const resolve of queue.splice(0)) resolve();
    },
    releaseOne() {
      const next = queue.shift();
      next?.();
      return next !== undefined;
    },
  };
};

/** A gate that never lets anything through: a network that stalls forever. */
export const stalled = (): ((step: ChunkStep, signal: AbortSignal) => Promise<void>) => () => new Promise<void>(() => undefined);

export interface World {
  readonly clock: VirtualClock;
  readonly hub: Hub;
  /** A client on the hub (with the shared clock and the world's gate), not logged in. */
  client(options?: Partial<ClientOptions>): Client;
  /** A client logged in as `userId`. */
  loggedIn(userId?: string, options?: Partial<ClientOptions>): Promise<Client>;
}

/** A hub and clients sharing one virtual clock; `gate` paces the memory transport of every client. */
export const world = (
  options: { readonly hub?: Omit<HubOptions, 'clock'>; readonly gate?: (step: ChunkStep, signal: AbortSignal) => Promise<void> } = {},
): World => {
  const clock = virtualClock(Date.UTC(2024, 0, 1));
  const hub = createHub({ ...options.hub, clock });
  const transport = memoryTransport(hub, options.gate ? { gate: options.gate } : {});
  const client = (extra: Partial<ClientOptions> = {}): Client => createClient({ transport, clock, ...extra });
  return {
    clock,
    hub,
    client,
    async loggedIn(userId = 'alice', extra = {}) {
      const c = client(extra);
      // A session ends when its token expires unrenewed (decision 62): long enough for the retention specs' days.
      await c.login({ userId, token: hub.issueToken(userId, 30 * 24 * 3600_000) });
      return c;
    },
  };
};

/** Deterministic bytes of length `n`. */
export const bytes = (n: number, seed = 1): Uint8Array => {
  const out = new Uint8Array(n);
  let x = seed * 2654435761;
  for (let i = 0; i < n; i++) {
    x = (x * 1103515245 + 12345) >>> 0;
    out[i] = x >>> 24;
  }
  return out;
};

/** What a ferry error is expected to carry. */
export interface Expected {
  readonly name: string;
  readonly code: number;
  /** A word the message must contain: the argument's name, usually. */
  readonly mentions?: string | RegExp;
}

/** Checks that `error` is a ferry error with the expected name, code and message. */
export const expectFerryError = (error: unknown, expected: Expected): FerryError => {
  expect(error).toBeInstanceOf(FerryError);
  expect(error).not.toBeInstanceOf(TypeError);
  const e = error as FerryError;
  expect({ name: e.name, code: e.code }).toEqual({ name: expected.name, code: expected.code });
  if (expected.mentions !== undefined) expect(e.message).toMatch(expected.mentions);
  return e;
};

/** Awaits a rejection and checks it as {@link expectFerryError} does. */
export const rejectsWith = async (promise: Promise<unknown>, expected: Expected): Promise<FerryError> => {
  const outcome = await promise.then(
    (value: unknown) => ({ ok: true as const, value }),
    (error: unknown) => ({ ok: false as const, error }),
  );
  if (outcome.ok) throw new Error(`expected a rejection with ${expected.name} ${expected.code}, got a value`);
  return expectFerryError(outcome.error, expected);
};

/** Calls `run`, which must throw synchronously, and checks the error. */
export const throwsWith = (run: () => unknown, expected: Expected): FerryError => {
  let thrown: unknown;
  let threw = false;
  try {
    run();
  } catch (error) {
    threw = true;
    thrown = error;
  }
  if (!threw) throw new Error(`expected a throw of ${expected.name} ${expected.code}`);
  return expectFerryError(thrown, expected);
};

/** Records every value of an observable (and whether it completed) until `stop()`. */
export interface Recording<T> {
  readonly values: T[];
  readonly completed: boolean;
  stop(): void;
}

export const record = <T>(observable: Observable<T>): Recording<T> => {
  const values: T[] = [];
  let completed = false;
  const subscription: Subscription = observable.subscribe({
    next: (value) => values.push(value),
    complete: () => {
      completed = true;
    },
  });
  return {
    values,
    get completed() {
      return completed;
    },
    stop: () => subscription.unsubscribe(),
  };
};

/** The current state of a task (its `state$` replays it synchronously). */
export const stateOf = (task: Task<unknown>): TransferState => {
  let state: TransferState | undefined;
  task.state$.subscribe((s) => {
    state = s;
  }).unsubscribe();
  if (state === undefined) throw new Error('state$ did not replay a state');
  return state;
};

/** Settles a promise into a tagged value, so a spec can look at a result without awaiting it twice. */
export const settle = <T>(promise: Promise<T>): Promise<{ ok: true; value: T } | { ok: false; error: unknown }> =>
  promise.then(
    (value) => ({ ok: true as const, value }),
    (error: unknown) => ({ ok: false as const, error }),
  );

/** A fresh temporary folder, removed by the returned `remove`. */
export const tempFolder = (): { readonly path: string; entries(): string[]; remove(): void } => {
  const path = mkdtempSync(join(tmpdir(), 'ferry-rules-'));
  return {
    path,
    entries: () => readdirSync(path),
    remove: () => rmSync(path, { recursive: true, force: true }),
  };
};

/** The temporary download files (`.<name>.<hex>.ferry-part`) in a folder listing. */
export const partFiles = (entries: readonly string[]): string[] => entries.filter((name) => name.endsWith('.ferry-part'));

/** Uploads `data` and resolves with its media ID. */
export const uploaded = async (client: Client, data: Uint8Array = bytes(1000)): Promise<string> =>
  (await client.createFileMessageByUploading(data).result).mediaId;

/** An abort reason for specs that want to see it travel as `cause`. */
export const reason = (): Error => new Error('the caller gave up');

/**
 * Checks two byte arrays are equal. Faster than `toEqual` (which compares element by element with full
 * diff machinery, seconds for a few hundred KiB), and reports the first differing offset.
 */
export const expectSameBytes = (actual: Uint8Array, expected: Uint8Array): void => {
  expect(actual).toBeInstanceOf(Uint8Array);
  expect(actual.length).toBe(expected.length);
  const a = Buffer.from(actual.buffer, actual.byteOffset, actual.byteLength);
  const b = Buffer.from(expected.buffer, expected.byteOffset, expected.byteLength);
  if (!a.equals(b)) {
    const at = a.findIndex((byte, i) => byte !== b[i]);
    expect.fail(`bytes differ first at offset ${at}`);
  }
};

/**
 * Moves virtual time forward in `stepMs` steps, letting pending work run between steps, until `done()`
 * holds. Bounded by `limitMs` of real time (real file I/O may need several turns per step).
 */
export const advanceUntil = async (clock: VirtualClock, done: () => boolean, what: string, stepMs = 1000, limitMs = 5000): Promise<void> => {
  const deadline = Date.now() + limitMs;
  while (!done()) {
    if (Date.now() > deadline) throw new Error(`gave up waiting for ${what}`);
    await flush(3);
    clock.advance(stepMs);
  }
};
