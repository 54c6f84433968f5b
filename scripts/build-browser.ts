/**
 * `npm run build:browser [-- <folder>]`: writes the browser builds of `ferry`, `ferry/http` and `ferry/ws`
 * (ESM, code-split, minified; Node-only modules stubbed) to `dist/browser/` or the folder given. The
 * demo page does not need this: development mode builds in memory (`src/server/dev-bundle.ts`).
 * @module
 */
import { mkdir, rm, writeFile } from 'node:fs/promises';
import { dirname, join, resolve } from 'node:path';
import { BROWSER_ENTRIES, buildBrowserBundles, repositoryRoot } from '../src/server/dev-bundle.js';

const folder = resolve(process.argv[2] ?? join(repositoryRoot, 'dist', 'browser'));
const files = await buildBrowserBundles({ entries: BROWSER_ENTRIES, minify: true });
await rm(folder, { recursive: true, force: true });
for (const file of files) {
  const path = join(folder, file.path);
  await mkdir(dirname(path), { recursive: true });
  await writeFile(path, file.contents);
  console.log(`${path}  ${(file.contents.length / 1024).toFixed(1)} KiB`);
}
