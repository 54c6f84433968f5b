/**
 * Names for received files: an untrusted name becomes a plain one that stays in the folder, and a name
 * already taken is never overwritten.
 */
import { mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { reserveFile, safeFileName } from '../../src/cli/save.js';

describe('safeFileName', () => {
  it.each([
    ['../../etc/passwd', 'passwd'],
    ['..\\..\\windows\\win.ini', 'win.ini'],
    ['..', 'fallback'],
    ['', 'fallback'],
    ['.bashrc', 'bashrc'],
    ['report.pdf.', 'report.pdf'],
    ['a\u0000b\u202Ec.txt', 'a_b_c.txt'],
    ['what?<is>*this|".txt', 'what__is__this__.txt'],
    ['CON.txt', '_CON.txt'],
    ['photo.jpg', 'photo.jpg'],
  ])('turns %j into %j', (name, safe) => {
    expect(safeFileName(name, 'fallback')).toBe(safe);
  });

  it('keeps long names under 200 bytes with their extension, without splitting a character', () => {
    const safe = safeFileName(`${'é'.repeat(300)}.jpeg`, 'fallback');
    expect(Buffer.byteLength(safe)).toBeLessThanOrEqual(200);
    expect(safe.endsWith('é.jpeg')).toBe(true);
  });
});

describe('reserveFile', () => {
  let folder: string | undefined;
  afterEach(() => {
    if (folder) rmSync(folder, { recursive: true, force: true });
  });

  it('creates the folder and picks "name (n).ext" when the name is taken, leaving the existing file alone', async () => {
    folder = mkdtempSync(join(tmpdir(), 'ferry-save-'));
    const inbox = join(folder, 'inbox');
    const first = await reserveFile(inbox, 'photo.jpg');
    writeFileSync(first, 'mine');
    const [second, third] = await Promise.all([reserveFile(inbox, 'photo.jpg'), reserveFile(inbox, 'photo.jpg')]);
    expect([first, second, third].map((p) => p.slice(inbox.length + 1)).sort()).toEqual(['photo (1).jpg', 'photo (2).jpg', 'photo.jpg']);
    expect(readFileSync(first, 'utf8')).toBe('mine');
    expect(readdirSync(inbox)).toHaveLength(3);
  });
});
