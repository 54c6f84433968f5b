/**
 * `send` and `listen` in process, on the memory transport, where the offline messages of a login are
 * delivered within the login itself: the case where a listener that subscribed after the login would miss
 * them. The same behaviour over HTTP and WebSocket, through the real command, is in `offline.spec.ts`.
 */
import { PassThrough } from 'node:stream';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { createClient, createHub, type Client, type Hub, memoryTransport } from '../../src/index.js';
import type { CommandContext } from '../../src/cli/connect.js';
import { describeError } from '../../src/cli/exit.js';
import { listenForInterrupt } from '../../src/cli/interrupt.js';
import { listenCommand } from '../../src/cli/listen.js';
import { createReporter } from '../../src/cli/progress-bars.js';
import { sendCommand } from '../../src/cli/send.js';

const root = new URL('../..', import.meta.url).pathname;
const image = join(root, 'spec/fixtures/images/jpeg-exif-thumbnail.jpg');

/** A command's context whose output is collected: stdout and stderr lines, in one list in the order written. */
const collecting = (json: boolean): { context: CommandContext; lines: string[] } => {
  const lines: string[] = [];
  const stream = (tag: string): PassThrough => {
    const out = new PassThrough();
    out.setEncoding('utf8');
    out.on('data', (text: string) => lines.push(...text.trimEnd().split('\n').map((line) => `${tag} ${line}`)));
    return out;
  };
  const io = { stdout: stream('out'), stderr: stream('err') };
  return { context: { reporter: createReporter(json ? 'quiet' : 'lines', io), interruption: listenForInterrupt({ on: () => undefined, off: () => undefined, exit: () => process.exit(1) }), json, io }, lines };
};

/** Resolves once `lines` holds one matching `pattern` (polled each macrotask turn, at most 2 s). */
const lineMatching = async (lines: string[], pattern: RegExp): Promise<string> => {
  for (let turn = 0; turn < 2_000; turn++) {
    const found = lines.find((line) => pattern.test(line));
    if (found !== undefined) return found;
    await new Promise((resolve) => setTimeout(resolve, 1));
  }
  throw new Error(`no line matched ${pattern}:\n${lines.join('\n')}`);
};

let hub: Hub;
const clients: Client[] = [];
const loggedIn = async (userId: string): Promise<Client> => {
  const client = createClient({ transport: memoryTransport(hub) });
  clients.push(client);
  await client.login({ userId, token: hub.issueToken(userId) });
  return client;
};

afterEach(async () => {
  await Promise.allSettled(clients.splice(0).map((client) => client.logout()));
  hub?.close();
});

describe('send and listen on the memory transport', () => {
  it('a send to an offline peer without --offline is refused before its upload starts', async () => {
    hub = createHub();
    const alice = await loggedIn('alice');
    const { context, lines } = collecting(false);
    const refused = await sendCommand(alice, context, [image], { to: 'bob' }).then(
      () => 'sent',
      (error: unknown) => describeError(error),
    );
    expect(refused).toBe('sending to the peer failed (code 3): peer "bob" is not online (nothing was uploaded; pass --offline to have the server keep it until bob logs in)');
    expect(lines).toEqual([]); // no upload started, nothing sent
  });

  it('listen shows what was kept at login after its listening line, in order, marked; then live messages unmarked', async () => {
    hub = createHub();
    const alice = await loggedIn('alice');
    const sent = collecting(true);
    expect(await sendCommand(alice, sent.context, [image, join(root, 'package.json')], { to: 'bob', offline: true })).toBe(0);
    const kept = sent.lines.map((line) => JSON.parse(line.slice(4)) as { state: string; messageId: string; message: { mediaId: string } });
    expect(kept.map(({ state }) => state)).toEqual(['CACHED_BY_SERVER', 'CACHED_BY_SERVER']);

    const bob = createClient({ transport: memoryTransport(hub) });
    clients.push(bob);
    const { context, lines } = collecting(false);
    const listen = listenCommand('bob', {});
    const heard = listen.beforeLogin(bob, context);
    await bob.login({ userId: 'bob', token: hub.issueToken('bob') });
    const ended = listen.run(bob, context);
    const offline = / \(sent while you were offline, \d\d:\d\d\)$/;
    await lineMatching(lines, /^out alice: FILE "package\.json"/);
    expect(lines.slice(0, 3)).toEqual([
      'err listening as bob; Ctrl-C to stop',
      expect.stringMatching(new RegExp(`^out alice: IMAGE "jpeg-exif-thumbnail\\.jpg" .* media ${kept[0]?.message.mediaId}${offline.source}`)),
      expect.stringMatching(new RegExp(`^out alice: FILE "package\\.json" .* media ${kept[1]?.message.mediaId}${offline.source}`)),
    ]);

    const live = collecting(false);
    expect(await sendCommand(alice, live.context, [image], { to: 'bob' })).toBe(0);
    expect(live.lines.at(-1)).toMatch(/^out sent IMAGE .* to bob: received by bob$/);
    const shown = await lineMatching(lines.slice(3), /^out alice: IMAGE/);
    expect(shown).not.toMatch(/offline/);
    await bob.logout();
    await expect(ended).rejects.toThrow(/disconnected from the server/);
    heard.unsubscribe();
  });
});
