/**
 * What a person sees of `ferry` on a real terminal (issue: results lost beside progress bars): the CLI
 * under a pseudo-terminal, its output played into a headless xterm, assertions on the rows on screen.
 */
import { randomBytes } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type FerryServer, startServer } from '../../src/server/server.js';
import { killTerminals, noTerminal, onTerminal } from './terminal-support.js';

const root = new URL('../..', import.meta.url).pathname;
const image = join(root, 'spec/fixtures/images/jpeg-exif-thumbnail.jpg');

let server: FerryServer;
let work: string;

const as = (user: string): Record<string, string> => ({ FERRY_URL: server.url, FERRY_USER: user, FERRY_TOKEN: server.issueToken(user) });

if (noTerminal) console.log(`spec/cli/terminal.spec.ts skipped: ${noTerminal}`);

describe.skipIf(noTerminal !== undefined)('ferry on a terminal shows every result beside its progress bars', () => {
  beforeAll(async () => {
    work = mkdtempSync(join(tmpdir(), 'ferry-tty-'));
    server = await startServer({ port: 0, dataDir: join(work, 'server-data') });
  });

  afterAll(async () => {
    killTerminals();
    await server.close();
    rmSync(work, { recursive: true, force: true });
  });

  it('send prints what it sent with the media ID, listen what arrived and where it saved it, and Ctrl-C says so', async () => {
    const inbox = mkdtempSync(join(work, 'inbox-'));
    const notes = join(mkdtempSync(join(work, 'outbox-')), 'notes.txt');
    writeFileSync(notes, randomBytes(3 * 1024 * 1024));
    const listener = onTerminal(['listen', '--save', inbox], as('carol'));
    await listener.waitFor(/^listening as carol, saving files to /);

    const sender = onTerminal(['send', image, notes, '--to', 'carol'], as('alice'));
    const sent = await sender.exited;
    expect(sent.code).toBe(0);
    const imageLine = sent.screen.find((row) => row.startsWith('sent IMAGE "jpeg-exif-thumbnail.jpg"'));
    const fileLine = sent.screen.find((row) => row.startsWith('sent FILE "notes.txt"'));
    // 129 characters on a 120-column terminal: wrapped, not cut at the last column while the bars run.
    expect(imageLine).toMatch(/ media [A-Za-z0-9_-]{22} to carol: received by carol$/);
    expect(fileLine).toMatch(/^sent FILE "notes\.txt" \(3\.0 MiB\) media [A-Za-z0-9_-]{22} to carol: received by carol$/);
    // Each finished bar gave way to its line; no bar is left drawn.
    expect(sent.screen).toContainEqual(expect.stringMatching(/^↑ jpeg-exif-thumbnail\.jpg: done, 3\.5 KiB in \d+\.\ds$/));
    expect(sent.screen).toContainEqual(expect.stringMatching(/^↑ notes\.txt: done, 3\.0 MiB in \d+\.\ds$/));
    expect(sent.screen.filter((row) => /[█░]/.test(row))).toEqual([]);

    // The listener shows both messages and both saved files, and the media IDs the sender printed.
    const mediaOf = (line: string | undefined): string => /media (\S+) to carol: /.exec(line ?? '')?.[1] ?? 'missing';
    await listener.waitFor(new RegExp(`^alice: IMAGE .* media ${mediaOf(imageLine)}$`));
    await listener.waitFor(new RegExp(`^alice: FILE "notes\\.txt" .* media ${mediaOf(fileLine)}$`));
    await listener.waitFor(/^saved .*jpeg-exif-thumbnail\.jpg$/);
    await listener.waitFor(/^saved .*notes\.txt$/);
    expect(readFileSync(join(inbox, 'notes.txt')).equals(readFileSync(notes))).toBe(true);

    listener.type('\x03');
    const stopped = await listener.exited;
    expect(stopped.code).toBe(130);
    expect(stopped.screen.at(-1)).toMatch(/^interrupted/);
    expect(stopped.screen.filter((row) => /[█░]/.test(row))).toEqual([]);
  });

  it('a failure is shown with its reason, and rates are whole bytes', async () => {
    const failed = await onTerminal(['send', join(work, 'no-such-file.bin'), '--to', 'carol', '--offline'], as('alice')).exited;
    expect(failed.code).toBe(1);
    expect(failed.screen.at(-1)).toMatch(/no-such-file\.bin.*code 2/);
    expect(failed.screen.join('\n')).not.toMatch(/\d\.\d{3,} B\/s/);
  });
});
