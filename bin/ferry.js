#!/usr/bin/env node
// The `ferry` command. In a source checkout (src/cli/main.ts beside this folder, tsx installed by
// `npm ci`) it runs the TypeScript directly, so a fresh clone needs no build step; in the published
// package, which ships only dist/, it runs the compiled CLI. Why: docs/decisions.md, "The ferry launcher".
import { existsSync } from 'node:fs';

const source = new URL('../src/cli/main.ts', import.meta.url);
if (existsSync(source)) {
  const { register } = await import('tsx/esm/api');
  register();
  await import(source.href);
} else {
  await import(new URL('../dist/src/cli/main.js', import.meta.url).href);
}
