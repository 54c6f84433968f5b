/**
 * Browser builds of `ferry`, `ferry/http` and `ferry/ws` (and the demo page's script), made with esbuild
 * for `platform: 'browser'`, ESM, code-split so the entries share one copy of the engine.
 *
 * The engine loads its Node-only defaults on demand from one module, `src/platform/node.ts`, behind the
 * one "are we on Node?" check of `src/platform/defaults.ts`. A bundler follows that `import()` anyway,
 * and what it imports reaches `node:*` and `ws`, so the build replaces exactly that module with a stub
 * that throws (decision 47). Any other Node built-in reaching the browser
 * graph is an esbuild error ("Could not resolve"), which is what `spec/browser/bundle.spec.ts` checks.
 *
 * esbuild is a development dependency: it is loaded only when a build is asked for (dev mode, the
 * `build:browser` script, the specs), never by `startServer` otherwise.
 * @module
 */
import { fileURLToPath } from 'node:url';
import type { Plugin } from 'esbuild';

/** The repository root (this file is `src/server/dev-bundle.ts`). */
export const repositoryRoot = fileURLToPath(new URL('../../', import.meta.url));

/** The modules the engine imports only on Node, by the name they are imported with. */
export const NODE_ONLY_MODULES: readonly string[] = ['./node.js'];

/** Output name (without `.js`) → source, relative to the repository root. */
export const BROWSER_ENTRIES: Readonly<Record<string, string>> = {
  ferry: 'src/index.ts',
  'ferry-http': 'transports/http.ts',
  'ferry-ws': 'transports/ws.ts',
};

/** The demo page's script, built with the library entries so that it shares their chunks. */
export const PAGE_ENTRY: Readonly<Record<string, string>> = { app: 'web/page.ts' };

/** One built file: its path relative to the output folder, and its bytes. */
export interface BuiltFile {
  readonly path: string;
  readonly contents: Uint8Array;
}

/** Options of {@link buildBrowserBundles}. */
export interface BrowserBuildOptions {
  /** Entries to build, name → source relative to the root. Default: {@link BROWSER_ENTRIES} and {@link PAGE_ENTRY}. */
  readonly entries?: Readonly<Record<string, string>>;
  /** Minify. Default: `false` (readable sources in the dev page). */
  readonly minify?: boolean;
}

/** A stub for each Node-only module: the engine never calls it in a browser, and says so if it does. */
const nodeOnlyStub: Plugin = {
  name: 'ferry-node-only',
  setup(build) {
    const names = new Set(NODE_ONLY_MODULES);
    build.onResolve({ filter: /^\.\/node\.js$/ }, (args) =>
      names.has(args.path) && /[\\/]src[\\/]platform[\\/]defaults\.ts$/.test(args.importer) ? { path: args.path, namespace: 'ferry-node-only' } : undefined,
    );
    build.onLoad({ filter: /.*/, namespace: 'ferry-node-only' }, (args) => ({
      contents: `throw new Error(${JSON.stringify(`ferry: ${args.path} is Node-only and is not part of browser builds`)});`,
      loader: 'js',
    }));
  },
};

/**
 * Builds the browser bundles in memory. Rejects with esbuild's errors, e.g. when a Node built-in is
 * reachable from an entry.
 * @example
 * const files = await buildBrowserBundles({ entries: BROWSER_ENTRIES });
 * // [{ path: 'ferry.js', … }, { path: 'ferry-http.js', … }, { path: 'chunk-….js', … }, …]
 */
export const buildBrowserBundles = async (options: BrowserBuildOptions = {}): Promise<BuiltFile[]> => {
  const { build } = await import('esbuild');
  const entries = options.entries ?? { ...BROWSER_ENTRIES, ...PAGE_ENTRY };
  const result = await build({
    absWorkingDir: repositoryRoot,
    entryPoints: Object.entries(entries).map(([out, source]) => ({ in: source, out })),
    bundle: true,
    splitting: true,
    format: 'esm',
    platform: 'browser',
    target: ['es2022'],
    outdir: 'browser',
    write: false,
    minify: options.minify ?? false,
    sourcemap: false,
    logLevel: 'silent',
    chunkNames: 'chunk-[hash]',
    plugins: [nodeOnlyStub],
  });
  const outdir = `${repositoryRoot}browser/`;
  return result.outputFiles.map((file) => ({ path: file.path.slice(outdir.length), contents: file.contents }));
};
