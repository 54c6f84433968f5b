/**
 * The README's quick start runs as written: its TypeScript block is extracted, pointed at this
 * checkout's sources instead of the built package, and run in a child process from the repository root.
 */
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';

const root = new URL('..', import.meta.url).pathname;

describe('README', () => {
  it('has a quick start that runs as written and prints the image and the download', () => {
    const readme = readFileSync(join(root, 'README.md'), 'utf8');
    const block = /## Quick start\s+```ts\n([\s\S]*?)```/.exec(readme)?.[1];
    expect(block).toBeDefined();
    const folder = mkdtempSync(join(tmpdir(), 'ferry-readme-'));
    const script = join(folder, 'quick-start.mts');
    writeFileSync(script, (block as string).replace("from 'ferry'", `from ${JSON.stringify(join(root, 'src/index.js'))}`));
    const output = execFileSync(process.execPath, ['--import', 'tsx', script], { cwd: root, encoding: 'utf8', timeout: 60_000 });
    rmSync(folder, { recursive: true, force: true });
    expect(output).toMatch(/alice sent png-8bit\.png, \d+ × \d+/);
    expect(output).toMatch(/bob downloaded \d+ bytes/);
    expect(output).toMatch(/↑ (\d+)\/\1/);
  });
});
