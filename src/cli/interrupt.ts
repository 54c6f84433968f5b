/**
 * Ctrl-C: the first SIGINT aborts one signal that every transfer of the command was started with (the
 * client cancels a task whose signal aborts), and the command waits for the work it tracked to settle —
 * a cancelled task's result settles only after its cleanup: the upload terminated on the server, the
 * temporary file removed. A second SIGINT exits at once.
 * @module
 */
import { setMaxListeners } from 'node:events';
import { ExitCode } from './exit.js';

/** The interruption of one command. */
export interface Interruption {
  /** Aborted by the first SIGINT. Pass it as the `signal` of every upload and download. */
  readonly signal: AbortSignal;
  /** Resolves when the first SIGINT arrives. */
  readonly interrupted: Promise<void>;
  /** Work that must finish (cleanup included) before the process may exit. Returns `work`. */
  track<T>(work: Promise<T>): Promise<T>;
  /** How many tracked pieces of work have not settled yet. */
  readonly active: number;
  /** Resolves once everything tracked has settled. */
  settled(): Promise<void>;
  /** Stops listening for SIGINT. Idempotent. */
  dispose(): void;
}

/** What an interruption listens to; `process` by default. */
export interface SignalSource {
  on(event: 'SIGINT', listener: () => void): unknown;
  off(event: 'SIGINT', listener: () => void): unknown;
  exit(code: number): never;
}

/** Starts listening for SIGINT. */
export const listenForInterrupt = (source: SignalSource = process): Interruption => {
  const controller = new AbortController();
  // Every transfer listens to this signal until it ends (60 files arriving at once: 60 listeners, none
  // leaked); Node's warning past 10 would be printed on the person's terminal.
  setMaxListeners(0, controller.signal);
  const tracked = new Set<Promise<unknown>>();
  let resolveInterrupted: () => void = () => undefined;
  const interrupted = new Promise<void>((resolve) => {
    resolveInterrupted = resolve;
  });
  const onSigint = (): void => {
    if (controller.signal.aborted) source.exit(ExitCode.INTERRUPTED);
    controller.abort(new Error('interrupted (Ctrl-C)'));
    resolveInterrupted();
  };
  source.on('SIGINT', onSigint);
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
      source.off('SIGINT', onSigint);
    },
  };
};
