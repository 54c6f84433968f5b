/**
 * Login tokens from the data folder's secret: `ferry token`, and the token `send`/`listen`/`get` mint for
 * themselves when none is given and the secret is on this machine (decision "The CLI mints a token…").
 * The secret is the one the server uses: `FERRY_SECRET`, else `<data-dir>/secret` as `startServer`
 * generates it. Tokens are minted by the hub's own `issueToken`, so their format and checks are the hub's.
 * @module
 */
import { readFile } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { createHub } from '../hub/hub.js';
import { errnoOf } from '../platform/node-fs.js';
import { UsageError } from './exit.js';

/** Where the server keeps its data unless told otherwise: `FERRY_DATA_DIR`, else `./.ferry-data`. */
export const defaultDataDir = (): string => process.env.FERRY_DATA_DIR ?? '.ferry-data';

/** Where a secret was found, for messages. */
export interface FoundSecret {
  readonly secret: string;
  /** `FERRY_SECRET` or the path of the secret file. */
  readonly from: string;
}

/** The server's secret: `FERRY_SECRET`, else `<dataDir>/secret`; `undefined` if neither exists. */
export const findSecret = async (dataDir: string): Promise<FoundSecret | undefined> => {
  const fromEnv = process.env.FERRY_SECRET;
  if (fromEnv) return { secret: fromEnv, from: 'FERRY_SECRET' };
  const path = join(resolve(dataDir), 'secret');
  try {
    const secret = (await readFile(path, 'utf8')).trim();
    return secret === '' ? undefined : { secret, from: path };
  } catch (error) {
    if (errnoOf(error) === 'ENOENT') return undefined;
    throw new UsageError(`cannot read the secret ${path}: ${errnoOf(error) ?? String(error)}`);
  }
};

/** Mints a token with `secret` through the hub, which checks the user ID and TTL. */
export const mintToken = (secret: string, userId: string, ttlMs?: number): string => {
  const hub = createHub({ secret });
  try {
    return hub.issueToken(userId, ttlMs);
  } catch (error) {
    throw new UsageError(error instanceof Error ? error.message : String(error));
  } finally {
    hub.close();
  }
};

const UNIT_MS = { s: 1_000, m: 60_000, h: 3_600_000, d: 86_400_000 } as const;

/**
 * A duration as `90s`, `30m`, `24h`, `7d`; a bare number is hours (as the former `npm run token -- <user> <hours>`).
 * `flag` names the option in the error. @throws {UsageError} when it is not one.
 * @example parseDuration('--retention', '7d') // 604800000
 */
export const parseDuration = (flag: string, text: string): number => {
  const match = /^(\d+(?:\.\d+)?)([smhd]?)$/.exec(text.trim());
  const ms = match ? Number(match[1]) * UNIT_MS[(match[2] || 'h') as keyof typeof UNIT_MS] : Number.NaN;
  if (!(ms >= 1_000 && Number.isSafeInteger(Math.round(ms)))) {
    throw new UsageError(`${flag} ${JSON.stringify(text)}: expected a duration such as 90s, 30m, 24h or 7d (at least 1s)`);
  }
  return Math.round(ms);
};

/** `--ttl`'s duration (see {@link parseDuration}). */
export const parseTtl = (text: string): number => parseDuration('--ttl', text);

/** `ferry token <userId> [--ttl] [--data-dir]`: the token, or why there is none. */
export const tokenCommand = async (userId: string, options: { readonly ttl?: string; readonly dataDir: string }): Promise<string> => {
  const ttlMs = options.ttl === undefined ? undefined : parseTtl(options.ttl);
  const found = await findSecret(options.dataDir);
  if (!found) {
    throw new UsageError(
      `no secret: start the server once (ferry serve) so it creates ${join(resolve(options.dataDir), 'secret')}, or set FERRY_SECRET`,
    );
  }
  return mintToken(found.secret, userId, ttlMs);
};
