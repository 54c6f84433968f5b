/**
 * The entry of the `ferry` command (`bin/ferry.js` loads it): runs the command line and exits with its
 * code, since a finished command may leave idle keep-alive sockets that would hold the process open.
 * @module
 */
import { runCli } from './program.js';

process.exit(await runCli(process.argv.slice(2)));
