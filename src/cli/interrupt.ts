/**
 * Ctrl-C: the first SIGINT aborts one signal that every transfer of the command was started with (the
 * client cancels a task whose signal aborts), and the command waits for the work it tracked to settle —
 * a cancelled task's result settles only after its cleanup: the upload terminated on the server, the
 * temporary file removed. A second signal exits at once. SIGTERM (`kill`, `timeout`, a service manager)
 * and SIGHUP (the terminal closed) are handled the same way: without them the process died at once and
 * left its temporary files and the server's partial uploads behind. After a hang-up every write to the
 * terminal fails (`EIO`), so the output streams' errors are ignored from then on: the cleanup must not
 * die of its own progress bars. The command ends by the same signal once cleaned up (`exitWith`).
 * @module
 */
import { setMaxListeners } from 'node:events';
import { ExitCode, type ExitCodeValue } from './exit.js';

/** The signals that interrupt a command, and the exit code each ends it with. */
const SIGNALS = { SIGINT: ExitCode.INTERRUPTED, SIGTERM: ExitCode.TERMINATED, SIGHUP: ExitCode.HUNG_UP } as const;

/** A signal that interrupts a command. */
export type InterruptSignal = keyof typeof SIGNALS;

/** The interruption of one command. */
export interface Interruption {
  /** Aborted by the first signal. Pass it as the `signal` of every upload and download. */
  readonly signal: AbortSignal;
  /** Resolves when the first signal arrives, with the exit code it means (130 for SIGINT). */
  readonly interrupted: Promise<ExitCodeValue>;
  /** Work that must finish (cleanup included) before the process may exit. Returns `work`. */
  track<T>(work: Promise<T>): Promise<T>;
  /** How many tracked pieces of work have not settled yet. */
  readonly active: number;
  /** Resolves once everything tracked has settled. */
  settled(): Promise<void>;
  /** Stops listening for the signals. Idempotent. */
  dispose(): void;
}

/** What an interruption listens to; `process` by default. */
export interface SignalSource {
  on(event: InterruptSignal, listener: () => void): unknown;
  off(event: InterruptSignal, listener: () => void): unknown;
  exit(code: number): never;
  /** The terminal is gone (SIGHUP): writing to it fails from now on, and must not end the process. */
  hungUp?(): void;
}

/** The process's signals and output streams. */
const processSource: SignalSource = {
  on: (event, listener) => process.on(event, listener),
  off: (event, listener) => process.off(event, listener),
  exit: (code) => process.exit(code),
  hungUp() {
    for (const stream of [process.stdout, process.stderr]) stream.on('error', () => undefined);
  },
};

/** Starts listening for SIGINT, SIGTERM and SIGHUP. */
export const listenForInterrupt = (source: SignalSource = processSource): Interruption => {
  const controller = new AbortController();
  // Every transfer listens to this signal until it ends (60 files arriving at once: 60 listeners, none
  // leaked); Node's warning past 10 would be printed on the person's terminal.
  setMaxListeners(0, controller.signal);
  const tracked = new Set<Promise<unknown>>();
  let resolveInterrupted: (code: ExitCodeValue) => void = () => undefined;
  const interrupted = new Promise<ExitCodeValue>((resolve) => {
    resolveInterrupted = resolve;
  });
  const listeners = (Object.keys(SIGNALS) as InterruptSignal[]).map((name) => {
    const code = SIGNALS[name];
    const listener = (): void => {
      if (name === 'SIGHUP') source.hungUp?.();
      if (controller.signal.aborted) source.exit(code);
      controller.abort(new Error(name === 'SIGINT' ? 'interrupted (Ctrl-C)' : `interrupted (${name})`));
      resolveInterrupted(code);
    };
    source.on(name, listener);
    return [name, listener] as const;
  });
  return {
    signal: controller.signal,
    interrupted,
    track(work) {
      const settled = work.then(
        () => undefined,
        () => undefined,
      );
      tracked.add(settled);
      void settled.then(() => tracked.delete(settled));
      return work;
    },
    get active() {
      return tracked.size;
    },
    async settled() {
      while (tracked.size > 0) await Promise.all(tracked);
    },
    dispose() {
      for (const [name, listener] of listeners) source.off(name, listener);
    },
  };
};
