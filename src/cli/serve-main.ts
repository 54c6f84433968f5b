/**
 * The server entry kept for `node --import tsx src/cli/serve-main.ts` (specs start it this way): the same as
 * `ferry serve`, whose defaults read `PORT`, `HOST`, `FERRY_DATA_DIR` and `FERRY_SECRET`.
 * @module
 */
import { runCli } from './program.js';

process.exit(await runCli(['serve', ...process.argv.slice(2)]));
