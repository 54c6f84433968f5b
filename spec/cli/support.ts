/**
 * Running the real `ferry` command in specs: `node bin/ferry.js …` as a child process with a clean
 * environment, its output collected, and waits on printed lines (never on time). Plus a TCP proxy that
 * limits throughput, so a transfer is still running when a spec interrupts it.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { connect, createServer, type Socket } from 'node:net';
import { join } from 'node:path';

const root = new URL('../..', import.meta.url).pathname;
const running = new Set<ChildProcess>();

/** Kills every `ferry` a spec started and left running (a failed assertion skips its own cleanup). */
export const killLeftovers = (): void => {
  for (const child of running) child.kill('SIGKILL');
  running.clear();
};

/** A running `ferry` process. */
export interface Ferry {
  readonly child: ChildProcess;
  /** Everything printed so far. */
  readonly stdout: () => string;
  readonly stderr: () => string;
  /** Resolves with the first match of `pattern` in stdout or stderr (whichever is named), as it is printed. */
  waitFor(stream: 'stdout' | 'stderr', pattern: RegExp): Promise<RegExpExecArray>;
  /** Resolves when the process exits. */
  /** The exit code, or the signal that ended the process (`code` then `null`), and what it wrote. */
  readonly exited: Promise<{ readonly code: number | null; readonly signal: NodeJS.Signals | null; readonly stdout: string; readonly stderr: string }>;
}

/** Starts `ferry <args>` in `cwd` with only the environment given (plus PATH and HOME). */
export const ferry = (args: readonly string[], options: { cwd?: string; env?: Record<string, string> } = {}): Ferry => {
  const child = spawn(process.execPath, [join(root, 'bin/ferry.js'), ...args], {
    cwd: options.cwd ?? root,
    env: { PATH: process.env.PATH ?? '', HOME: process.env.HOME ?? '', ...options.env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  running.add(child);
  child.on('exit', () => running.delete(child));
  const text = { stdout: '', stderr: '' };
  const waiters = new Set<() => void>();
  for (const stream of ['stdout', 'stderr'] as const) {
    child[stream]?.setEncoding('utf8'); // decodes characters split across chunks
    child[stream]?.on('data', (chunk: string) => {
      text[stream] += chunk;
      for (const check of waiters) check();
    });
  }
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null; stdout: string; stderr: string }>((resolve) => {
    child.on('close', (code, signal) => {
      for (const check of waiters) check();
      resolve({ code, signal, stdout: text.stdout, stderr: text.stderr });
    });
  });
  return {
    child,
    stdout: () => text.stdout,
    stderr: () => text.stderr,
    exited,
    waitFor: (stream, pattern) =>
      new Promise((resolve, reject) => {
        const check = (): void => {
          const match = pattern.exec(text[stream]);
          if (match) {
            waiters.delete(check);
            resolve(match);
          } else if (child.exitCode !== null || child.signalCode !== null) {
            waiters.delete(check);
            reject(new Error(`ferry ${args.join(' ')} exited before printing ${pattern}:\n${text.stdout}\n${text.stderr}`));
          }
        };
        waiters.add(check);
        check();
      }),
  };
};

/** The raw bytes of a child's stdout, for `get -o -`. */
export const ferryBytes = (args: readonly string[], env: Record<string, string>): Promise<{ code: number | null; bytes: Buffer; stderr: string }> =>
  new Promise((resolve) => {
    const child = spawn(process.execPath, [join(root, 'bin/ferry.js'), ...args], {
      cwd: root,
      env: { PATH: process.env.PATH ?? '', HOME: process.env.HOME ?? '', ...env },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    const out: Buffer[] = [];
    let stderr = '';
    child.stdout.on('data', (chunk: Buffer) => out.push(chunk));
    child.stderr.on('data', (chunk: Buffer) => {
      stderr += chunk.toString();
    });
    child.on('close', (code) => resolve({ code, bytes: Buffer.concat(out), stderr }));
  });

/** A proxy to `target` that forwards at most `bytesPerSecond` each way on each connection. */
export const slowProxy = async (target: string, bytesPerSecond: number): Promise<{ url: string; close(): Promise<void> }> => {
  const { hostname, port } = new URL(target);
  const sockets = new Set<Socket>();
  const pump = (from: Socket, to: Socket): void => {
    from.on('data', (chunk: Buffer) => {
      to.write(chunk);
      from.pause();
      setTimeout(() => from.resume(), (chunk.length / bytesPerSecond) * 1000).unref();
    });
  };
  const server = createServer((client) => {
    const upstream = connect(Number(port), hostname);
    for (const socket of [client, upstream]) {
      sockets.add(socket);
      socket.on('error', () => undefined).on('close', () => {
        sockets.delete(socket);
        client.destroy();
        upstream.destroy();
      });
    }
    pump(client, upstream);
    pump(upstream, client);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const address = server.address();
  return {
    url: `http://127.0.0.1:${typeof address === 'object' && address ? address.port : 0}`,
    async close() {
      for (const socket of sockets) socket.destroy();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
};
