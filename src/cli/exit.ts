/**
 * Exit codes of the `ferry` command and the one-line reports of what went wrong. Every failure is told
 * in one line naming the problem; a ferry failure also names its operation and code (`docs/contract.md` §4).
 * @module
 */
import { FerryError, type Operation } from '../core/errors.js';
import { describeFailure, type Failure } from '../core/failure.js';
import { formatBytes } from './format.js';

/** Each operation as a person would name it (the library's names, such as `peerSend`, stay in `--json`). */
const OPERATION_WORDS: Readonly<Record<Operation, string>> = {
  upload: 'upload',
  download: 'download',
  cancel: 'cancel',
  peerSend: 'sending to the peer',
  channelSend: 'sending to the channel',
  login: 'login',
  logout: 'logout',
  join: 'joining the channel',
  leave: 'leaving the channel',
  getMembers: 'listing the members',
  renewToken: 'token renewal',
  queryPresence: 'asking who is online',
  subscribePresence: 'subscribing to online status',
  memberCount: 'counting channel members',
  message: 'the message',
  client: 'the command',
};

/**
 * The exit codes, also listed by `ferry --help` and in the README. A signal's code is 128 + its number,
 * as a shell reports a process the signal killed.
 * - 0 `OK`: everything asked was done.
 * - 1 `FAILURE`: a ferry operation failed (login, upload, download, send…); the line names the operation
 *   and its code, e.g. `download failed (code 4)`. With several files, any one failing.
 * - 2 `USAGE`: the command line was wrong (unknown option or transport, missing argument, no user or
 *   token), or the server could not start (port in use).
 * - 129 `HUNG_UP`: the terminal closed (SIGHUP); running transfers were cancelled and cleaned up first,
 *   then the process ends by SIGHUP ({@link exitWith}).
 * - 130 `INTERRUPTED`: Ctrl-C (SIGINT); running transfers were cancelled and cleaned up first.
 * - 143 `TERMINATED`: SIGTERM (`kill`, `timeout`, a service manager); cleaned up, then ended by SIGTERM.
 */
export const ExitCode = { OK: 0, FAILURE: 1, USAGE: 2, HUNG_UP: 129, INTERRUPTED: 130, TERMINATED: 143 } as const;

/** One of {@link ExitCode}'s values. */
export type ExitCodeValue = (typeof ExitCode)[keyof typeof ExitCode];

/** The signals whose exit codes {@link exitWith} ends the process with by the signal itself. */
const RAISED: Partial<Record<ExitCodeValue, NodeJS.Signals>> = { [ExitCode.TERMINATED]: 'SIGTERM', [ExitCode.HUNG_UP]: 'SIGHUP' };

/**
 * Ends the process with `code`. For SIGTERM's and SIGHUP's codes, once the command has cleaned up, by the
 * signal itself (nothing listens to it any more): a shell reports 143 or 129 either way, and a service
 * manager sees a process stopped by the signal it sent rather than a failure (systemd counts exit
 * status 143 as one). After a hang-up it is also the only clean way out: Node's own exit path resets the
 * terminal, which is gone, and aborts.
 */
export const exitWith = (code: ExitCodeValue): never => {
  const signal = RAISED[code];
  if (signal !== undefined && process.listenerCount(signal) === 0) process.kill(process.pid, signal);
  return process.exit(code);
};

/** A mistake on the command line (or in the environment it reads): exit code 2, no ferry code. */
export class UsageError extends Error {
  override readonly name = 'UsageError';
}

/** The exit code for anything thrown by a command. */
export const exitCodeOf = (error: unknown): ExitCodeValue =>
  error instanceof UsageError ? ExitCode.USAGE : ExitCode.FAILURE;

/** A failure in a person's words: sizes in KiB and MiB, as the progress lines give them. */
const failureWords = (failure: Failure): string =>
  failure._tag === 'SizeOverflow' ? `${formatBytes(failure.size)} is over the limit of ${formatBytes(failure.limit)}` : describeFailure(failure);

/** The one line (no newline) that tells a person what went wrong: a ferry error's message carries its code. */
export const describeError = (error: unknown): string => {
  if (error instanceof Error) {
    const hint = (error as { hint?: unknown }).hint;
    const message = error instanceof FerryError ? `${OPERATION_WORDS[error.operation]} failed (code ${error.code}): ${failureWords(error.failure)}` : error.message;
    return typeof hint === 'string' ? `${message} (${hint})` : message;
  }
  return String(error);
};

/** The same report as JSON, for `--json`: `{ error: { name, message, operation?, code? }, exitCode }`. */
export const errorJson = (error: unknown): string =>
  JSON.stringify({
    error: {
      name: error instanceof Error ? error.name : 'Error',
      message: describeError(error),
      ...(error instanceof FerryError ? { operation: error.operation, code: error.code } : {}),
    },
    exitCode: exitCodeOf(error),
  });

/** Adds a hint, shown after the message in parentheses, to an error before it is reported. */
export const withHint = (error: unknown, hint: string): unknown => {
  if (error instanceof Error) Object.defineProperty(error, 'hint', { value: hint, enumerable: false });
  return error;
};
