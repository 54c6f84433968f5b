/**
 * The packages only the command line needs (`commander`, `cli-progress`) are optional peer dependencies
 * of ferry, so a library user never installs them (decision 109). The CLI checks for them before it loads
 * anything that imports them, and says what to install instead of crashing on an import.
 * @module
 */

/** What the `ferry` command needs besides the library. */
export const CLI_PACKAGES = ['commander', 'cli-progress'] as const;

/** Whether `error` is Node's "cannot find package `name`" (and not a failure inside a package that exists). */
const isMissing = (error: unknown, name: string): boolean => {
  const { code, message } = (error ?? {}) as { code?: unknown; message?: unknown };
  return (code === 'ERR_MODULE_NOT_FOUND' || code === 'MODULE_NOT_FOUND') && typeof message === 'string' && message.includes(`'${name}'`);
};

/**
 * The packages of `names` that cannot be loaded; rejects with any other error of loading one.
 * @example await missingPackages(CLI_PACKAGES) // [] in a checkout; ['commander', 'cli-progress'] in a bare install
 */
export const missingPackages = async (names: readonly string[], load: (name: string) => Promise<unknown> = (name) => import(name)): Promise<string[]> => {
  const missing: string[] = [];
  for (const name of names) {
    try {
      await load(name);
    } catch (error) {
      if (!isMissing(error, name)) throw error;
      missing.push(name);
    }
  }
  return missing;
};

/** The line that tells a person which packages to install for the command line. */
export const missingPackagesLine = (missing: readonly string[]): string =>
  `ferry: the command line needs ${missing.map((name) => `"${name}"`).join(' and ')}, optional for the library and not installed: npm install ${missing.join(' ')}`;
