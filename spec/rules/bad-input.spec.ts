/**
 * Bad input at every public call: wrong-typed arguments (numbers instead of strings, null options, a
 * non-AbortSignal signal, unknown message shapes) fail with the documented code (DESIGN §4) and a
 * message naming the argument — never a TypeError. Task-returning calls never throw: they end `failed`.
 * And a failed or cancelled task frees its slot at once, so the client can run the next nine.
 */
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, afterEach, describe, expect, it } from 'vitest';
import {
  type Client,
  type ClientOptions,
  createClient,
  type FileMessage,
  type ImageMessage,
  type ImageUploadOptions,
  type Message,
  memoryTransport,
  rawMessage,
  type Task,
  textMessage,
  type UploadSource,
} from '../../src/index.js';
import { bytes, flush, gate, rejectsWith, settle, stalled, stateOf, tempFolder, throwsWith, until, uploaded, world, type World } from './support.js';

const MEDIA_ID = 'AAAAAAAAAAAAAAAAAAAAAA';
/** Lets a spec pass a wrong-typed value where TypeScript would refuse it. */
const bad = <T>(value: unknown): T => value as T;

/** Both upload calls of a client, as one shape. */
const uploads = (client: Client): ((source: UploadSource, options?: ImageUploadOptions) => Task<FileMessage | ImageMessage>)[] => [
  (source, options) => client.createFileMessageByUploading(source, options),
  (source, options) => client.createImageMessageByUploading(source, options),
];

/** Calls a task-returning function, which must not throw, and returns the task's result. */
const resultOf = <T>(start: () => { readonly result: Promise<T> }): Promise<T> => {
  let task: { readonly result: Promise<T> };
  try {
    task = start();
  } catch (error) {
    throw new Error(`a task-returning call threw synchronously: ${String(error)}`);
  }
  return task.result;
};

describe('bad input', () => {
  let w: World;
  const folder = tempFolder();
  afterEach(() => w.hub.close());
  afterAll(() => folder.remove());

  describe('createClient throws ClientError 2 naming the option', () => {
    const transport = () => memoryTransport(w.hub);
    it.each<[string, () => unknown, RegExp]>([
      ['null options', () => null, /'options'/],
      ['a string for options', () => 'fast', /'options'/],
      ['no transport', () => ({}), /'transport'/],
      ['a number for transport', () => ({ transport: 42 }), /'transport'/],
      ['a string for maxConcurrentTransfers', () => ({ transport: transport(), maxConcurrentTransfers: '9' }), /'maxConcurrentTransfers'/],
      ['maxConcurrentTransfers 0', () => ({ transport: transport(), maxConcurrentTransfers: 0 }), /'maxConcurrentTransfers'/],
      ['maxConcurrentTransfers 10', () => ({ transport: transport(), maxConcurrentTransfers: 10 }), /'maxConcurrentTransfers'/],
      ['a fractional maxConcurrentTransfers', () => ({ transport: transport(), maxConcurrentTransfers: 1.5 }), /'maxConcurrentTransfers'/],
      ['an unknown overflow', () => ({ transport: transport(), overflow: 'drop' }), /'overflow'/],
      ['a number for overflow', () => ({ transport: transport(), overflow: 1 }), /'overflow'/],
      ['a string for idleTimeoutMs', () => ({ transport: transport(), idleTimeoutMs: '120000' }), /'idleTimeoutMs'/],
      ['a negative idleTimeoutMs', () => ({ transport: transport(), idleTimeoutMs: -1 }), /'idleTimeoutMs'/],
      ['NaN for idleTimeoutMs', () => ({ transport: transport(), idleTimeoutMs: Number.NaN }), /'idleTimeoutMs'/],
      ['a string for progressIntervalMs', () => ({ transport: transport(), progressIntervalMs: 'often' }), /'progressIntervalMs'/],
      ['a string for retryDelays', () => ({ transport: transport(), retryDelays: '0,1000' }), /'retryDelays'/],
      ['strings inside retryDelays', () => ({ transport: transport(), retryDelays: ['0'] }), /'retryDelays'/],
      ['a number for clock', () => ({ transport: transport(), clock: 42 }), /'clock'/],
      ['an empty object for clock', () => ({ transport: transport(), clock: {} }), /'clock'/],
      ['a number for files', () => ({ transport: transport(), files: 42 }), /'files'/],
      ['a number for createHasher', () => ({ transport: transport(), createHasher: 42 }), /'createHasher'/],
    ])('%s', (_what, options, argument) => {
      w = world();
      throwsWith(() => createClient(bad<ClientOptions>(options())), { name: 'ClientError', code: 2, mentions: argument });
    });
  });

  describe('login rejects with LoginError 3 INVALID_ARGUMENT naming the field', () => {
    it.each<[string, unknown, RegExp]>([
      ['null credentials', null, /'userId'/],
      ['a string for credentials', 'alice', /'userId'/],
      ['a number for userId', { userId: 42, token: 'x' }, /'userId'/],
      ['null userId', { userId: null, token: 'x' }, /'userId'/],
      ['a userId of 65 characters', { userId: 'a'.repeat(65), token: 'x' }, /'userId'/],
      ['a userId of spaces', { userId: '   ', token: 'x' }, /'userId'/],
      ['a userId with a control character', { userId: 'al\nice', token: 'x' }, /'userId'/],
      ['a number for token', { userId: 'alice', token: 42 }, /'token'/],
      ['null token', { userId: 'alice', token: null }, /'token'/],
    ])('%s', async (_what, credentials, argument) => {
      w = world();
      await rejectsWith(w.client().login(bad(credentials)), { name: 'LoginError', code: 3, mentions: argument });
    });
  });

  describe('uploads end failed with UploadError 2 naming the argument, never throwing', () => {
    const sources: [string, unknown][] = [
      ['a number for source', 42],
      ['null source', null],
      ['no source', undefined],
      ['an object for source', { path: '/tmp/x' }],
      ['an array of numbers for source', [1, 2, 3]],
      ['an ArrayBuffer for source', new ArrayBuffer(3)],
    ];
    it.each(sources)('%s', async (_what, source) => {
      w = world();
      const client = await w.loggedIn();
      for (const start of uploads(client)) {
        await rejectsWith(resultOf(() => start(bad(source))), { name: 'UploadError', code: 2, mentions: /'source'/ });
      }
    });

    const options: [string, unknown, RegExp][] = [
      ['null options', null, /'options'/],
      ['a string for options', 'fast', /'options'/],
      ['a number for options', 42, /'options'/],
      ['an object for signal', { signal: {} }, /'signal'/],
      ['a string for signal', { signal: 'abort' }, /'signal'/],
      ['a look-alike signal', { signal: { aborted: false, addEventListener: () => undefined, removeEventListener: () => undefined } }, /'signal'/],
      ['an EventTarget for signal', { signal: new EventTarget() }, /'signal'/],
      ['an AbortController for signal', { signal: new AbortController() }, /'signal'/],
      ['a number for fileName', { fileName: 42 }, /'fileName'/],
      ['a string for thumbnail', { thumbnail: 'png' }, /'thumbnail'/],
      ['an array for thumbnail', { thumbnail: [1, 2] }, /'thumbnail'/],
      ['a number for description', { description: 42 }, /'description'/],
    ];
    it.each(options)('%s', async (_what, opts, argument) => {
      w = world();
      const client = await w.loggedIn();
      for (const start of uploads(client)) {
        let task: Task<unknown> | undefined;
        const error = await rejectsWith(
          resultOf(() => (task = start(bytes(10), bad(opts)))),
          { name: 'UploadError', code: 2, mentions: argument },
        );
        expect(error.operation).toBe('upload');
        expect(stateOf(task!)).toBe('failed');
      }
    });

    it.each<[string, unknown, RegExp]>([
      ['a string for width', { width: '10' }, /'width'/],
      ['NaN for width', { width: Number.NaN }, /'width'/],
      ['a negative height', { height: -1 }, /'height'/],
      ['a fractional thumbnailWidth', { thumbnailWidth: 1.5 }, /'thumbnailWidth'/],
      ['a string for thumbnailHeight', { thumbnailHeight: '1' }, /'thumbnailHeight'/],
    ])('image: %s', async (_what, opts, argument) => {
      w = world();
      const client = await w.loggedIn();
      await rejectsWith(resultOf(() => client.createImageMessageByUploading(bytes(10), bad(opts))), { name: 'UploadError', code: 2, mentions: argument });
    });
  });

  describe('an upload has no size option: the message says the bytes uploaded', () => {
    it.each<[string, unknown]>([
      ['a larger size', 999],
      ['a negative size', -1],
      ['a string for size', '10'],
    ])('%s in the options is ignored', async (_what, size) => {
      w = world();
      const client = await w.loggedIn();
      for (const start of uploads(client)) {
        const message = await start(bytes(10), bad({ fileName: 'a.bin', size })).result;
        expect(message.size).toBe(10);
        expect((await w.hub.mediaInfo(message.mediaId)).size).toBe(10);
      }
    });
  });

  describe('downloads end failed with DownloadError 2 naming the argument, never throwing', () => {
    it.each<[string, unknown]>([
      ['a number', 42],
      ['null', null],
      ['undefined', undefined],
      ['an object', { mediaId: MEDIA_ID }],
    ])('%s for mediaId', async (_what, mediaId) => {
      w = world();
      const client = await w.loggedIn();
      await rejectsWith(resultOf(() => client.downloadMediaToMemory(bad(mediaId))), { name: 'DownloadError', code: 2, mentions: /'mediaId'/ });
      await rejectsWith(resultOf(() => client.downloadMediaToFile(bad(mediaId), join(folder.path, 'x.bin'))), {
        name: 'DownloadError',
        code: 2,
        mentions: /'mediaId'/,
      });
    });

    it.each<[string, unknown]>([
      ['a number', 42],
      ['null', null],
      ['an object', { path: '/tmp/x' }],
      ['a URL object', new URL('file:///tmp/x.bin')],
    ])('%s for absolutePath', async (_what, path) => {
      w = world();
      const client = await w.loggedIn();
      await rejectsWith(resultOf(() => client.downloadMediaToFile(MEDIA_ID, bad(path))), { name: 'DownloadError', code: 2, mentions: /'absolutePath'/ });
    });

    const downloadOptions: [string, unknown, RegExp][] = [
      ['null options', null, /'options'/],
      ['a string for options', 'now', /'options'/],
      ['an object for signal', { signal: {} }, /signal/],
      ['a string for signal', { signal: 'abort' }, /signal/],
      ['an AbortController for signal', { signal: new AbortController() }, /signal/],
    ];

    it.each(downloadOptions)('to memory: %s', async (_what, opts, argument) => {
      w = world();
      const client = await w.loggedIn();
      const mediaId = await uploaded(client);
      await rejectsWith(resultOf(() => client.downloadMediaToMemory(mediaId, bad(opts))), { name: 'DownloadError', code: 2, mentions: argument });
    });

    it.each(downloadOptions)('to a file: %s, creating no file', async (what, opts, argument) => {
      w = world();
      const client = await w.loggedIn();
      const mediaId = await uploaded(client);
      const target = join(folder.path, `bad-options-${what.replace(/\W+/g, '-')}.bin`);
      await rejectsWith(resultOf(() => client.downloadMediaToFile(mediaId, target, bad(opts))), { name: 'DownloadError', code: 2, mentions: argument });
      expect(existsSync(target)).toBe(false);
    });
  });

  describe('cancel rejects with CancelError 2 NOT_EXIST for a request ID of the wrong type, cancelling nothing', () => {
    it.each<[string, unknown]>([
      ['the same number as a string', '1'],
      ['null', null],
      ['undefined', undefined],
      ['an object', { requestId: 1 }],
      ['NaN', Number.NaN],
    ])('%s', async (_what, requestId) => {
      w = world({ gate: stalled() });
      const client = await w.loggedIn();
      const up = client.createFileMessageByUploading(bytes(10));
      const down = client.downloadMediaToMemory(MEDIA_ID);
      expect(up.requestId).toBe(1);
      await rejectsWith(client.cancelMediaUpload(bad(requestId)), { name: 'CancelError', code: 2, mentions: /request/ });
      await rejectsWith(client.cancelMediaDownload(bad(requestId)), { name: 'CancelError', code: 2, mentions: /request/ });
      expect(stateOf(up)).toBe('transferring');
      await settle(down.result);
    });
  });

  describe('peer send', () => {
    it.each<[string, unknown]>([
      ['a number', 42],
      ['null', null],
      ['an empty string', ''],
      ['65 characters', 'p'.repeat(65)],
    ])('%s for peerId rejects with 6 INVALID_USERID naming the user ID', async (_what, peerId) => {
      w = world();
      const client = await w.loggedIn();
      await rejectsWith(client.sendMessageToPeer(bad(peerId), textMessage('hi')), { name: 'PeerMessageError', code: 6, mentions: /user ID/ });
    });

    const shapes: [string, unknown][] = [
      ['null', null],
      ['undefined', undefined],
      ['a plain string', 'hello'],
      ['a number', 42],
      ['an unknown messageType', { messageType: 'VIDEO', url: 'x' }],
      ['a lower-case messageType', { messageType: 'text', text: 'hi' }],
      ['TEXT without text', { messageType: 'TEXT' }],
      ['TEXT with a number for text', { messageType: 'TEXT', text: 42 }],
      ['RAW with an array for rawMessage', { messageType: 'RAW', rawMessage: [1, 2, 3] }],
      ['RAW with a number for description', { messageType: 'RAW', rawMessage: new Uint8Array(1), description: 1 }],
      ['FILE with a malformed mediaId', { messageType: 'FILE', mediaId: '../x', size: 1, fileName: 'x' }],
      ['FILE with a string size', { messageType: 'FILE', mediaId: MEDIA_ID, size: '1', fileName: 'x' }],
      ['FILE without fileName', { messageType: 'FILE', mediaId: MEDIA_ID, size: 1 }],
      ['IMAGE without dimensions', { messageType: 'IMAGE', mediaId: MEDIA_ID, size: 1, fileName: 'x' }],
      ['IMAGE with a negative width', { messageType: 'IMAGE', mediaId: MEDIA_ID, size: 1, fileName: 'x', width: -1, height: 1, thumbnailWidth: 0, thumbnailHeight: 0 }],
    ];

    it.each(shapes)('%s as the message rejects with 7 INVALID_MESSAGE naming the message', async (_what, message) => {
      w = world();
      const client = await w.loggedIn();
      await w.loggedIn('bob');
      await rejectsWith(client.sendMessageToPeer('bob', bad<Message>(message)), { name: 'PeerMessageError', code: 7, mentions: /message/ });
    });

    it.each(shapes)('channel send of %s rejects with 4 INVALID_MESSAGE naming the message', async (_what, message) => {
      w = world();
      const client = await w.loggedIn();
      const channel = client.createChannel('lobby');
      await channel.join();
      await rejectsWith(channel.sendMessage(bad<Message>(message)), { name: 'ChannelMessageError', code: 4, mentions: /message/ });
    });
  });

  describe('channels with a wrong-typed channel ID', () => {
    it.each<[string, unknown]>([
      ['a number', 42],
      ['null', null],
      ['an empty string', ''],
    ])('%s: creating the handle does not throw; join 3, send 5, leave 3, getMembers 5', async (_what, channelId) => {
      w = world();
      const client = await w.loggedIn();
      let channel: ReturnType<Client['createChannel']> | undefined;
      expect(() => {
        channel = client.createChannel(bad(channelId));
      }).not.toThrow();
      await rejectsWith(channel!.join(), { name: 'JoinChannelError', code: 3, mentions: /'channelId'/ });
      await rejectsWith(channel!.sendMessage(textMessage('hi')), { name: 'ChannelMessageError', code: 5 });
      await rejectsWith(channel!.leave(), { name: 'LeaveChannelError', code: 3 });
      await rejectsWith(channel!.getMembers(), { name: 'GetMembersError', code: 5 });
    });
  });

  describe('message constructors throw MessageError 2 naming the argument', () => {
    it.each<[string, (c: Client) => unknown, RegExp]>([
      ['file by media ID: a number for mediaId', (c) => c.createFileMessageByMediaId(bad(42)), /'mediaId'/],
      ['image by media ID: null mediaId', (c) => c.createImageMessageByMediaId(bad(null)), /'mediaId'/],
      ['file by media ID: a string for size', (c) => c.createFileMessageByMediaId(MEDIA_ID, bad({ size: '10' })), /'size'/],
      ['file by media ID: a negative size', (c) => c.createFileMessageByMediaId(MEDIA_ID, { size: -1 }), /'size'/],
      ['file by media ID: a number for fileName', (c) => c.createFileMessageByMediaId(MEDIA_ID, bad({ fileName: 42 })), /'fileName'/],
      ['file by media ID: a string for thumbnail', (c) => c.createFileMessageByMediaId(MEDIA_ID, bad({ thumbnail: 'x' })), /'thumbnail'/],
      ['file by media ID: a number for description', (c) => c.createFileMessageByMediaId(MEDIA_ID, bad({ description: 42 })), /'description'/],
      ['image by media ID: a string for width', (c) => c.createImageMessageByMediaId(MEDIA_ID, bad({ width: 'wide' })), /'width'/],
      ['image by media ID: a fractional thumbnailHeight', (c) => c.createImageMessageByMediaId(MEDIA_ID, { thumbnailHeight: 0.5 }), /'thumbnailHeight'/],
      ['file by media ID: null fields', (c) => c.createFileMessageByMediaId(MEDIA_ID, bad(null)), /'fields'/],
      ['image by media ID: null fields', (c) => c.createImageMessageByMediaId(MEDIA_ID, bad(null)), /'fields'/],
      ['file by media ID: a string for fields', (c) => c.createFileMessageByMediaId(MEDIA_ID, bad('notes.txt')), /'fields'/],
      ['textMessage: a number', () => textMessage(bad(42)), /'text'/],
      ['textMessage: null', () => textMessage(bad(null)), /'text'/],
      ['rawMessage: a string', () => rawMessage(bad('abc')), /'rawMessage'/],
      ['rawMessage: a number for description', () => rawMessage(new Uint8Array(1), bad({ description: 42 })), /'description'/],
      ['rawMessage: null fields', () => rawMessage(new Uint8Array(1), bad(null)), /'fields'/],
    ])('%s', (_what, build, argument) => {
      w = world();
      const client = w.client();
      throwsWith(() => build(client), { name: 'MessageError', code: 2, mentions: argument });
    });
  });

  describe('a failed or cancelled task frees its slot at once: the client can run the next nine', () => {
    it("with overflow 'reject', nine new uploads are admitted as soon as nine cancels resolve", async () => {
      w = world({ gate: stalled() });
      const client = await w.loggedIn('alice', { overflow: 'reject' });
      const first = Array.from({ length: 9 }, (_, i) => client.createFileMessageByUploading(bytes(10, i)));
      await flush();
      await Promise.all(first.map((t) => t.cancel()));
      const next = Array.from({ length: 9 }, (_, i) => client.createFileMessageByUploading(bytes(10, 20 + i)));
      expect(next.map(stateOf)).toEqual(Array(9).fill('transferring'));
      await rejectsWith(client.createFileMessageByUploading(bytes(10)).result, { name: 'UploadError', code: 5 });
    });

    it("with overflow 'reject', nine new transfers are admitted once nine cancelled results have settled", async () => {
      w = world({ gate: stalled() });
      const client = await w.loggedIn('alice', { overflow: 'reject' });
      const first = Array.from({ length: 9 }, (_, i) => client.createFileMessageByUploading(bytes(10, i)));
      await flush();
      for (const task of first) void task.cancel();
      await Promise.all(first.map((t) => settle(t.result)));
      const next = Array.from({ length: 9 }, (_, i) => client.createFileMessageByUploading(bytes(10, 20 + i)));
      expect(next.map(stateOf)).toEqual(Array(9).fill('transferring'));
    });

    it("with overflow 'reject', nine timed-out uploads make room for nine more", async () => {
      w = world({ gate: stalled() });
      const client = await w.loggedIn('alice', { overflow: 'reject', idleTimeoutMs: 1000 });
      const first = Array.from({ length: 9 }, (_, i) => client.createFileMessageByUploading(bytes(10, i)));
      await flush();
      w.clock.advance(1000);
      for (const task of first) await rejectsWith(task.result, { name: 'UploadError', code: 3 });
      const next = Array.from({ length: 9 }, (_, i) => client.createFileMessageByUploading(bytes(10, 20 + i)));
      expect(next.map(stateOf)).toEqual(Array(9).fill('transferring'));
    });

    it("with overflow 'reject', nine downloads that failed at the hub make room for nine more", async () => {
      const g = gate();
      w = world({ gate: g.fn });
      const client = await w.loggedIn('alice', { overflow: 'reject' });
      const mediaId = await uploaded(client);
      await flush();
      g.close();
      const failing = Array.from({ length: 9 }, () => client.downloadMediaToMemory(MEDIA_ID));
      for (const task of failing) await rejectsWith(task.result, { name: 'DownloadError', code: 4 });
      const next = Array.from({ length: 9 }, () => client.downloadMediaToMemory(mediaId));
      expect(next.map(stateOf)).toEqual(Array(9).fill('transferring'));
    });

    it("with overflow 'reject', bad-argument failures never take a slot", async () => {
      w = world({ gate: stalled() });
      const client = await w.loggedIn('alice', { overflow: 'reject' });
      const refused = Array.from({ length: 20 }, () => client.createFileMessageByUploading(bad(42)));
      for (const task of refused) await rejectsWith(task.result, { name: 'UploadError', code: 2 });
      const next = Array.from({ length: 9 }, (_, i) => client.createFileMessageByUploading(bytes(10, i)));
      expect(next.map(stateOf)).toEqual(Array(9).fill('transferring'));
    });

    it('in the queue, nine cancelled transfers let the nine waiting behind them run to the end', async () => {
      const g = gate(false);
      w = world({ gate: g.fn });
      const client = await w.loggedIn();
      const first = Array.from({ length: 9 }, (_, i) => client.createFileMessageByUploading(bytes(10, i)));
      const waiting = Array.from({ length: 9 }, (_, i) => client.createFileMessageByUploading(bytes(10, 20 + i)));
      await until(() => g.waiting === 9, 'nine chunks at the gate');
      expect(waiting.map(stateOf)).toEqual(Array(9).fill('pending'));
      await Promise.all(first.map((t) => t.cancel()));
      await until(() => waiting.every((t) => stateOf(t) === 'transferring'), 'the nine waiting to start');
      g.open();
      expect((await Promise.all(waiting.map((t) => t.result))).map((m) => m.size)).toEqual(Array(9).fill(10));
    });
  });
});
