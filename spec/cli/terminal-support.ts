/**
 * The `ferry` command on a real terminal, seen the way a person sees it: the CLI runs under a
 * pseudo-terminal (`script` from util-linux, 120 × 40), and what it writes is played into a headless
 * xterm (`@xterm/headless`), so a line that was overdrawn, cleared or never flushed is not on the screen.
 */
import { type ChildProcess, spawn, spawnSync } from 'node:child_process';
import { join } from 'node:path';
import xterm from '@xterm/headless';

const root = new URL('../..', import.meta.url).pathname;

/** Why terminal specs cannot run here, or `undefined` when `script` is available. */
export const noTerminal: string | undefined =
  spawnSync('script', ['--version'], { encoding: 'utf8' }).status === 0 ? undefined : 'util-linux `script` is not installed';

const running = new Set<ChildProcess>();

/** Kills what a failed spec left running. */
export const killTerminals = (): void => {
  for (const child of running) child.kill('SIGKILL');
  running.clear();
};

/** A `ferry` process on a terminal. */
export interface OnTerminal {
  /**
   * The screen now: scrollback and viewport, one string per line (a line the terminal wrapped over several
   * rows is one), trailing blanks trimmed, empty lines dropped.
   */
  screen(): Promise<string[]>;
  /** Resolves when a row of the screen matches `pattern`. */
  waitFor(pattern: RegExp, timeoutMs?: number): Promise<string>;
  /** Types on the terminal (e.g. `\x03` for Ctrl-C). */
  type(keys: string): void;
  /**
   * Closes the terminal under `ferry`, as closing its window does: `script` is killed, its side of the
   * pseudo-terminal goes away, and the kernel sends `ferry` SIGHUP. `ferry` may run on; nothing shows it.
   */
  hangUp(): void;
  /** The exit code of `ferry`, and the final screen. */
  readonly exited: Promise<{ readonly code: number | null; readonly screen: string[] }>;
}

const quote = (arg: string): string => `'${arg.replaceAll("'", "'\\''")}'`;

/** Starts `ferry <args>` on a fresh 120 × 40 terminal with only the environment given (plus PATH and HOME). */
export const onTerminal = (args: readonly string[], env: Record<string, string>): OnTerminal => {
  const command = `stty cols 120 rows 40; exec ${quote(process.execPath)} ${quote(join(root, 'bin/ferry.js'))} ${args.map(quote).join(' ')}`;
  const child = spawn('script', ['-qfec', command, '/dev/null'], {
    cwd: root,
    env: { PATH: process.env.PATH ?? '', HOME: process.env.HOME ?? '', TERM: 'xterm-256color', ...env },
    stdio: ['pipe', 'pipe', 'inherit'],
  });
  running.add(child);
  const terminal = new xterm.Terminal({ cols: 120, rows: 40, scrollback: 5_000, allowProposedApi: true });
  let written = Promise.resolve();
  const waiters = new Set<() => void>();
  child.stdout?.on('data', (chunk: Buffer) => {
    written = written.then(() => new Promise<void>((resolve) => terminal.write(chunk, resolve)));
    void written.then(() => {
      for (const check of waiters) check();
    });
  });
  const rows = (): string[] => {
    const buffer = terminal.buffer.active;
    const lines: string[] = [];
    for (let i = 0; i < buffer.length; i++) {
      const line = buffer.getLine(i);
      const text = line?.translateToString(false) ?? '';
      // A row the terminal wrapped onto continues the line above: one line, as a person reads it.
      if (line?.isWrapped && lines.length > 0) lines[lines.length - 1] += text;
      else lines.push(text);
    }
    return lines.map((line) => line.trimEnd()).filter((line) => line !== '');
  };
  const screen = async (): Promise<string[]> => {
    await written;
    return rows();
  };
  const exited = new Promise<{ code: number | null; screen: string[] }>((resolve) => {
    child.on('close', (code) => {
      running.delete(child);
      void screen().then((lines) => {
        for (const check of waiters) check();
        resolve({ code, screen: lines });
      });
    });
  });
  return {
    screen,
    type: (keys) => child.stdin?.write(keys),
    hangUp: () => child.kill('SIGKILL'),
    exited,
    waitFor: (pattern, timeoutMs = 20_000) =>
      new Promise((resolve, reject) => {
        const timer = setTimeout(() => {
          waiters.delete(check);
          reject(new Error(`ferry ${args.join(' ')}: no row matched ${pattern} within ${timeoutMs} ms; screen:\n${rows().join('\n')}`));
        }, timeoutMs);
        const check = (): void => {
          const row = rows().find((line) => pattern.test(line));
          if (row !== undefined) {
            waiters.delete(check);
            clearTimeout(timer);
            resolve(row);
          } else if (child.exitCode !== null) {
            waiters.delete(check);
            clearTimeout(timer);
            reject(new Error(`ferry ${args.join(' ')} exited before showing ${pattern}; screen:\n${rows().join('\n')}`));
          }
        };
        waiters.add(check);
        check();
      }),
  };
};
