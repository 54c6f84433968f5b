/**
 * The `ferry` command as a user runs it: the real CLI in a child process against a real server on
 * loopback (temporary data folder), real sockets. Waits are on printed lines, never on time.
 */
import { randomBytes } from 'node:crypto';
import { mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, truncateSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createClient, textMessage } from '../../src/index.js';
import { type FerryServer, startServer } from '../../src/server/server.js';
import { httpTransport } from '../../transports/http.js';
import { ferry, ferryBytes, killLeftovers, slowProxy } from './support.js';

const root = new URL('../..', import.meta.url).pathname;
const image = join(root, 'spec/fixtures/images/jpeg-exif-thumbnail.jpg');
const MiB = 1024 * 1024;

let server: FerryServer;
let dataDir: string;
let work: string;

/** Environment of a CLI run as `user` with an explicit token. */
const as = (user: string, url = server.url): Record<string, string> => ({ FERRY_URL: url, FERRY_USER: user, FERRY_TOKEN: server.issueToken(user) });

/** Uploads `bytes` with an in-process client; resolves with the media ID. */
const upload = async (bytes: Uint8Array, fileName = 'x.bin'): Promise<string> => {
  const client = createClient({ transport: httpTransport({ url: server.url }) });
  await client.login({ userId: 'uploader', token: server.issueToken('uploader') });
  const message = await client.createFileMessageByUploading(bytes, { fileName }).result;
  await client.logout();
  return message.mediaId;
};

const folderOf = (name: string): string => mkdtempSync(join(work, `${name}-`));
const filesIn = (folder: string): string[] => readdirSync(folder);
/** The last line printed: the error report comes after any progress lines. */
const lastLine = (text: string): string => text.trim().split('\n').at(-1) ?? '';

beforeAll(async () => {
  work = mkdtempSync(join(tmpdir(), 'ferry-cli-'));
  dataDir = join(work, 'server-data');
  server = await startServer({ port: 0, dataDir }); // no secret given: generated into dataDir/secret
});

afterAll(async () => {
  killLeftovers();
  await server.close();
  rmSync(work, { recursive: true, force: true });
});

describe('ferry send and listen', () => {
  it('delivers an image and a file that listen prints and saves byte for byte, never over an existing file', async () => {
    const inbox = folderOf('inbox');
    writeFileSync(join(inbox, 'notes.txt'), 'already here');
    const notes = join(folderOf('outbox'), 'notes.txt');
    writeFileSync(notes, randomBytes(300_000));
    const listener = ferry(['listen', '--save', inbox, '--json'], { env: as('bob') });
    await listener.waitFor('stdout', /"event":"listening"/);

    // The sender gives no token: it mints one from the server's data folder (same machine).
    const sender = ferry(['send', image, notes, '--to', 'bob', '--text', 'hello', '--data-dir', dataDir], {
      env: { FERRY_URL: server.url, FERRY_USER: 'alice' },
    });
    const sent = await sender.exited;
    expect(sent.stderr).toMatch(/upload jpeg-exif-thumbnail\.jpg: done/);
    expect(sent.code).toBe(0);
    expect(sent.stdout).toMatch(/^sent IMAGE "jpeg-exif-thumbnail\.jpg" \(3\.5 KiB, 200×120, thumbnail 367 B\) "hello" media \S+ to bob: received by bob$/m);

    await listener.waitFor('stdout', /"event":"saved".*notes \(1\)\.txt/);
    await listener.waitFor('stdout', /"event":"saved".*jpeg-exif-thumbnail\.jpg/);
    const received = listener
      .stdout()
      .split('\n')
      .filter((line) => line.includes('"event":"message"'))
      .map((line) => JSON.parse(line) as { from: string; message: Record<string, unknown> });
    expect(received.map((r) => [r.from, r.message.messageType, r.message.fileName])).toEqual([
      ['alice', 'IMAGE', 'jpeg-exif-thumbnail.jpg'],
      ['alice', 'FILE', 'notes.txt'],
    ]);
    expect(received[0]?.message).toMatchObject({ width: 200, height: 120, thumbnailWidth: 40, thumbnailHeight: 64, description: 'hello' });
    expect(readFileSync(join(inbox, 'jpeg-exif-thumbnail.jpg')).equals(readFileSync(image))).toBe(true);
    expect(readFileSync(join(inbox, 'notes (1).txt')).equals(readFileSync(notes))).toBe(true);
    expect(readFileSync(join(inbox, 'notes.txt'), 'utf8')).toBe('already here');

    listener.child.kill('SIGINT');
    expect((await listener.exited).code).toBe(130);
  });
});

describe('ferry over WebSocket (--transport ws)', () => {
  it('sends, receives, saves and gets the same bytes', async () => {
    const inbox = folderOf('ws-inbox');
    const file = join(folderOf('ws-outbox'), 'over-ws.bin');
    const bytes = randomBytes(700_000);
    writeFileSync(file, bytes);
    const listener = ferry(['listen', '--transport', 'ws', '--save', inbox], { env: as('wendy') });
    await listener.waitFor('stderr', /listening as wendy/);
    const sent = await ferry(['send', file, '--transport', 'ws', '--to', 'wendy'], { env: as('walt') }).exited;
    expect(sent.code).toBe(0);
    const mediaId = /media (\S+) to wendy/.exec(sent.stdout)?.[1] as string;
    await listener.waitFor('stdout', /saved .*over-ws\.bin/);
    expect(readFileSync(join(inbox, 'over-ws.bin')).equals(bytes)).toBe(true);
    const got = await ferryBytes(['get', mediaId, '--transport', 'ws', '-o', '-'], as('wanda'));
    expect(got.code).toBe(0);
    expect(got.bytes.equals(bytes)).toBe(true);
    listener.child.kill('SIGINT');
    expect((await listener.exited).code).toBe(130);
  });
});

describe('ferry get', () => {
  it('downloads to a file and to stdout, the same bytes', async () => {
    const bytes = randomBytes(1.5 * MiB);
    const mediaId = await upload(bytes);
    const out = join(folderOf('get'), 'copy.bin');
    const [toFile, toStdout] = await Promise.all([
      ferry(['get', mediaId, '-o', out], { env: as('carol') }).exited,
      ferryBytes(['get', mediaId, '-o', '-'], as('dave')),
    ]);
    expect(toFile.code).toBe(0);
    expect(toFile.stdout).toContain(`saved ${out}`);
    expect(readFileSync(out).equals(bytes)).toBe(true);
    expect(toStdout.code).toBe(0);
    expect(toStdout.bytes.equals(bytes)).toBe(true);
  });
});

describe('ferry failures: one line with the ferry code, and the documented exit code', () => {
  it('an unknown media ID exits 1 with download code 4; a malformed one with code 2', async () => {
    const folder = folderOf('bad-id');
    const [unknown, malformed] = await Promise.all([
      ferry(['get', 'AAAAAAAAAAAAAAAAAAAAAA', '-o', join(folder, 'x')], { env: as('erin') }).exited,
      ferry(['get', 'not/an/id', '-o', join(folder, 'y')], { env: as('frank') }).exited,
    ]);
    expect(unknown.code).toBe(1);
    expect(lastLine(unknown.stderr)).toMatch(/^ferry get: download failed \(code 4\): .*does not exist$/);
    expect(malformed.code).toBe(1);
    expect(lastLine(malformed.stderr)).toMatch(/^ferry get: download failed \(code 2\): invalid argument/);
    expect(filesIn(folder)).toEqual([]);
  });

  it('a missing file exits 1 with upload code 2 naming the file', async () => {
    const missing = join(work, 'no-such-file.png');
    // --offline: bob is not listening, and without it the send would be refused before any upload.
    const run = await ferry(['send', missing, '--to', 'bob', '--offline'], { env: as('gina') }).exited;
    expect(run.code).toBe(1);
    expect(run.stderr).toMatch(/ferry send: .*no-such-file\.png: upload failed \(code 2\): invalid argument 'source': cannot use ".*no-such-file\.png": no such file$/m);
  });

  it('files refused before their upload never say they started; the others are sent; sizes are in MiB', async () => {
    const folder = folderOf('refused');
    const [empty, huge, missing, fine] = ['empty.txt', 'huge.bin', 'missing.txt', 'fine.txt'].map((name) => join(folder, name)) as [string, string, string, string];
    writeFileSync(empty, '');
    writeFileSync(huge, '');
    truncateSync(huge, 32_000_000); // sparse: over the 30 MiB limit without writing 30 MiB
    writeFileSync(fine, 'fine');
    const run = await ferry(['send', empty, huge, missing, fine, '--to', 'bob', '--offline'], { env: as('hugo') }).exited;
    expect(run.code).toBe(1);
    expect(run.stderr.split('\n').filter((line) => line.startsWith('upload ')).map((line) => line.replace(/ in \d+\.\ds$/, ''))).toEqual(['upload fine.txt: started', 'upload fine.txt: done, 4 B']);
    expect(run.stderr).toMatch(/^ferry send: .*huge\.bin: upload failed \(code 4\): 30\.5 MiB is over the limit of 30\.0 MiB$/m);
    expect(run.stderr).toMatch(/^ferry send: .*empty\.txt: upload failed \(code 2\): invalid argument 'source': the file is empty$/m);
    expect(run.stdout).toMatch(/^sent FILE "fine\.txt" \(4 B\) media \S+ to bob: bob is offline; kept by the server until bob logs in$/m);
  });

  it('a bad token exits 1 with login code 5, and JSON says the same with --json', async () => {
    const env = { FERRY_URL: server.url, FERRY_USER: 'hank', FERRY_TOKEN: 'not.a-token' };
    const [plain, json] = await Promise.all([ferry(['get', 'AAAAAAAAAAAAAAAAAAAAAA'], { env }).exited, ferry(['get', 'AAAAAAAAAAAAAAAAAAAAAA', '--json'], { env }).exited]);
    expect(plain.code).toBe(1);
    expect(lastLine(plain.stderr)).toMatch(/^ferry get: login failed \(code 5\): invalid token/);
    expect(JSON.parse(lastLine(json.stderr))).toMatchObject({ error: { name: 'LoginError', operation: 'login', code: 5 }, exitCode: 1 });
  });

  it('usage mistakes exit 2: no destination, no token and no secret, an unknown option', async () => {
    const elsewhere = folderOf('no-secret');
    const [noDestination, noToken, unknownOption] = await Promise.all([
      ferry(['send', image], { env: as('ivy') }).exited,
      ferry(['get', 'AAAAAAAAAAAAAAAAAAAAAA'], { cwd: elsewhere, env: { FERRY_URL: server.url, FERRY_USER: 'ivy' } }).exited,
      ferry(['get', '--frobnicate'], { env: as('ivy') }).exited,
    ]);
    expect([noDestination.code, noToken.code, unknownOption.code]).toEqual([2, 2, 2]);
    expect(noDestination.stderr).toMatch(/give exactly one destination, --to <peer> or --channel <id>/);
    expect(noToken.stderr).toMatch(/no token for "ivy": pass --token or set FERRY_TOKEN/);
    expect(unknownOption.stderr).toMatch(/unknown option '--frobnicate'/);
  });

  it('checks its arguments before uploading: a bad peer or user ID and a server that is not a URL exit 2 saying what is allowed', async () => {
    const [badPeer, badUser, notUrl] = await Promise.all([
      ferry(['send', image, '--to', 'zoë'], { env: as('ivy') }).exited,
      ferry(['send', image, '--to', 'bob', '--user', 'zoë'], { env: { ...as('ivy'), FERRY_USER: 'zoë' } }).exited,
      ferry(['send', image, '--to', 'bob', '--server', 'localhost:8080'], { env: as('ivy') }).exited,
    ]);
    expect([badPeer.code, badUser.code, notUrl.code]).toEqual([2, 2, 2]);
    expect(badPeer.stderr).toMatch(/^ferry send: --to "zoë": an ID is 1 to 64 characters of printable ASCII/m);
    expect(badPeer.stderr).not.toMatch(/upload|started/);
    expect(badUser.stderr).toMatch(/^ferry send: --user "zoë": an ID is 1 to 64 characters of printable ASCII/m);
    expect(notUrl.stderr).toMatch(/^ferry send: --server "localhost:8080": expected a URL such as http:\/\/127\.0\.0\.1:8080/m);
  });

  it('a server that cannot be reached gets the same hint over HTTP and WebSocket', async () => {
    const runs = await Promise.all(
      (['http', 'ws'] as const).map((transport) => ferry(['send', image, '--to', 'bob', '--transport', transport, '--server', 'http://127.0.0.1:1'], { env: as('ivy') }).exited),
    );
    expect(runs).toHaveLength(2);
    for (const run of runs) {
      expect(run.code).toBe(1);
      expect(lastLine(run.stderr)).toMatch(/^ferry send: login failed \(code 1\): .*\(is "ferry serve" running at http:\/\/127\.0\.0\.1:1\?\)$/);
    }
  });

  it('get -o refuses to replace an existing file without --force, and replaces it with --force', async () => {
    const mediaId = await upload(randomBytes(1000));
    const target = join(folderOf('existing'), 'kept.bin');
    writeFileSync(target, 'mine');
    const refused = await ferry(['get', mediaId, '-o', target], { env: as('nora') }).exited;
    expect(refused.code).toBe(2);
    expect(lastLine(refused.stderr)).toMatch(/^ferry get: -o ".*kept\.bin": the file exists; pass --force to replace it$/);
    expect(readFileSync(target, 'utf8')).toBe('mine');
    const forced = await ferry(['get', mediaId, '-o', target, '--force'], { env: as('nora') }).exited;
    expect(forced.code).toBe(0);
    expect(readFileSync(target).length).toBe(1000);
  });

  it.each(['http', 'ws'])('get without -o names the file as its sender did, in the current folder, as "name (1).ext" when taken, replacing only with --force (%s)', async (transport) => {
    const sent = randomBytes(1500);
    const mediaId = await upload(sent, 'report 2026.pdf');
    const folder = folderOf(`own-name-${transport}`);
    const get = (...more: string[]) => ferry(['get', mediaId, '--transport', transport, ...more], { cwd: folder, env: as('olga') }).exited;
    const first = await get();
    expect(first.code).toBe(0);
    expect(lastLine(first.stdout)).toBe(`saved ${join(folder, 'report 2026.pdf')} (1.5 KiB)`);
    writeFileSync(join(folder, 'report 2026.pdf'), 'mine');
    const second = await get();
    expect(second.code).toBe(0);
    expect(lastLine(second.stdout)).toBe(`saved ${join(folder, 'report 2026 (1).pdf')} (1.5 KiB)`);
    expect(readFileSync(join(folder, 'report 2026.pdf'), 'utf8')).toBe('mine');
    expect(readFileSync(join(folder, 'report 2026 (1).pdf')).equals(sent)).toBe(true);
    const forced = await get('--force');
    expect(forced.code).toBe(0);
    expect(readFileSync(join(folder, 'report 2026.pdf')).equals(sent)).toBe(true);
    expect(filesIn(folder).sort()).toEqual(['report 2026 (1).pdf', 'report 2026.pdf']);
  });

  it('get without -o never writes outside the current folder, whatever name the sender gave', async () => {
    const parent = folderOf('hostile');
    const folder = join(parent, 'inside');
    mkdirSync(folder);
    const names: [string, string | undefined][] = [['../../escape.txt', 'escape.txt'], ['..', undefined], ['\u202etxt.exe\u0007', 'txt.exe'], ['', undefined]];
    const sender = createClient({ transport: httpTransport({ url: server.url }) });
    await sender.login({ userId: 'mallory', token: server.issueToken('mallory') });
    const mediaIds = await Promise.all(names.map(async ([given]) => (await sender.createFileMessageByUploading(randomBytes(10), { fileName: given }).result).mediaId));
    await sender.logout();
    await Promise.all(
      names.map(async ([given, expected], i) => {
        const mediaId = mediaIds[i] ?? '';
        const run = await ferry(['get', mediaId], { cwd: folder, env: as(`pat${i}`) }).exited;
        expect(run.code, JSON.stringify(given)).toBe(0);
        expect(lastLine(run.stdout), JSON.stringify(given)).toBe(`saved ${join(folder, expected ?? mediaId)} (10 B)`);
      }),
    );
    expect(filesIn(parent)).toEqual(['inside']);
    expect(filesIn(folder)).toHaveLength(4);
  });

  it.each(['http', 'ws'])('listen says when the connection is lost and when it is back after a server restart, with the reasons, and goes on receiving (%s)', async (transport) => {
    const folder = folderOf('restart');
    const first = await startServer({ port: 0, dataDir: folder });
    const port = Number(new URL(first.url).port);
    const env = { FERRY_URL: first.url, FERRY_USER: 'otto', FERRY_TOKEN: first.issueToken('otto') };
    const listener = ferry(['listen', '--transport', transport], { env });
    await listener.waitFor('stderr', /listening as otto/);
    await first.close();
    await listener.waitFor('stderr', /^connection to the server lost \(INTERRUPTED\); reconnecting…$/m);
    const second = await startServer({ port, dataDir: folder });
    try {
      await listener.waitFor('stderr', /^connected again \(LOGIN_SUCCESS\); listening$/m);
      const sender = createClient({ transport: httpTransport({ url: second.url }) });
      await sender.login({ userId: 'pia', token: second.issueToken('pia') });
      await sender.sendMessageToPeer('otto', textMessage('after the restart'));
      await listener.waitFor('stdout', /^pia: TEXT "after the restart"$/m);
      await sender.logout();
      expect(listener.stderr()).not.toMatch(/logged in elsewhere|was ended|refused/);
      listener.child.kill('SIGINT');
      expect((await listener.exited).code).toBe(130);
    } finally {
      await second.close();
    }
  });

  it('ferry token mints a token that logs in; without a secret it exits 2', async () => {
    const [minted, missing] = await Promise.all([
      ferry(['token', 'judy', '--ttl', '1h', '--data-dir', dataDir]).exited,
      ferry(['token', 'judy', '--data-dir', folderOf('empty')]).exited,
    ]);
    expect(minted.code).toBe(0);
    const client = createClient({ transport: httpTransport({ url: server.url }) });
    await client.login({ userId: 'judy', token: minted.stdout.trim() });
    await client.logout();
    expect(missing.code).toBe(2);
    expect(missing.stderr).toMatch(/no secret: start the server once/);
  });
});

describe('ferry serve', () => {
  it('serves the demo page only with --dev, and stops on SIGINT with exit 0', async () => {
    const start = async (extra: string[]) => {
      const serve = ferry(['serve', '--port', '0', '--data-dir', folderOf('serve'), ...extra]);
      const url = (await serve.waitFor('stdout', /listening on (http:\/\/[\d.:]+)/))[1] as string;
      return { serve, url };
    };
    const dev = await start(['--dev']);
    const plain = await start([]);
    expect(dev.serve.stdout()).toMatch(/demo page: +http:\/\/[\d.:]+\//);
    expect(plain.serve.stdout()).not.toMatch(/demo page/);
    expect((await fetch(`${dev.url}/`)).status).toBe(200);
    expect((await fetch(`${plain.url}/`)).status).toBe(404);
    for (const { serve } of [dev, plain]) serve.child.kill('SIGINT');
    expect((await dev.serve.exited).code).toBe(0);
    expect((await plain.serve.exited).code).toBe(0);
  });
});

describe('Ctrl-C, SIGTERM and SIGHUP', () => {
  const partsAndMedia = (): string[] => ['parts', 'media'].flatMap((folder) => readdirSync(join(dataDir, folder)).map((name) => `${folder}/${name}`));

  it('during an upload exits 130 and leaves no partial upload on the server', async () => {
    const proxy = await slowProxy(server.url, 2 * MiB);
    const before = partsAndMedia();
    const big = join(folderOf('big'), 'big.bin');
    writeFileSync(big, randomBytes(16 * MiB));
    const sender = ferry(['send', big, '--to', 'bob', '--offline'], { env: as('kate', proxy.url) });
    await sender.waitFor('stderr', /upload big\.bin: \d+(\.\d)? [KM]iB of 16\.0 MiB/);
    expect(partsAndMedia().length).toBeGreaterThan(before.length); // the partial upload is there
    sender.child.kill('SIGINT');
    const run = await sender.exited;
    await proxy.close();
    expect(run.code).toBe(130);
    expect(run.stderr).toMatch(/interrupted: transfers cancelled and cleaned up/);
    expect(partsAndMedia()).toEqual(before);
  });

  // Found by hand: `timeout 30 ferry get …` killed the command and left its temporary file behind.
  it.each(['SIGTERM', 'SIGHUP'] as const)('%s during a download and an upload cleans up the same way, then ends the process by that signal', async (signal) => {
    const mediaId = await upload(randomBytes(16 * MiB));
    const proxy = await slowProxy(server.url, 2 * MiB);
    const folder = folderOf(`${signal}-get`);
    const getter = ferry(['get', mediaId, '-o', join(folder, 'out.bin')], { env: as('liam', proxy.url) });
    const before = partsAndMedia();
    const big = join(folderOf(`${signal}-send`), 'big.bin');
    writeFileSync(big, randomBytes(16 * MiB));
    const sender = ferry(['send', big, '--to', 'bob', '--offline'], { env: as('kate', proxy.url) });
    await getter.waitFor('stderr', /download out\.bin: \d+(\.\d)? [KM]iB of 16\.0 MiB/);
    await sender.waitFor('stderr', /upload big\.bin: \d+(\.\d)? [KM]iB of 16\.0 MiB/);
    getter.child.kill(signal);
    sender.child.kill(signal);
    const [got, sent] = await Promise.all([getter.exited, sender.exited]);
    await proxy.close();
    // Ended by the signal once cleaned up (a shell reports 128 + its number), as a service manager expects.
    expect([got.signal, sent.signal]).toEqual([signal, signal]);
    expect(sent.stderr).toMatch(/interrupted: transfers cancelled and cleaned up/);
    expect(filesIn(folder)).toEqual([]);
    expect(partsAndMedia()).toEqual(before);
  });

  it('during a download exits 130 and leaves nothing in the target folder', async () => {
    const mediaId = await upload(randomBytes(16 * MiB));
    const proxy = await slowProxy(server.url, 2 * MiB);
    const folder = folderOf('interrupted-get');
    const getter = ferry(['get', mediaId, '-o', join(folder, 'out.bin')], { env: as('liam', proxy.url) });
    await getter.waitFor('stderr', /download out\.bin: \d+(\.\d)? [KM]iB of 16\.0 MiB/);
    getter.child.kill('SIGINT');
    const run = await getter.exited;
    await proxy.close();
    expect(run.code).toBe(130);
    expect(filesIn(folder)).toEqual([]);
  });
});
