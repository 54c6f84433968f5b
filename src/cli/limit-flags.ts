/**
 * `ferry serve --limit <name>=<value>` (repeatable; `FERRY_LIMITS` holds the same, comma-separated): the
 * server's limits from the command line. Counts and bytes are integers, bytes may end in KiB, MiB or GiB;
 * rates are `<count>/<ms>` or `off`. Names are those of `startServer({ limits })` (docs/contract.md §5).
 * @module
 */
import { DEFAULT_SERVER_LIMITS, type ServerLimits } from '../server/server-limits.js';
import { UsageError } from './exit.js';

const UNITS: Readonly<Record<string, number>> = { '': 1, KiB: 1024, MiB: 1024 ** 2, GiB: 1024 ** 3 };
const RATES = new Set<string>(['messageRate', 'loginRate', 'joinRate']);

/**
 * The limits given as `name=value` settings, over nothing (`startServer` fills in the defaults).
 * @throws {UsageError} naming the setting, and what a good one looks like.
 * @example parseLimits(['storedBytes=512MiB', 'messageRate=360/3000']) // { storedBytes: 536870912, messageRate: { limit: 360, windowMs: 3000 } }
 */
export const parseLimits = (settings: readonly string[]): Partial<ServerLimits> => {
  const limits: Record<string, unknown> = {};
  for (const setting of settings.flatMap((s) => s.split(',')).map((s) => s.trim()).filter((s) => s !== '')) {
    const [name = '', value = '', ...rest] = setting.split('=');
    if (!(name in DEFAULT_SERVER_LIMITS) || rest.length > 0) {
      throw new UsageError(`--limit ${JSON.stringify(setting)}: expected <name>=<value> with a name among ${Object.keys(DEFAULT_SERVER_LIMITS).join(', ')}`);
    }
    if (RATES.has(name)) {
      const rate = /^(\d+)\/(\d+)$/.exec(value);
      if (value !== 'off' && !rate) throw new UsageError(`--limit ${name}=${JSON.stringify(value)}: expected <count>/<ms>, e.g. 180/3000, or off`);
      limits[name] = rate ? { limit: Number(rate[1]), windowMs: Number(rate[2]) } : { limit: Infinity, windowMs: 1_000 };
      continue;
    }
    const amount = /^(\d+)(KiB|MiB|GiB)?$/.exec(value);
    if (!amount) throw new UsageError(`--limit ${name}=${JSON.stringify(value)}: expected a whole number, bytes may end in KiB, MiB or GiB`);
    limits[name] = Number(amount[1]) * (UNITS[amount[2] ?? ''] ?? 1);
  }
  return limits as Partial<ServerLimits>;
};
