/**
 * A download whose file cannot be written (here: the kernel's file-size limit, EFBIG, standing in for a
 * full disk) fails with a code and leaves nothing at the path, not even its temporary file, although
 * its writes run behind the bytes it receives (`src/platform/node-files.ts`). An upload whose part file cannot
 * grow fails the same way, whether the store copied its chunks or kept them (`owned`), with nothing
 * visible, and the store keeps serving.
 */
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';

const prlimit = spawnSync('prlimit', ['--version']).status === 0;
const folder = mkdtempSync(join(tmpdir(), 'ferry-disk-full-'));
afterAll(() => rmSync(folder, { recursive: true, force: true }));

describe('a download to a file that cannot be written', () => {
  it.runIf(prlimit || process.env.CI === 'true')('fails with 1 UNKNOWN naming the error, and leaves no file behind', () => {
    const child = spawnSync(
      'prlimit',
      [`--fsize=${1024 * 1024}`, process.execPath, '--import', 'tsx', join(import.meta.dirname, 'disk-limit-child.ts'), folder],
      { encoding: 'utf8', cwd: join(import.meta.dirname, '../..'), timeout: 30_000 },
    );
    expect(child.status, child.stderr).toBe(0);
    const result = JSON.parse(child.stdout.trim().split('\n').at(-1) ?? '{}') as { ok: boolean; code?: number; message?: string; left: string[] };
    expect(result).toMatchObject({ ok: false, code: 1, left: [] });
    expect(result.message).toMatch(/EFBIG|too large/i);
  });
});

describe('an upload whose part file cannot grow', () => {
  it.runIf(prlimit || process.env.CI === 'true')('fails with 1 UNKNOWN naming the error, copied or owned chunks alike; nothing is visible and the store goes on', () => {
    const dataDir = join(folder, 'store');
    const child = spawnSync(
      'prlimit',
      [`--fsize=${1024 * 1024}`, process.execPath, '--import', 'tsx', join(import.meta.dirname, 'disk-limit-upload-child.ts'), dataDir],
      { encoding: 'utf8', cwd: join(import.meta.dirname, '../..'), timeout: 30_000 },
    );
    expect(child.status, child.stderr).toBe(0);
    type Ended = { ok: boolean; code?: number; message?: string };
    const result = JSON.parse(child.stdout.trim().split('\n').at(-1) ?? '{}') as { copied: Ended; owned: Ended; small: Ended; media: string[] };
    expect(result.copied).toMatchObject({ ok: false, code: 1 });
    expect(result.copied.message).toMatch(/EFBIG|too large/i);
    expect(result.owned).toMatchObject({ ok: false });
    expect(result.owned.message).toMatch(/EFBIG|too large/i);
    expect(result.small).toEqual({ ok: true });
    expect(result.media).toHaveLength(1);
  });
});
