/**
 * DESIGN §3 "login first": every media and messaging call before a successful login fails with code 102.
 * Login itself fails with 3, 5, 6 or 8 (§4).
 */
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, afterEach, describe, expect, it } from 'vitest';
import { type Client, textMessage } from '../../src/index.js';
import { bytes, rejectsWith, stateOf, tempFolder, uploaded, world, type World } from './support.js';

const SOME_MEDIA_ID = 'AAAAAAAAAAAAAAAAAAAAAA';

/** Every media and messaging call of a client, each expected to fail with 102 and its error name. */
const everyCall = (client: Client, folder: string): [string, string, () => Promise<unknown>][] => {
  const channel = client.createChannel('lobby');
  return [
    ['createFileMessageByUploading', 'UploadError', () => client.createFileMessageByUploading(bytes(10)).result],
    ['createImageMessageByUploading', 'UploadError', () => client.createImageMessageByUploading(bytes(10)).result],
    ['downloadMediaToFile', 'DownloadError', () => client.downloadMediaToFile(SOME_MEDIA_ID, join(folder, 'out.bin')).result],
    ['downloadMediaToMemory', 'DownloadError', () => client.downloadMediaToMemory(SOME_MEDIA_ID).result],
    ['cancelMediaUpload', 'CancelError', () => client.cancelMediaUpload(1)],
    ['cancelMediaDownload', 'CancelError', () => client.cancelMediaDownload(1)],
    ['sendMessageToPeer', 'PeerMessageError', () => client.sendMessageToPeer('bob', textMessage('hi'))],
    ['channel.join', 'JoinChannelError', () => channel.join()],
    ['channel.sendMessage', 'ChannelMessageError', () => channel.sendMessage(textMessage('hi'))],
    ['channel.leave', 'LeaveChannelError', () => channel.leave()],
    ['channel.getMembers', 'GetMembersError', () => channel.getMembers()],
    ['logout', 'LogoutError', () => client.logout()],
  ];
};

describe('login first', () => {
  let w: World;
  const folder = tempFolder();
  afterEach(() => {
    w.hub.close();
  });
  afterAll(() => folder.remove());

  it.each([
    'createFileMessageByUploading',
    'createImageMessageByUploading',
    'downloadMediaToFile',
    'downloadMediaToMemory',
    'cancelMediaUpload',
    'cancelMediaDownload',
    'sendMessageToPeer',
    'channel.join',
    'channel.sendMessage',
    'channel.leave',
    'channel.getMembers',
    'logout',
  ])('%s before any login fails with code 102 NOT_LOGGED_IN', async (name) => {
    w = world();
    const [, errorName, call] = everyCall(w.client(), folder.path).find(([n]) => n === name) ?? [];
    if (!errorName || !call) throw new Error(`no call named ${name}`);
    await rejectsWith(call(), { name: errorName, code: 102, mentions: /not logged in/ });
  });

  it('an upload before login ends failed, never transferring, and sends nothing to the hub', async () => {
    w = world();
    const client = w.client();
    const task = client.createFileMessageByUploading(bytes(10));
    await rejectsWith(task.result, { name: 'UploadError', code: 102 });
    expect(stateOf(task)).toBe('failed');
    expect(typeof task.requestId).toBe('number');
  });

  it('a download to a file before login leaves no file', async () => {
    w = world();
    const target = join(folder.path, 'before-login.bin');
    await rejectsWith(w.client().downloadMediaToFile(SOME_MEDIA_ID, target).result, { name: 'DownloadError', code: 102 });
    expect(existsSync(target)).toBe(false);
    expect(folder.entries().filter((e) => e.includes('before-login'))).toEqual([]);
  });

  it('not being logged in is reported before bad arguments are looked at', async () => {
    w = world();
    const client = w.client();
    await rejectsWith(client.createFileMessageByUploading(new Uint8Array(0)).result, { name: 'UploadError', code: 102 });
    await rejectsWith(client.downloadMediaToMemory('not a media id').result, { name: 'DownloadError', code: 102 });
    await rejectsWith(client.sendMessageToPeer('', textMessage('hi')), { name: 'PeerMessageError', code: 102 });
  });

  it('a failed login leaves the client logged out: calls still fail with 102', async () => {
    w = world();
    const client = w.client();
    await rejectsWith(client.login({ userId: 'alice', token: 'forged.token' }), { name: 'LoginError', code: 5 });
    await rejectsWith(client.createFileMessageByUploading(bytes(10)).result, { name: 'UploadError', code: 102 });
    await rejectsWith(client.sendMessageToPeer('bob', textMessage('hi')), { name: 'PeerMessageError', code: 102 });
  });

  it('after logout every call fails with 102 again', async () => {
    w = world();
    const client = await w.loggedIn('alice');
    await client.logout();
    for (const [name, errorName, call] of everyCall(client, folder.path)) {
      const error = await rejectsWith(call(), { name: errorName, code: 102 });
      expect(error.message, name).toMatch(/not logged in/);
    }
  });

  it('after being logged out by the same user logging in elsewhere every call fails with 102', async () => {
    w = world();
    const first = await w.loggedIn('alice');
    await w.loggedIn('alice');
    for (const [, errorName, call] of everyCall(first, folder.path)) {
      await rejectsWith(call(), { name: errorName, code: 102 });
    }
  });

  it('after a successful login the same calls work', async () => {
    w = world();
    const alice = await w.loggedIn('alice');
    const bob = await w.loggedIn('bob');
    const mediaId = await uploaded(alice);
    expect(await bob.downloadMediaToMemory(mediaId).result).toEqual(bytes(1000));
    await alice.sendMessageToPeer('bob', textMessage('hi'));
    const channel = alice.createChannel('lobby');
    await channel.join();
    expect(await channel.getMembers()).toEqual(['alice']);
  });

  describe('login itself', () => {
    it('rejects an invalid user ID with 3 INVALID_ARGUMENT naming userId', async () => {
      w = world();
      await rejectsWith(w.client().login({ userId: '', token: w.hub.issueToken('alice') }), { name: 'LoginError', code: 3, mentions: /userId/ });
    });

    it('rejects an empty token with 3 INVALID_ARGUMENT naming token', async () => {
      w = world();
      await rejectsWith(w.client().login({ userId: 'alice', token: '' }), { name: 'LoginError', code: 3, mentions: /token/ });
    });

    it('rejects a forged token with 5 INVALID_TOKEN', async () => {
      w = world();
      await rejectsWith(w.client().login({ userId: 'alice', token: 'eyJ1IjoiYWxpY2UifQ.c2lnbmF0dXJl' }), { name: 'LoginError', code: 5 });
    });

    it("rejects another user's token with 5 INVALID_TOKEN", async () => {
      w = world();
      await rejectsWith(w.client().login({ userId: 'alice', token: w.hub.issueToken('bob') }), { name: 'LoginError', code: 5 });
    });

    it('rejects an expired token with 6 TOKEN_EXPIRED', async () => {
      w = world();
      const token = w.hub.issueToken('alice', 60_000);
      w.clock.advance(60_000);
      await rejectsWith(w.client().login({ userId: 'alice', token }), { name: 'LoginError', code: 6 });
    });

    it('accepts a token one millisecond before it expires', async () => {
      w = world();
      const token = w.hub.issueToken('alice', 60_000);
      w.clock.advance(59_999);
      await w.client().login({ userId: 'alice', token });
    });

    it('rejects a second login of a logged-in client with 8 ALREADY_LOGGED_IN', async () => {
      w = world();
      const client = await w.loggedIn('alice');
      await rejectsWith(client.login({ userId: 'alice', token: w.hub.issueToken('alice') }), { name: 'LoginError', code: 8 });
    });
  });
});
