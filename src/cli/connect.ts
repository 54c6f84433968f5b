/**
 * The options every client command shares (`--server`, `--user`, `--token`, `--transport`, `--json`,
 * `--data-dir`) and running a command as a logged-in client: the token (given, or minted from the local
 * secret), login, the command, and on Ctrl-C (or SIGTERM, SIGHUP) the cancellation and cleanup of its
 * transfers, then logout.
 * @module
 */
import { Option, type Command } from 'commander';
import type { Unsubscribable } from 'rxjs';
import type { Client } from '../client/client-api.js';
import { createClient } from '../client/client.js';
import { FerryError } from '../core/errors.js';
import { isValidId } from '../core/ids.js';
import { type ExitCodeValue, UsageError, withHint } from './exit.js';
import { type Interruption, listenForInterrupt } from './interrupt.js';
import { createReporter, type Reporter, type ReporterIo, reporterMode } from './progress-bars.js';
import { defaultDataDir, findSecret, mintToken } from './token-command.js';
import { TRANSPORTS, type TransportKind, transportFor } from './transport-flag.js';

/** The server `ferry serve` listens on by default. */
export const DEFAULT_SERVER_URL = 'http://127.0.0.1:8080';

/** The shared options, as commander parses them. */
export interface ConnectionOptions {
  readonly server: string;
  readonly user?: string;
  readonly token?: string;
  readonly transport: TransportKind;
  readonly json?: boolean;
  readonly dataDir: string;
}

/** What a command's body gets besides the client. */
export interface CommandContext {
  readonly reporter: Reporter;
  readonly interruption: Interruption;
  readonly json: boolean;
  readonly io: ReporterIo;
}

/** Adds the shared options to a client command. */
export const withConnectionOptions = (command: Command): Command =>
  command
    .addOption(new Option('--server <url>', 'server base URL').env('FERRY_URL').default(DEFAULT_SERVER_URL))
    .addOption(new Option('--user <id>', 'your user ID').env('FERRY_USER'))
    .addOption(new Option('--token <token>', 'login token (default: minted from the local secret, if any)').env('FERRY_TOKEN'))
    .addOption(new Option('--transport <kind>', 'how to reach the server').choices(TRANSPORTS).default('http'))
    .addOption(new Option('--data-dir <dir>', "where to find the server's secret when no token is given").default(defaultDataDir()))
    .option('--json', 'machine-readable output: one JSON object per line');

/**
 * Refuses a user or channel ID the server would refuse, before anything is sent, saying what is allowed.
 * @throws {UsageError} naming `flag`.
 */
export const checkIdOption = (flag: string, value: string): void => {
  if (isValidId(value)) return;
  throw new UsageError(
    `${flag} ${JSON.stringify(value)}: an ID is 1 to 64 characters of printable ASCII (letters, digits, spaces and punctuation; no accents, emoji or control characters), not only spaces`,
  );
};

/**
 * Refuses a server address that is not a URL, showing what one looks like.
 * @throws {UsageError} naming `--server`.
 */
const checkServerUrl = (server: string): void => {
  const url = URL.canParse(server) ? new URL(server) : undefined;
  if (url && ['http:', 'https:', 'ws:', 'wss:'].includes(url.protocol)) return;
  throw new UsageError(`--server ${JSON.stringify(server)}: expected a URL such as http://127.0.0.1:8080 (the one "ferry serve" prints)`);
};

/** The user and the token to log in with: the one given, else one minted from the secret on this machine. */
const credentials = async (options: ConnectionOptions): Promise<{ userId: string; token: string; minted?: string }> => {
  const userId = options.user;
  if (!userId) throw new UsageError('no user: pass --user <id> or set FERRY_USER');
  checkIdOption('--user', userId);
  checkServerUrl(options.server);
  if (options.token) return { userId, token: options.token };
  const found = await findSecret(options.dataDir);
  if (!found) {
    throw new UsageError(
      `no token for ${JSON.stringify(userId)}: pass --token or set FERRY_TOKEN (mint one with "ferry token ${userId}" where the server's data folder is)`,
    );
  }
  return { userId, token: mintToken(found.secret, userId), minted: found.from };
};

const isConnectionRefused = (error: unknown): boolean => /ECONNREFUSED|ENOTFOUND|EHOSTUNREACH|fetch failed/.test(String(error instanceof Error ? error.message : error));

/**
 * Logs in, runs `body`, logs out. On the first Ctrl-C, SIGTERM or SIGHUP the transfers started with the
 * interruption's signal are cancelled, their cleanup awaited, and the result is the signal's exit code
 * (130, 143, 129). Errors are thrown to the caller.
 *
 * `beforeLogin` runs once the client exists and before it logs in, for a command that must hear what the
 * server sends at login: the offline messages kept for the user are delivered then, and the client's
 * streams replay nothing to a later subscriber. What it returns is unsubscribed when the command ends.
 */
export const runAsClient = async (
  options: ConnectionOptions,
  io: ReporterIo,
  body: (client: Client, context: CommandContext) => Promise<ExitCodeValue>,
  beforeLogin?: (client: Client, context: CommandContext) => Unsubscribable,
): Promise<ExitCodeValue> => {
  const json = options.json === true;
  const { userId, token, minted } = await credentials(options);
  const client = createClient({ transport: transportFor(options.transport, options.server) });
  const interruption = listenForInterrupt();
  const reporter = createReporter(reporterMode(json, io.stderr), io);
  let loggedIn = false;
  const context: CommandContext = { reporter, interruption, json, io };
  const early = beforeLogin?.(client, context);
  try {
    const login = client.login({ userId, token }).then(
      () => {
        loggedIn = true;
      },
      (error: unknown) => {
        // Over either transport: a server that cannot be reached at all.
        if (isConnectionRefused(error) || (error instanceof FerryError && error.failure._tag === 'Network')) {
          throw withHint(error, `is "ferry serve" running at ${options.server}?`);
        }
        const code = (error as { code?: unknown }).code;
        if (minted && (code === 5 || code === 6)) throw withHint(error, `the token was minted from ${minted}: is the server using that secret?`);
        throw error;
      },
    );
    const work = login.then(() => body(client, context));
    const outcome = await Promise.race([work.then((code) => ({ code, interrupted: false })), interruption.interrupted.then((code) => ({ code, interrupted: true }))]);
    if (!outcome.interrupted) return outcome.code;
    // The work may still be unwinding; its transfers were cancelled by the signal.
    work.catch(() => undefined);
    const active = interruption.active;
    await interruption.settled();
    reporter.note(active > 0 ? 'interrupted: transfers cancelled and cleaned up' : 'interrupted');
    return outcome.code;
  } finally {
    early?.unsubscribe();
    reporter.stop();
    interruption.dispose();
    if (loggedIn) await client.logout().catch(() => undefined);
  }
};
