/**
 * Progress of the CLI's transfers, on stderr so stdout keeps only results (and the bytes of `get -o -`).
 * Three modes: `bars` on a terminal (one `cli-progress` bar per transfer while it runs: size, rate,
 * ETA; queued ones say `waiting`; a finished one gives way to its one-line result; never more bars than
 * fit the terminal, running transfers first, the rest told by one `… and 51 more waiting` row, so bars
 * never pile up however many transfers there are), `lines` otherwise (one line per event, progress at most once a second), `quiet` for
 * `--json`. A reporter only watches: unsubscribing never cancels a transfer.
 * @module
 */
import { MultiBar, type SingleBar } from 'cli-progress';
import type { Subscription } from 'rxjs';
import type { TransferState } from '../core/states.js';
import type { Task } from '../client/task.js';
import { formatBytes, formatDuration } from './format.js';

/** How progress is shown. */
export type ReporterMode = 'bars' | 'lines' | 'quiet';

/** Shows transfers and prints lines without breaking the bars. */
export interface Reporter {
  /** Shows `task` under `label` until it ends. */
  watch(task: Task<unknown>, label: string, direction: 'upload' | 'download'): void;
  /** A result line on stdout. */
  out(line: string): void;
  /** A diagnostic line on stderr. */
  note(line: string): void;
  /** Draws the last frame and stops watching. Idempotent. */
  stop(): void;
}

/** Where a reporter writes and what time it is. */
export interface ReporterIo {
  readonly stdout: NodeJS.WritableStream & { isTTY?: boolean };
  readonly stderr: NodeJS.WritableStream & { isTTY?: boolean; rows?: number };
  /** Milliseconds, for rates. Default: `performance.now`. */
  readonly now?: () => number;
}

/** The mode for this process: `quiet` with `--json`, `bars` when stderr is a terminal, else `lines`. */
export const reporterMode = (json: boolean, stderr: { isTTY?: boolean }): ReporterMode =>
  json ? 'quiet' : stderr.isTTY ? 'bars' : 'lines';

/** Rate and ETA of one transfer, measured from its first progress. */
const meter = (now: () => number) => {
  let start: { at: number; bytes: number } | undefined;
  return (current: number, total: number): { rate: number; eta: number; elapsed: number } => {
    start ??= { at: now(), bytes: current };
    const elapsed = (now() - start.at) / 1000;
    const rate = elapsed > 0 ? (current - start.bytes) / elapsed : 0;
    return { rate, eta: rate > 0 ? (total - current) / rate : Number.NaN, elapsed };
  };
};

interface BarPayload {
  /** The bar is the row that counts transfers not drawn: `label` says how many. */
  summary?: true;
  label: string;
  arrow: string;
  state: TransferState;
  /** Whether the size is known yet (the first progress tells it). */
  sized: boolean;
  rate: number;
  eta: number;
}

const barLine = (value: number, total: number, p: BarPayload): string => {
  if (p.summary) return p.label;
  const name = p.label.length > 16 ? `${p.label.slice(0, 15)}…` : p.label.padEnd(16);
  if (p.state === 'pending') return `${p.arrow} ${name} waiting`;
  if (!p.sized) return `${p.arrow} ${name} starting`;
  const fraction = total > 0 ? Math.min(1, value / total) : 0;
  const filled = Math.round(fraction * 14);
  const bar = `${'█'.repeat(filled)}${'░'.repeat(14 - filled)}`;
  const size = `${formatBytes(value)}/${formatBytes(total)}`;
  const tail = p.state === 'transferring' ? `${formatBytes(p.rate)}/s ETA ${formatDuration(p.eta)}` : p.state;
  return `${p.arrow} ${name} ${bar} ${String(Math.round(fraction * 100)).padStart(3)}% ${size} ${tail}`;
};

/** DECAWM: the terminal wraps a line at its last column, or (off) overwrites that column. */
const WRAP_ON = '\x1b[?7h';
const WRAP_OFF = '\x1b[?7l';
/** ED 0: erases from the cursor to the end of the screen. */
const ERASE_BELOW = '\x1b[J';

/**
 * Most bars drawn at once (running transfers first): a redraw moves the cursor up over the bars, which it
 * cannot do past the top of the screen, so more bars than rows would leave a copy of them in the
 * scrollback at each frame (issue 16: "after 60 files the screen was blank and the scrollback full of
 * copies"). Rows are kept for the row that counts the rest and for the lines printed above.
 */
export const maxBarsFor = (rows: number | undefined): number => Math.max(1, Math.min(12, (rows ?? 24) - 4));

/** A watched transfer of the `bars` mode, drawn or not. */
interface Watched {
  readonly payload: BarPayload;
  last: { current: number; total: number };
  bar?: SingleBar;
}

/** A reporter writing to `io` in `mode`. */
export const createReporter = (mode: ReporterMode, io: ReporterIo): Reporter => {
  const now = io.now ?? (() => performance.now());
  const subscriptions = new Set<Subscription>();
  const multibar =
    mode === 'bars'
      ? new MultiBar({
          stream: io.stderr as NodeJS.WriteStream,
          format: (_options, params, payload: BarPayload) => barLine(params.value, params.total, payload),
          hideCursor: true,
          clearOnComplete: false,
          stopOnComplete: false,
          fps: 10,
        })
      : undefined;
  let stopped = false;
  /**
   * Writes a whole line on the terminal above the bars. `cli-progress` only buffers a logged line until its
   * next redraw, and never flushes it when it stops or before its first bar: so the line is logged and
   * the bars redrawn at once while they run, and written directly when none are drawn. While they run the
   * bars turn the terminal's line wrapping off (DECAWM), which would cut a line wider than the terminal at
   * its last column (a long file name, or a result's tail, lost): it is turned on for the line, and what
   * is below is erased first, so the row a long line wraps onto shows no rest of an old bar. The bars'
   * redraw counts only their own rows, so a line taking two rows does not disturb it.
   */
  const aboveBars = (bars: MultiBar, stream: NodeJS.WritableStream, line: string): void => {
    if (bars.isActive && !stopped) {
      bars.log(`${WRAP_ON}${ERASE_BELOW}${line}\n${WRAP_OFF}`);
      bars.update();
    } else stream.write(`${line}\n`);
  };
  const note = (line: string): void => {
    if (multibar) aboveBars(multibar, io.stderr, line);
    else io.stderr.write(`${line}\n`);
  };

  const maxBars = maxBarsFor(io.stderr.rows);
  /** Unfinished transfers, in the order they were watched. */
  const watched: Watched[] = [];
  const summary: { payload: BarPayload; bar?: SingleBar } = { payload: { summary: true, label: '', arrow: '', state: 'pending', sized: false, rate: 0, eta: Number.NaN } };
  /**
   * Draws the first `maxBars` transfers, running ones before waiting ones, and one row counting the rest;
   * called when a transfer is watched, starts or ends. A bar is created only when it is shown, and the
   * counting row is re-created last, so it stays below the bars.
   */
  const arrange = (bars: MultiBar): void => {
    const order = [...watched.filter((w) => w.payload.state !== 'pending'), ...watched.filter((w) => w.payload.state === 'pending')];
    const shown = new Set(order.slice(0, maxBars));
    for (const w of watched) {
      if (w.bar && !shown.has(w)) {
        bars.remove(w.bar);
        delete w.bar;
      }
    }
    let created = false;
    for (const w of order) {
      if (shown.has(w) && !w.bar) {
        w.bar = bars.create(w.last.total, w.last.current, w.payload);
        created = true;
      }
    }
    const hidden = watched.length - shown.size;
    if (summary.bar && (hidden === 0 || created)) {
      bars.remove(summary.bar);
      delete summary.bar;
    }
    if (hidden > 0) {
      const waiting = order.slice(maxBars).filter((w) => w.payload.state === 'pending').length;
      summary.payload.label = `… and ${hidden} more${waiting === hidden ? ' waiting' : ''}`;
      summary.bar ??= bars.create(1, 0, summary.payload);
    }
  };

  const watchBar = (bars: MultiBar, task: Task<unknown>, label: string, direction: 'upload' | 'download'): void => {
    const entry: Watched = {
      payload: { label, arrow: direction === 'upload' ? '↑' : '↓', state: 'pending', sized: false, rate: 0, eta: Number.NaN },
      last: { current: 0, total: 1 },
    };
    const { payload } = entry;
    const measure = meter(now);
    watched.push(entry);
    arrange(bars);
    // Progress first: both come from the actor's snapshots, so subscribed in this order the final size is
    // known when the state says `done` (a small transfer may have no progress before its last snapshot).
    const progress = task.progress$.subscribe(({ currentSize, totalSize }) => {
      entry.last = { current: currentSize, total: totalSize };
      Object.assign(payload, measure(currentSize, totalSize), { sized: true });
      entry.bar?.setTotal(totalSize);
      entry.bar?.update(currentSize, payload);
    });
    const states = task.state$.subscribe((state) => {
      const started = payload.state === 'pending' && state !== 'pending';
      payload.state = state;
      if (state === 'pending' || state === 'transferring') {
        if (started) arrange(bars);
        return entry.bar?.update(entry.last.current, payload);
      }
      // A finished transfer's bar gives way to one line saying how it ended, and its row to the next.
      watched.splice(watched.indexOf(entry), 1);
      if (entry.bar) bars.remove(entry.bar);
      delete entry.bar;
      arrange(bars);
      const { elapsed } = measure(entry.last.current, entry.last.total);
      const how = state === 'done' ? `done, ${formatBytes(entry.last.total)} in ${elapsed.toFixed(1)}s` : state;
      aboveBars(bars, io.stderr, `${payload.arrow} ${label}: ${how}`);
    });
    subscriptions.add(states).add(progress);
  };

  const watchLines = (task: Task<unknown>, label: string, direction: 'upload' | 'download'): void => {
    const say = (text: string): void => note(`${direction} ${label}: ${text}`);
    const measure = meter(now);
    let lastLine = Number.NEGATIVE_INFINITY;
    let last: { current: number; total: number } | undefined;
    let state: TransferState = 'pending';
    // Whether a task is queued is known once the scheduler has had its turn: report it after this tick.
    setImmediate(() => {
      if (state === 'pending' && !stopped) say('waiting (all transfer slots busy)');
    });
    const progress = task.progress$.subscribe(({ currentSize, totalSize }) => {
      // Progress comes once the transfer is open (the file read, the server's upload created): a file
      // refused before that (empty, too large, missing) never says it started.
      if (!last) say('started');
      last = { current: currentSize, total: totalSize };
      const { rate } = measure(currentSize, totalSize);
      // The first and last bytes are told by "started" and "done"; between them, a line a second at most.
      if (currentSize === 0 || currentSize === totalSize || now() - lastLine < 1000) return;
      lastLine = now();
      const percent = Math.floor((currentSize / totalSize) * 100);
      say(`${formatBytes(currentSize)} of ${formatBytes(totalSize)} (${percent}%)${rate > 0 ? `, ${formatBytes(rate)}/s` : ''}`);
    });
    const states = task.state$.subscribe((next) => {
      state = next;
      if (next === 'done') {
        const { elapsed } = last ? measure(last.current, last.total) : { elapsed: 0 };
        say(`done${last ? `, ${formatBytes(last.total)} in ${elapsed.toFixed(1)}s` : ''}`);
      } else if (next === 'cancelled') say('cancelled');
      // A failure is told by the command's error line, which names the code.
    });
    subscriptions.add(states).add(progress);
  };

  return {
    watch(task, label, direction) {
      if (stopped || mode === 'quiet') return;
      if (multibar) watchBar(multibar, task, label, direction);
      else watchLines(task, label, direction);
    },
    out(line) {
      // On a shared terminal, a line written past the bars would be overdrawn by the next frame.
      if (multibar && io.stdout.isTTY) aboveBars(multibar, io.stdout, line);
      else io.stdout.write(`${line}\n`);
    },
    note,
    stop() {
      if (stopped) return;
      stopped = true;
      for (const subscription of subscriptions) subscription.unsubscribe();
      multibar?.stop();
    },
  };
};
