import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { BROWSER_ENTRIES, buildBrowserBundles, NODE_ONLY_MODULES, PAGE_ENTRY } from '../../src/server/dev-bundle.js';

const text = (contents: Uint8Array): string => new TextDecoder().decode(contents);

describe('browser builds of ferry, ferry/http and ferry/ws', () => {
  it('bundle for the browser as ESM with no Node built-in reachable', async () => {
    const files = await buildBrowserBundles({ entries: { ...BROWSER_ENTRIES, ...PAGE_ENTRY } });
    const names = files.map((file) => file.path);
    expect(names).toEqual(expect.arrayContaining(['ferry.js', 'ferry-http.js', 'ferry-ws.js', 'app.js']));
    const all = files.map((file) => text(file.contents)).join('\n');
    // esbuild with platform 'browser' fails on any `node:` or built-in import; nothing is left external either.
    expect(all).not.toMatch(/\bfrom\s*["'](node:|ws["'])/);
    expect(all).not.toMatch(/\bimport\(\s*["'](node:|\.\/node[.-]|\.\/ws-node)/);
    expect(all).not.toMatch(/\brequire\(/);
    expect(text(files.find((file) => file.path === 'ferry-http.js')?.contents ?? new Uint8Array())).toMatch(/export\s*\{[^}]*httpTransport/);
  });

  it('replace exactly the Node-only module, which the engine loads only on Node, with a stub', async () => {
    const files = await buildBrowserBundles({ entries: BROWSER_ENTRIES });
    const all = files.map((file) => text(file.contents)).join('\n');
    const stubbed = [...all.matchAll(/ferry: (\.\/[\w-]+\.js) is Node-only/g)].map((match) => match[1]);
    expect(new Set(stubbed)).toEqual(new Set(NODE_ONLY_MODULES));
  });

  it('fail when a Node built-in becomes reachable from an entry', async () => {
    const folder = await mkdtemp(join(tmpdir(), 'ferry-bundle-'));
    try {
      const entry = join(folder, 'leak.ts');
      await writeFile(entry, "import { readFileSync } from 'node:fs';\nexport const leak = readFileSync;\n");
      await expect(buildBrowserBundles({ entries: { leak: entry } })).rejects.toThrow(/node:fs/);
    } finally {
      await rm(folder, { recursive: true, force: true });
    }
  });
});
