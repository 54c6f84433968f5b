/**
 * `ferry serve [--port] [--host] [--data-dir] [--dev]`: the server with the defaults `npm start` has always had —
 * port 8080 (`PORT`), host 127.0.0.1 (`HOST`), data in `./.ferry-data` (`FERRY_DATA_DIR`), the secret from
 * `FERRY_SECRET` or generated once into the data folder. Stops cleanly on Ctrl-C or SIGTERM (exit 0).
 * @module
 */
import { resolve } from 'node:path';
import { startServer } from '../server/server.js';
import { errnoOf } from '../node-fs.js';
import { ExitCode, type ExitCodeValue, UsageError } from './exit.js';

/** Options of `ferry serve`, as commander parses them. */
export interface ServeOptions {
  readonly port: string;
  readonly host: string;
  readonly dataDir: string;
  /** Development mode (`--dev`, `FERRY_DEV`): the demo page and its token endpoint (decision 48). */
  readonly dev?: boolean | string;
}

/** Runs the server until SIGINT or SIGTERM; resolves with the exit code once it has closed. */
export const serveCommand = async (options: ServeOptions, out: (line: string) => void): Promise<ExitCodeValue> => {
  const port = Number(options.port);
  if (!(Number.isInteger(port) && port >= 0 && port <= 65_535)) throw new UsageError(`--port ${JSON.stringify(options.port)}: expected 0 to 65535`);
  const dataDir = resolve(options.dataDir);
  const secret = process.env.FERRY_SECRET;
  const dev = options.dev === true || (typeof options.dev === 'string' && options.dev !== '' && options.dev !== '0');
  const server = await startServer({ dataDir, port, host: options.host, dev, ...(secret ? { secret } : {}) }).catch((error: unknown) => {
    const errno = errnoOf(error);
    if (errno === 'EADDRINUSE') throw new UsageError(`port ${port} is in use: pass --port or set PORT to another one`);
    if (errno === 'EADDRNOTAVAIL' || errno === 'ENOTFOUND') throw new UsageError(`cannot listen on host ${options.host} (${errno})`);
    throw error;
  });
  out(`ferry server listening on ${server.url}`);
  out(`  data folder:   ${dataDir}`);
  out(`  uploads (tus): ${server.uploadsUrl}`);
  out(`  mint a token:  npx ferry token <userId>`);
  out(`  protocol:      docs/protocol-http.md, docs/protocol-ws.md (${server.wsUrl})`);
  if (dev) out(`  demo page:     ${server.url}/ (development mode: any user ID gets a token from this machine)`);
  const signal = await new Promise<string>((done) => {
    process.once('SIGINT', () => done('SIGINT'));
    process.once('SIGTERM', () => done('SIGTERM'));
  });
  out(`stopping (${signal})…`);
  await server.close();
  return ExitCode.OK;
};
