/**
 * `npm run token -- <userId> [ttlHours]`: mints a login token with the data folder's secret (or
 * `FERRY_SECRET`), the one `npm start` uses, and prints it.
 * @module
 */
import { readFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { createHub } from '../hub/hub.js';

const [userId, ttlHours] = process.argv.slice(2);
const dataDir = resolve(process.env.FERRY_DATA_DIR ?? '.ferry-data');
if (!userId) {
  console.error('usage: npm run token -- <userId> [ttlHours]');
  process.exit(2);
}
let secret = process.env.FERRY_SECRET;
try {
  secret ??= readFileSync(join(dataDir, 'secret'), 'utf8').trim();
} catch {
  console.error(`no secret: start the server once (npm start) so it creates ${join(dataDir, 'secret')}, or set FERRY_SECRET`);
  process.exit(2);
}
const hub = createHub({ secret });
try {
  console.log(hub.issueToken(userId, ttlHours ? Number(ttlHours) * 3_600_000 : undefined));
} catch (error) {
  console.error(error instanceof Error ? error.message : String(error));
  process.exit(2);
} finally {
  hub.close();
}
