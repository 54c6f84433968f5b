/**
 * Lua scripts run on Redis by their SHA-1 (`EVALSHA`), sent whole (`EVAL`) only when the server does not
 * know them yet (first use, or after a restart or `SCRIPT FLUSH`). Each script is one atomic step: Redis
 * runs nothing else while it runs, whichever connection or process sent it.
 * @module
 */
import { createHash } from 'node:crypto';
import type { Redis } from 'ioredis';

/** A Lua script and its SHA-1. */
export interface LuaScript {
  readonly source: string;
  readonly sha: string;
}

/**
 * A script, hashed once.
 * @example const incr = luaScript("return redis.call('INCR', KEYS[1])");
 */
export const luaScript = (source: string): LuaScript => ({ source, sha: createHash('sha1').update(source).digest('hex') });

/**
 * Runs `script` with `keys` and `args` and resolves with its reply (decode it: it is Redis's, untyped).
 * Rejects with the error of Redis or of the connection.
 * @example await runLua(redis, incr, ['ferry:counter'], [])
 */
export const runLua = async (redis: Redis, script: LuaScript, keys: readonly string[], args: readonly string[]): Promise<unknown> => {
  try {
    return await redis.evalsha(script.sha, keys.length, ...keys, ...args);
  } catch (error) {
    if (!(error instanceof Error && error.message.startsWith('NOSCRIPT'))) throw error;
    return redis.eval(script.source, keys.length, ...keys, ...args);
  }
};
