/**
 * The entry of the `ferry` command (`bin/ferry.js` loads it): checks that the command line's own packages
 * are installed (optional for the library: exit 2 naming them), runs the command line and exits with its
 * code, since a finished command may leave idle keep-alive sockets that would hold the process open.
 * @module
 */
import { ExitCode, exitWith } from './exit.js';
import { CLI_PACKAGES, missingPackages, missingPackagesLine } from './optional-packages.js';

const missing = await missingPackages(CLI_PACKAGES);
if (missing.length > 0) {
  process.stderr.write(`${missingPackagesLine(missing)}\n`);
  process.exit(ExitCode.USAGE);
}
// Loaded only now: the program imports `commander` and `cli-progress` statically.
const { runCli } = await import('./program.js');
exitWith(await runCli(process.argv.slice(2)));
