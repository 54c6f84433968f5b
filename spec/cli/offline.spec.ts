/**
 * Offline messages and presence in the `ferry` command (issue 15): `send --offline` to a peer who is
 * offline, `listen` showing what was kept as such when the peer logs in, and a send without `--offline`
 * refused before anything is uploaded. The real CLI in child processes against a real server on loopback.
 */
import { randomBytes } from 'node:crypto';
import { mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type FerryServer, startServer } from '../../src/server/server.js';
import { ferry, killLeftovers } from './support.js';

const root = new URL('../..', import.meta.url).pathname;
const image = join(root, 'spec/fixtures/images/jpeg-exif-thumbnail.jpg');

let server: FerryServer;
let dataDir: string;
let work: string;

/** Environment of a CLI run as `user`, in UTC so that the times it prints can be checked. */
const as = (user: string): Record<string, string> => ({ FERRY_URL: server.url, FERRY_USER: user, FERRY_TOKEN: server.issueToken(user), TZ: 'UTC' });
const folderOf = (name: string): string => mkdtempSync(join(work, `${name}-`));
const lastLine = (text: string): string => text.trim().split('\n').at(-1) ?? '';
const jsonLines = (text: string): Record<string, unknown>[] =>
  text
    .split('\n')
    .filter((line) => line.startsWith('{'))
    .map((line) => JSON.parse(line) as Record<string, unknown>);
/** `HH:MM` in UTC: what the CLI prints under `TZ=UTC` for a message of that day. */
const utcMinute = (ms: number): string => new Date(ms).toISOString().slice(11, 16);

/** What the server holds: unfinished uploads and media, as `folder/name`. */
const stored = (): string[] => ['parts', 'media'].flatMap((folder) => readdirSync(join(dataDir, folder)).map((name) => `${folder}/${name}`)).sort();

/** The samples of `/metrics` that an upload or an accepted peer message moves. */
const uploadAndMessageMetrics = async (): Promise<string[]> => {
  const text = await (await fetch(`${server.metricsUrl}/metrics`)).text();
  return text.split('\n').filter((line) => /^ferry_(received_bytes_total|transfers_total\{direction="upload"|messages_total\{kind="peer"\})/.test(line));
};

beforeAll(async () => {
  work = mkdtempSync(join(tmpdir(), 'ferry-cli-offline-'));
  dataDir = join(work, 'server-data');
  server = await startServer({ port: 0, dataDir });
});

afterAll(async () => {
  killLeftovers();
  await server.close();
  rmSync(work, { recursive: true, force: true });
});

describe.each(['http', 'ws'] as const)('offline messages over %s', (transport) => {
  const alice = `alice-${transport}`;
  const bob = `bob-${transport}`;

  it('send --offline to an offline peer is kept by the server; listen shows it as sent while offline and saves the file', async () => {
    const notes = join(folderOf('outbox'), 'notes.txt');
    writeFileSync(notes, randomBytes(200_000));
    const metricsBefore = await uploadAndMessageMetrics();
    const before = Date.now();
    const sentImage = await ferry(['send', image, '--to', bob, '--offline', '--text', 'while you were away', '--transport', transport], { env: as(alice) }).exited;
    const sentFile = await ferry(['send', notes, '--to', bob, '--offline', '--transport', transport, '--json'], { env: as(alice) }).exited;
    const after = Date.now();

    expect(sentImage.code).toBe(0);
    const imageLine = new RegExp(
      `^sent IMAGE "jpeg-exif-thumbnail\\.jpg" \\(3\\.5 KiB, 200×120, thumbnail 367 B\\) "while you were away" media (\\S+) to ${bob}: ${bob} is offline; kept by the server until ${bob} logs in$`,
      'm',
    ).exec(sentImage.stdout);
    expect(imageLine, sentImage.stdout).not.toBeNull();
    const imageMedia = imageLine?.[1] as string;
    expect(sentFile.code).toBe(0);
    const [fileSent] = jsonLines(sentFile.stdout);
    expect(fileSent).toMatchObject({ event: 'sent', file: notes, to: bob, channel: null, state: 'CACHED_BY_SERVER', messageId: expect.any(String), message: { messageType: 'FILE', fileName: 'notes.txt' } });
    const fileMedia = (fileSent?.['message'] as { mediaId: string }).mediaId;
    expect(await uploadAndMessageMetrics()).not.toEqual(metricsBefore); // the bytes were uploaded and the messages taken

    const inbox = folderOf('inbox');
    const listener = ferry(['listen', '--save', inbox, '--transport', transport], { env: as(bob) });
    await listener.waitFor('stderr', new RegExp(`listening as ${bob}, saving files to `));
    const offlineImage = await listener.waitFor(
      'stdout',
      new RegExp(`^${alice}: IMAGE "jpeg-exif-thumbnail\\.jpg" .* media ${imageMedia} \\(sent while you were offline, (\\d\\d:\\d\\d)\\)$`, 'm'),
    );
    const offlineFile = await listener.waitFor('stdout', new RegExp(`^${alice}: FILE "notes\\.txt" .* media ${fileMedia} \\(sent while you were offline, (\\d\\d:\\d\\d)\\)$`, 'm'));
    for (const shown of [offlineImage[1], offlineFile[1]]) expect([utcMinute(before), utcMinute(after)]).toContain(shown);
    // In the order sent.
    expect(offlineImage.index).toBeLessThan(offlineFile.index);
    await listener.waitFor('stdout', /^saved .*jpeg-exif-thumbnail\.jpg$/m);
    await listener.waitFor('stdout', /^saved .*notes\.txt$/m);
    expect(readFileSync(join(inbox, 'jpeg-exif-thumbnail.jpg')).equals(readFileSync(image))).toBe(true);
    expect(readFileSync(join(inbox, 'notes.txt')).equals(readFileSync(notes))).toBe(true);

    // Now bob is online: a send without --offline asks, finds him, and he receives it; it is not marked.
    const online = await ferry(['send', notes, '--to', bob, '--transport', transport], { env: as(alice) }).exited;
    expect(online.code).toBe(0);
    const onlineMedia = new RegExp(`^sent FILE "notes\\.txt" \\(195\\.3 KiB\\) media (\\S+) to ${bob}: received by ${bob}$`, 'm').exec(online.stdout)?.[1];
    expect(onlineMedia, online.stdout).toBeDefined();
    await listener.waitFor('stdout', new RegExp(`^${alice}: FILE "notes\\.txt" \\(195\\.3 KiB\\) media ${onlineMedia}$`, 'm'));
    await listener.waitFor('stdout', /^saved .*notes \(1\)\.txt$/m);

    listener.child.kill('SIGINT');
    expect((await listener.exited).code).toBe(130);
  });

  it('a send without --offline to an offline peer fails before uploading anything, suggesting --offline', async () => {
    const carol = `carol-${transport}`;
    const storedBefore = stored();
    const metricsBefore = await uploadAndMessageMetrics();
    const [plain, json] = await Promise.all([
      ferry(['send', image, '--to', carol, '--transport', transport], { env: as(alice) }).exited,
      ferry(['send', image, '--to', carol, '--transport', transport, '--json'], { env: as(`dave-${transport}`) }).exited,
    ]);
    expect(plain.code).toBe(1);
    expect(lastLine(plain.stderr)).toBe(
      `ferry send: sending to the peer failed (code 3): peer "${carol}" is not online (nothing was uploaded; pass --offline to have the server keep it until ${carol} logs in)`,
    );
    expect(plain.stderr).not.toMatch(/^upload /m); // no transfer was started, so no progress line
    expect(plain.stdout).toBe('');
    expect(json.code).toBe(1);
    expect(JSON.parse(lastLine(json.stderr))).toMatchObject({ error: { name: 'PeerMessageError', operation: 'peerSend', code: 3 }, exitCode: 1 });
    expect(json.stdout).toBe('');
    // Nothing reached the server: no unfinished upload, no media, no bytes, no message.
    expect(stored()).toEqual(storedBefore);
    expect(await uploadAndMessageMetrics()).toEqual(metricsBefore);
  });
});

describe('listen --json', () => {
  it('carries isOfflineMessage and the sender\'s messageId, the listening line first', async () => {
    const [erin, frank] = ['erin', 'frank'];
    const sent = await ferry(['send', image, '--to', frank, '--offline', '--json'], { env: as(erin) }).exited;
    expect(sent.code).toBe(0);
    const [kept] = jsonLines(sent.stdout);
    expect(kept).toMatchObject({ event: 'sent', state: 'CACHED_BY_SERVER' });

    const listener = ferry(['listen', '--json'], { env: as(frank) });
    await listener.waitFor('stdout', /"event":"message"/);
    // --offline to a peer who is online: received at once, and not marked.
    const live = await ferry(['send', image, '--to', frank, '--offline', '--json'], { env: as(erin) }).exited;
    expect(live.code).toBe(0);
    const [received] = jsonLines(live.stdout);
    expect(received).toMatchObject({ event: 'sent', state: 'RECEIVED' });
    expect(received?.['messageId']).not.toBe(kept?.['messageId']);
    await listener.waitFor('stdout', new RegExp(`"messageId":"${String(received?.['messageId'])}"`));

    const lines = jsonLines(listener.stdout());
    expect(lines[0]).toMatchObject({ event: 'listening', user: frank });
    expect(lines.filter((line) => line['event'] === 'message')).toEqual([
      expect.objectContaining({ from: erin, channel: null, messageId: kept?.['messageId'], isOfflineMessage: true, serverReceivedTs: expect.any(Number) }),
      expect.objectContaining({ from: erin, channel: null, messageId: received?.['messageId'], isOfflineMessage: false }),
    ]);
    listener.child.kill('SIGINT');
    expect((await listener.exited).code).toBe(130);
  });

  it('--offline is for a peer: with --channel it is a usage error', async () => {
    const run = await ferry(['send', image, '--channel', 'lobby', '--offline'], { env: as('gina') }).exited;
    expect(run.code).toBe(2);
    expect(lastLine(run.stderr)).toMatch(/^ferry send: --offline is for a peer \(--to\)/);
  });
});
