/**
 * The `ferry` command line: its commands and options (commander), help text with the exit codes, and
 * `runCli`, which runs one command line and resolves with the exit code instead of exiting, so the
 * entry file decides when the process ends.
 * @module
 */
import { createRequire } from 'node:module';
import { Command, CommanderError, Option } from 'commander';
import { type ConnectionOptions, runAsClient, withConnectionOptions } from './connect.js';
import { ExitCode, type ExitCodeValue, describeError, errorJson, exitCodeOf } from './exit.js';
import { getCommand, refuseExisting } from './get.js';
import { type ListenOptions, listenCommand } from './listen.js';
import type { ReporterIo } from './progress-bars.js';
import { checkSendOptions, type SendOptions, sendCommand } from './send.js';
import { type ServeOptions, serveCommand } from './serve.js';
import { defaultDataDir, tokenCommand } from './token-command.js';

const EXIT_CODES = `
Exit codes:
  0    done
  1    a ferry operation failed; the message names it and its code (e.g. "download failed (code 4)")
  2    usage: a wrong option or argument, no user or token, an unknown transport, a port in use
  130  interrupted by Ctrl-C: running transfers were cancelled and cleaned up first
  143  stopped by SIGTERM (kill, timeout), cleaned up the same way; 129: the terminal closed (SIGHUP)

Environment: FERRY_URL, FERRY_USER, FERRY_TOKEN, FERRY_DATA_DIR, FERRY_SECRET, PORT, HOST,
  FERRY_LOG_LEVEL, FERRY_METRICS_PORT, FERRY_DRAIN_TIMEOUT_MS, FERRY_LIMITS, FERRY_RETENTION, FERRY_REDIS_URL,
  FERRY_REDIS_PREFIX, FERRY_NODE_LEASE, FERRY_S3_ENDPOINT, FERRY_S3_BUCKET, FERRY_S3_REGION, FERRY_S3_PREFIX, AWS_ACCESS_KEY_ID,
  AWS_SECRET_ACCESS_KEY (serve; see docs/deploy.md).`;

/** The package's version, read through its own `ferry/package.json` export (checkout and install alike). */
const version = (): string => (createRequire(import.meta.url)('ferry/package.json') as { version: string }).version;

/** Runs one `ferry` command line (without `node` and the script); resolves with the exit code. */
export const runCli = async (argv: readonly string[], io: ReporterIo = { stdout: process.stdout, stderr: process.stderr }): Promise<ExitCodeValue> => {
  let code: ExitCodeValue = ExitCode.OK;
  let json = false;
  const program = new Command()
    .name('ferry')
    .description('Send files and images as chat messages through a ferry server.')
    .version(version(), '-V, --version')
    .showHelpAfterError('(run with --help for usage)')
    .addHelpText('after', EXIT_CODES)
    .exitOverride()
    .configureOutput({ writeOut: (text) => io.stdout.write(text), writeErr: (text) => io.stderr.write(text) });

  program
    .command('serve')
    .description('run the server (as "npm start")')
    .addOption(new Option('--port <port>', 'TCP port; 0 for any free one').env('PORT').default('8080'))
    .addOption(new Option('--host <host>', 'interface to listen on').env('HOST').default('127.0.0.1'))
    .addOption(new Option('--data-dir <dir>', 'media, partial uploads and the token secret').env('FERRY_DATA_DIR').default('.ferry-data'))
    .addOption(new Option('--dev', 'development mode: the demo page at / and a token endpoint for it (this machine only; needs a checkout)').env('FERRY_DEV'))
    .addOption(new Option('--log-level <level>', 'JSON log lines on stdout from this level: fatal, error, warn, info, debug, trace, silent').env('FERRY_LOG_LEVEL').default('info'))
    .addOption(new Option('--metrics-port <port>', 'serve /healthz, /readyz and /metrics on this port instead of --port').env('FERRY_METRICS_PORT'))
    .addOption(
      new Option('--limit <name=value>', 'change a limit, repeatable: e.g. storedBytes=512MiB, unfinishedUploads=5, messageRate=360/3000 (docs/contract.md §5)')
        .env('FERRY_LIMITS')
        .argParser((value: string, previous: string[] | undefined) => [...(previous ?? []), value]),
    )
    .addOption(new Option('--drain-timeout <ms>', 'on SIGTERM or Ctrl-C, time given to requests in flight before sessions are told to reconnect').env('FERRY_DRAIN_TIMEOUT_MS').default('10000'))
    .addOption(new Option('--retention <duration>', 'how long media is kept after its upload: 90s, 30m, 24h, 7d (default 7d)').env('FERRY_RETENTION'))
    .addOption(new Option('--redis <url>', 'Redis shared by every node of a cluster: messages, presence, unfinished uploads, quotas (docs/deploy.md)').env('FERRY_REDIS_URL'))
    .addOption(new Option('--redis-prefix <prefix>', 'prefix of every Redis key (default ferry:)').env('FERRY_REDIS_PREFIX'))
    .addOption(new Option('--node-lease <duration>', "with --redis: a dead node's sessions end (their members reported left) within about this (default 15s)").env('FERRY_NODE_LEASE'))
    .addOption(new Option('--s3-endpoint <url>', 'S3 store for media instead of the data folder (e.g. Ceph RGW); credentials from AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY').env('FERRY_S3_ENDPOINT'))
    .addOption(new Option('--s3-bucket <name>', 'the S3 bucket (created if missing)').env('FERRY_S3_BUCKET'))
    .addOption(new Option('--s3-region <region>', 'the S3 region (default us-east-1)').env('FERRY_S3_REGION'))
    .addOption(new Option('--s3-prefix <prefix>', 'prefix of every object key').env('FERRY_S3_PREFIX'))
    .action(async (options: ServeOptions) => {
      code = await serveCommand(options, (line) => io.stdout.write(`${line}\n`));
    });

  program
    .command('token')
    .description("mint a login token with the data folder's secret (or FERRY_SECRET)")
    .argument('<userId>', 'the user the token logs in')
    .option('--ttl <duration>', 'validity: 90s, 30m, 24h, 7d; a bare number is hours', '24h')
    .addOption(new Option('--data-dir <dir>', "the server's data folder").default(defaultDataDir()))
    .action(async (userId: string, options: { ttl: string; dataDir: string }) => {
      io.stdout.write(`${await tokenCommand(userId, options)}\n`);
    });

  withConnectionOptions(
    program
      .command('send')
      .description('upload files (images with their size) and send them as messages')
      .argument('<file...>', 'files to send')
      .option('--to <peer>', 'the user to send to (refused before uploading if offline, unless --offline)')
      .option('--channel <id>', 'the channel to send to (joined for the purpose)')
      .option('--text <caption>', 'a caption, sent as each message\'s description')
      .option('--offline', 'if the peer is offline, the server keeps the messages until it logs in (up to 7 days)'),
  ).action(async (files: string[], options: SendOptions & ConnectionOptions) => {
    json = options.json === true;
    checkSendOptions(options);
    code = await runAsClient(options, io, (client, context) => sendCommand(client, context, files, options));
  });

  withConnectionOptions(
    program
      .command('listen')
      .description('print incoming messages, those kept while you were offline first; with --save, download their files')
      .option('--channel <id...>', 'channels to join and listen to, besides peer messages')
      .option('--save <dir>', 'download every file and image into this folder'),
  ).action(async (options: ListenOptions & ConnectionOptions) => {
    json = options.json === true;
    const listen = listenCommand(options.user ?? '', options);
    code = await runAsClient(options, io, listen.run, listen.beforeLogin);
  });

  withConnectionOptions(
    program
      .command('get')
      .description('download media by its ID')
      .argument('<mediaId>', 'the media ID of a FILE or IMAGE message')
      .option('-o, --output <file>', 'where to write it; "-" for stdout (default: the file\'s own name in the current folder, as "name (1).ext" if taken)')
      .option('-f, --force', 'replace an existing file: the one at --output, or the one of the file\'s own name'),
  ).action(async (mediaId: string, options: { output?: string; force?: boolean } & ConnectionOptions) => {
    json = options.json === true;
    if (options.output !== undefined && options.output !== '-' && options.force !== true) await refuseExisting(options.output);
    code = await runAsClient(options, io, (client, context) => getCommand(client, context, mediaId, options.output, options.force === true));
  });

  try {
    await program.parseAsync(argv, { from: 'user' });
    return code;
  } catch (error) {
    if (error instanceof CommanderError) return error.exitCode === 0 ? ExitCode.OK : ExitCode.USAGE;
    const command = argv.find((arg) => !arg.startsWith('-')) ?? '';
    io.stderr.write(`${json ? errorJson(error) : `ferry ${command}: ${describeError(error)}`}\n`);
    return exitCodeOf(error);
  }
};
