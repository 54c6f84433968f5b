/**
 * What a person sees of `ferry` on a real terminal (issue: results lost beside progress bars): the CLI
 * under a pseudo-terminal, its output played into a headless xterm, assertions on the rows on screen.
 */
import { randomBytes } from 'node:crypto';
import { mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createClient } from '../../src/index.js';
import { type FerryServer, startServer } from '../../src/server/server.js';
import { httpTransport } from '../../transports/http.js';
import { slowProxy } from './support.js';
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

  it('60 files arriving at once: every result line once, on both ends, and no bar left on screen or in the scrollback', async () => {
    const inbox = mkdtempSync(join(work, 'inbox-'));
    const outbox = mkdtempSync(join(work, 'outbox-'));
    const names = Array.from({ length: 60 }, (_, i) => `f-${String(i).padStart(2, '0')}.txt`);
    for (const name of names) writeFileSync(join(outbox, name), randomBytes(32 * 1024));
    // Sent while dora is offline, they all arrive with her login: 60 downloads at once, 9 running (slowed
    // down by a proxy, so they last) and the rest waiting, more than the terminal's 40 rows.
    const sent = await onTerminal(['send', ...names.map((name) => join(outbox, name)), '--to', 'dora', '--offline'], as('alice')).exited;
    expect(sent.code).toBe(0);
    const proxy = await slowProxy(server.url, 128 * 1024);
    const listener = onTerminal(['listen', '--save', inbox], { ...as('dora'), FERRY_URL: proxy.url });
    try {
      await listener.waitFor(/^listening as dora, saving files to /);
      for (const name of names) await listener.waitFor(new RegExp(`^saved .*/${name.replace('.', '\\.')}$`), 60_000);
      for (const name of names) await listener.waitFor(new RegExp(`^↓ ${name.replace('.', '\\.')}: done, 32\\.0 KiB in \\d+\\.\\ds$`));
    } finally {
      listener.type('\x03');
    }
    const heard = await listener.exited;
    await proxy.close();
    expect(heard.code).toBe(130);

    /** How many rows of `screen` match `pattern`. */
    const count = (screen: string[], pattern: RegExp): number => screen.filter((row) => pattern.test(row)).length;
    const bars = /[█░]|^[↑↓] \S+\s+(waiting|starting)$|^… and \d+ more/;
    for (const name of names) {
      const file = name.replace('.', '\\.');
      expect(count(sent.screen, new RegExp(`^sent FILE "${file}" \\(32\\.0 KiB\\) media \\S+ to dora: dora is offline; kept by the server until dora logs in$`)), name).toBe(1);
      expect(count(sent.screen, new RegExp(`^↑ ${file}: done, `)), name).toBe(1);
      expect(count(heard.screen, new RegExp(`^alice: FILE "${file}" .*\\(sent while you were offline, `)), name).toBe(1);
      expect(count(heard.screen, new RegExp(`^saved ${inbox}/${file}$`)), name).toBe(1);
      expect(count(heard.screen, new RegExp(`^↓ ${file}: done, `)), name).toBe(1);
      expect(readFileSync(join(inbox, name)).equals(readFileSync(join(outbox, name))), name).toBe(true);
    }
    expect(sent.screen.filter((row) => bars.test(row))).toEqual([]);
    expect(heard.screen.filter((row) => bars.test(row))).toEqual([]);
    // Nothing but the lines a person expects: results, the listener's own lines, and the interruption.
    expect(sent.screen).toHaveLength(120);
    expect(heard.screen.filter((row) => !/^(alice: FILE|saved |↓ f-\d\d\.txt: done|listening as dora|interrupted)/.test(row))).toEqual([]);
  }, 120_000);

  it('a failure is shown with its reason, and rates are whole bytes', async () => {
    const failed = await onTerminal(['send', join(work, 'no-such-file.bin'), '--to', 'carol', '--offline'], as('alice')).exited;
    expect(failed.code).toBe(1);
    expect(failed.screen.at(-1)).toMatch(/no-such-file\.bin.*code 2/);
    expect(failed.screen.join('\n')).not.toMatch(/\d\.\d{3,} B\/s/);
  });
  // Found by review: after a hang-up every write to the terminal fails (EIO); the next redraw of a progress
  // bar ended the process with an uncaught error and left the download's temporary file and the upload's
  // partial bytes behind.
  it('closing the terminal during a download and an upload cleans up as Ctrl-C does', async () => {
    const size = 16 * 1024 * 1024;
    const source = join(mkdtempSync(join(work, 'hup-source-')), 'big.bin');
    writeFileSync(source, randomBytes(size));
    const uploader = createClient({ transport: httpTransport({ url: server.url }) });
    await uploader.login({ userId: 'mia', token: server.issueToken('mia') });
    const { mediaId } = await uploader.createFileMessageByUploading(source).result;
    await uploader.logout();
    const proxy = await slowProxy(server.url, 1024 * 1024);
    const folder = mkdtempSync(join(work, 'hup-get-'));
    const parts = join(work, 'server-data', 'parts');
    const partsBefore = readdirSync(parts);
    const getter = onTerminal(['get', mediaId, '-o', join(folder, 'out.bin')], { ...as('noah'), FERRY_URL: proxy.url });
    const sender = onTerminal(['send', source, '--to', 'nobody', '--offline'], { ...as('mia'), FERRY_URL: proxy.url });
    await getter.waitFor(/out\.bin .* [1-9][\d.]* [KM]iB\/16\.0 MiB/);
    await sender.waitFor(/big\.bin .* [1-9][\d.]* [KM]iB\/16\.0 MiB/);
    expect(readdirSync(folder)).not.toEqual([]);
    getter.hangUp();
    sender.hangUp();
    // Nothing shows the command any more: what it left is the evidence.
    for (let i = 0; i < 100 && (readdirSync(folder).length > 0 || readdirSync(parts).length > partsBefore.length); i++) await new Promise((resolve) => setTimeout(resolve, 100));
    await proxy.close();
    expect(readdirSync(folder)).toEqual([]);
    expect(readdirSync(parts)).toEqual(partsBefore);
  });
});
