/**
 * The transport contract suite: one set of assertions every transport must pass — bytes and messages
 * round-trip, progress is monotonic and bounded, every cancellation rule, every limit, retention and the
 * error codes. Run it from a transport's spec with `describeTransportContract(name, makeFixture)`.
 */
import { createHash } from 'node:crypto';
import { mkdtempSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { firstValueFrom, take, toArray } from 'rxjs';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import {
  type Client,
  createClient,
  type FerryError,
  imageMessage,
  MAX_FILE_SIZE,
  MAX_MESSAGE_SIZE,
  type Progress,
  rawMessage,
  textMessage,
  type TransferState,
} from '../../src/index.js';
import type { ContractFixture } from './fixture.js';

const bytesOf = (size: number, seed = 7): Uint8Array => {
  const bytes = new Uint8Array(size);
  let x = seed;
  for (let i = 0; i < size; i++) {
    x = (x * 1103515245 + 12345) >>> 0;
    bytes[i] = x >>> 24;
  }
  return bytes;
};

/** Byte equality without vitest's element-wise diff, which takes seconds on a megabyte. */
const expectSameBytes = (actual: Uint8Array, expected: Uint8Array): void => {
  expect(actual.length).toBe(expected.length);
  expect(Buffer.compare(actual, expected)).toBe(0);
};

const rejection = async (promise: Promise<unknown>): Promise<FerryError> => {
  try {
    await promise;
  } catch (error) {
    return error as FerryError;
  }
  throw new Error('expected a rejection');
};

const states = <T>(task: { state$: import('rxjs').Observable<T> }): Promise<T[]> => firstValueFrom(task.state$.pipe(toArray()));

/** Lets promise chains settle without moving time. */
const settle = async (): Promise<void> => {
  for (let i = 0; i < 5; i++) await new Promise((resolve) => setImmediate(resolve));
};

export const describeTransportContract = (name: string, makeFixture: () => Promise<ContractFixture>): void => {
  describe(`transport contract: ${name}`, () => {
    let fx: ContractFixture;
    const clients: Client[] = [];
    const folder = mkdtempSync(join(tmpdir(), 'ferry-contract-'));

    const client = async (userId: string, options: Partial<Parameters<typeof createClient>[0]> = {}): Promise<Client> => {
      const c = createClient({ transport: fx.transport(), clock: fx.clock, ...fx.clientOptions, ...options });
      await c.login({ userId, token: fx.issueToken(userId) });
      clients.push(c);
      return c;
    };

    beforeEach(async () => {
      fx = await makeFixture();
    });
    afterEach(async () => {
      fx.resume();
      await Promise.allSettled(clients.splice(0).map((c) => c.logout()));
      await fx.close();
    });

    describe('bytes round-trip', () => {
      it.each([1, 65_535, 65_536, 65_537, 1_048_579])('uploads %i bytes and downloads exactly them to memory and to a file', async (size) => {
        const alice = await client('alice');
        const bob = await client('bob');
        const sent = bytesOf(size, size);
        const message = await alice.createFileMessageByUploading(sent, { fileName: 'data.bin' }).result;
        expect(message).toMatchObject({ messageType: 'FILE', size, fileName: 'data.bin' });
        expectSameBytes(await bob.downloadMediaToMemory(message.mediaId).result, sent);
        const path = join(folder, `round-trip-${size}.bin`);
        await bob.downloadMediaToFile(message.mediaId, path).result;
        expectSameBytes(readFileSync(path), sent);
      });

      it('uploads from an absolute path and from a Blob, naming the file after the source', async () => {
        const alice = await client('alice');
        const path = join(folder, 'notes.txt');
        writeFileSync(path, 'hello from a file');
        const fromPath = await alice.createFileMessageByUploading(path).result;
        expect(fromPath).toMatchObject({ fileName: 'notes.txt', size: 17 });
        const blob = new File([Buffer.from(bytesOf(5000))], 'blob.bin');
        const fromBlob = await alice.createFileMessageByUploading(blob).result;
        expect(fromBlob).toMatchObject({ fileName: 'blob.bin', size: 5000 });
        expect(await alice.downloadMediaToMemory(fromBlob.mediaId).result).toEqual(bytesOf(5000));
      });

      it('tells media size, SHA-256 and the file name it offers without reading it: the plain name as sent, a hostile one reduced', async () => {
        const alice = await client('alice');
        const bob = await client('bob');
        const sent = bytesOf(3000);
        const named = async (fileName: string) => (await alice.createFileMessageByUploading(sent, { fileName }).result).mediaId;
        const plain = await named('Café "menu" 100%.pdf');
        expect(await bob.getMediaInfo(plain)).toEqual({ mediaId: plain, size: 3000, sha256: createHash('sha256').update(sent).digest('hex'), fileName: 'Café "menu" 100%.pdf' });
        for (const [given, offered] of [
          ['../../.ssh/authorized_keys', 'authorized_keys'],
          ['C:\\Windows\\evil.exe', 'evil.exe'],
          ['\u202egpj.exe\u0000\n', 'gpj.exe'],
          ['..', undefined],
          ['', undefined],
        ] as const) {
          const mediaId = await named(given);
          expect((await bob.getMediaInfo(mediaId)).fileName, JSON.stringify(given)).toBe(offered ?? mediaId);
        }
        expect(await rejection(bob.getMediaInfo('../etc/passwd'))).toMatchObject({ name: 'DownloadError', code: 2 });
        expect(await rejection(bob.getMediaInfo('AAAAAAAAAAAAAAAAAAAAAA'))).toMatchObject({ name: 'DownloadError', code: 4 });
      });
    });

    describe('messages', () => {
      it('delivers every message type to a peer with its fields intact', async () => {
        const alice = await client('alice');
        const bob = await client('bob');
        const received = firstValueFrom(bob.peerMessages$.pipe(take(3), toArray()));
        const image = imageMessage('AAAAAAAAAAAAAAAAAAAAAA', {
          size: 10,
          fileName: 'cat.png',
          thumbnail: bytesOf(100),
          width: 640,
          height: 480,
          thumbnailWidth: 64,
          thumbnailHeight: 48,
          description: 'a cat',
        });
        const sent = [textMessage('héllo 👋'), rawMessage(bytesOf(33), { description: 'raw' }), image];
        for (const message of sent) await alice.sendMessageToPeer('bob', message);
        const events = await received;
        expect(events.map((e) => e.message)).toEqual(sent);
        expect(events.every((e) => e.peerId === 'alice' && typeof e.serverReceivedTs === 'number')).toBe(true);
      });

      it('runs a channel: join, members, messages to others only, presence, leave', async () => {
        const alice = await client('alice');
        const bob = await client('bob');
        const a = alice.createChannel('room');
        const b = bob.createChannel('room');
        await a.join();
        const joined = firstValueFrom(a.memberJoined$);
        await b.join();
        expect(await joined).toBe('bob');
        expect(await a.getMembers()).toEqual(['alice', 'bob']);
        const toBob = firstValueFrom(b.messages$);
        await a.sendMessage(textMessage('hi room'));
        expect(await toBob).toMatchObject({ memberId: 'alice', message: { messageType: 'TEXT', text: 'hi room' } });
        const left = firstValueFrom(a.memberLeft$);
        await b.leave();
        expect(await left).toBe('bob');
        expect((await rejection(b.sendMessage(textMessage('x')))).code).toBe(5);
        expect((await rejection(b.leave())).code).toBe(3);
        expect((await rejection(a.join())).code).toBe(6);
      });

      it('refuses unreachable peers (3), invalid user IDs (6) and messages over 32 KiB (peer 7, channel 4)', async () => {
        const alice = await client('alice');
        await client('bob');
        expect((await rejection(alice.sendMessageToPeer('nobody', textMessage('x')))).code).toBe(3);
        expect((await rejection(alice.sendMessageToPeer('', textMessage('x')))).code).toBe(6);
        expect(await alice.sendMessageToPeer('bob', textMessage('a'.repeat(MAX_MESSAGE_SIZE)))).toMatchObject({ state: 'RECEIVED' });
        expect((await rejection(alice.sendMessageToPeer('bob', textMessage('a'.repeat(MAX_MESSAGE_SIZE + 1))))).code).toBe(7);
        const room = alice.createChannel('room');
        await room.join();
        expect((await rejection(room.sendMessage(rawMessage(new Uint8Array(MAX_MESSAGE_SIZE + 1))))).code).toBe(4);
      });
    });

    describe('messaging that chat apps expect', () => {
      const DAY = 24 * 3600_000;

      it('keeps messages for an offline peer (CACHED_BY_SERVER) and delivers them in order at its login, marked offline', async () => {
        const alice = await client('alice');
        expect((await rejection(alice.sendMessageToPeer('bob', textMessage('not kept')))).code).toBe(3);
        const kept = [textMessage('one'), textMessage('two'), rawMessage(bytesOf(40))];
        const answers = [];
        for (const message of kept) answers.push(await alice.sendMessageToPeer('bob', message, { enableOfflineMessaging: true }));
        expect(answers.map((answer) => answer.state)).toEqual(['CACHED_BY_SERVER', 'CACHED_BY_SERVER', 'CACHED_BY_SERVER']);
        const bob = createClient({ transport: fx.transport(), clock: fx.clock, ...fx.clientOptions });
        clients.push(bob);
        const received = firstValueFrom(bob.peerMessages$.pipe(take(4), toArray()));
        await bob.login({ userId: 'bob', token: fx.issueToken('bob') });
        const live = await alice.sendMessageToPeer('bob', textMessage('live'), { enableOfflineMessaging: true });
        expect(live.state).toBe('RECEIVED');
        const events = await received;
        expect(events.map((e) => e.message)).toEqual([...kept, textMessage('live')]);
        expect(events.map((e) => e.isOfflineMessage)).toEqual([true, true, true, false]);
        expect(events.map((e) => e.messageId)).toEqual([...answers, live].map((answer) => answer.messageId));
        expect(events.every((e) => e.peerId === 'alice')).toBe(true);
      });

      it('hands the offline messages of a login to a subscriber that comes after it', async () => {
        const alice = await client('alice');
        await alice.sendMessageToPeer('bob', textMessage('while you were away'), { enableOfflineMessaging: true });
        const bob = await client('bob');
        await settle();
        const first = await firstValueFrom(bob.peerMessages$);
        expect(first).toMatchObject({ peerId: 'alice', isOfflineMessage: true, message: { text: 'while you were away' } });
      });

      it('an image sent to a peer offline for two days arrives and downloads; past the media retention it arrives and the download fails with 4', async () => {
        const alice = await client('alice');
        const image = bytesOf(5_000, 3);
        const first = await alice.createFileMessageByUploading(image, { fileName: 'cat.png' }).result;
        expect((await alice.sendMessageToPeer('bob', first, { enableOfflineMessaging: true })).state).toBe('CACHED_BY_SERVER');
        await fx.advance(2 * DAY);
        const bob = createClient({ transport: fx.transport(), clock: fx.clock, ...fx.clientOptions });
        clients.push(bob);
        const arrived = firstValueFrom(bob.peerMessages$);
        await bob.login({ userId: 'bob', token: fx.issueToken('bob') });
        expect(await arrived).toMatchObject({ peerId: 'alice', isOfflineMessage: true, message: { mediaId: first.mediaId, fileName: 'cat.png' } });
        expectSameBytes(await bob.downloadMediaToMemory(first.mediaId).result, image);
        await bob.logout();
        // Sent a day before the media expires: the message outlives its media (it is kept for the
        // retention from its own send) and still arrives; the bytes are gone.
        await fx.advance(fx.retentionMs - 3 * DAY);
        const again = createClient({ transport: fx.transport(), clock: fx.clock, ...fx.clientOptions });
        clients.push(again);
        const sender = await client('carol');
        expect((await sender.sendMessageToPeer('bob', first, { enableOfflineMessaging: true })).state).toBe('CACHED_BY_SERVER');
        await fx.advance(2 * DAY);
        const late = firstValueFrom(again.peerMessages$);
        await again.login({ userId: 'bob', token: fx.issueToken('bob') });
        expect(await late).toMatchObject({ peerId: 'carol', isOfflineMessage: true, message: { mediaId: first.mediaId } });
        expect((await rejection(again.downloadMediaToMemory(first.mediaId).result)).code).toBe(4);
      });

      it('delivers a send retried with the same message ID once, to a peer and to a channel, even from a restarted app', async () => {
        const alice = await client('alice');
        const bob = await client('bob');
        const peerEvents: string[] = [];
        bob.peerMessages$.subscribe((e) => peerEvents.push(`${e.messageId}:${(e.message as { text: string }).text}`));
        const first = await alice.sendMessageToPeer('bob', textMessage('once'), { messageId: 'photo-1' });
        const retried = await alice.sendMessageToPeer('bob', textMessage('once'), { messageId: 'photo-1' });
        expect(retried).toEqual(first);
        const restarted = createClient({ transport: fx.transport(), clock: fx.clock, ...fx.clientOptions });
        clients.push(restarted);
        await alice.logout();
        await restarted.login({ userId: 'alice', token: fx.issueToken('alice') });
        expect(await restarted.sendMessageToPeer('bob', textMessage('once'), { messageId: 'photo-1' })).toEqual(first);
        await restarted.sendMessageToPeer('bob', textMessage('next'), { messageId: 'photo-2' });
        await settle();
        expect(peerEvents).toEqual(['photo-1:once', 'photo-2:next']);
        const a = restarted.createChannel('room');
        const b = bob.createChannel('room');
        await a.join();
        await b.join();
        const roomEvents: string[] = [];
        b.messages$.subscribe((e) => roomEvents.push(e.messageId));
        expect(await a.sendMessage(textMessage('hi'), { messageId: 'room-1' })).toEqual({ messageId: 'room-1' });
        await a.sendMessage(textMessage('hi'), { messageId: 'room-1' });
        await a.sendMessage(textMessage('hi again'));
        await settle();
        expect(roomEvents).toHaveLength(2);
        expect(roomEvents[0]).toBe('room-1');
        expect((await rejection(restarted.sendMessageToPeer('bob', textMessage('x'), { messageId: '' }))).code).toBe(7);
        expect((await rejection(a.sendMessage(textMessage('x'), { messageId: 'é' }))).code).toBe(4);
      });

      it('tells who is online: query, subscribe, changes as peers log in and out, limits 256 and 512', async () => {
        const bob = await client('bob');
        expect(await bob.queryPeersOnlineStatus(['alice', 'bob'])).toEqual({ alice: 'OFFLINE', bob: 'ONLINE' });
        const seen: Record<string, string>[] = [];
        bob.peersOnlineStatus$.subscribe((change) => seen.push(change));
        await bob.subscribePeersOnlineStatus(['alice']);
        await settle();
        const alice = await client('alice');
        await settle();
        await alice.logout();
        await settle();
        await bob.unsubscribePeersOnlineStatus(['alice']);
        await client('alice');
        await settle();
        expect(seen).toEqual([{ alice: 'OFFLINE' }, { alice: 'ONLINE' }, { alice: 'OFFLINE' }]);
        expect(await bob.queryPeersOnlineStatus(['alice'])).toEqual({ alice: 'ONLINE' });
        const many = Array.from({ length: 513 }, (_, i) => `peer-${i}`);
        expect((await rejection(bob.queryPeersOnlineStatus(many.slice(0, 257)))).code).toBe(2);
        expect((await rejection(bob.queryPeersOnlineStatus(['']))).code).toBe(2);
        expect((await rejection(bob.subscribePeersOnlineStatus(many))).code).toBe(6);
      });

      it('counts channel members without joining (limit 32) and tells a member the count as it changes', async () => {
        const alice = await client('alice');
        const bob = await client('bob');
        const carol = await client('carol');
        const room = alice.createChannel('room');
        const counts: number[] = [];
        room.memberCount$.subscribe((n) => counts.push(n));
        await room.join();
        await settle();
        await bob.createChannel('room').join();
        await settle();
        expect(await carol.getChannelMemberCount(['room', 'empty'])).toEqual({ room: 2, empty: 0 });
        const tooMany = Array.from({ length: 33 }, (_, i) => `c${i}`);
        await fx.advance(1_000);
        expect((await rejection(carol.getChannelMemberCount(tooMany))).code).toBe(5);
        await fx.advance(1_000);
        await settle();
        expect(counts).toEqual([1, 2]);
      });
    });

    describe('progress', () => {
      it('is monotonic, bounded and ends at the total, for uploads and downloads', async () => {
        const alice = await client('alice', { progressIntervalMs: 0 });
        const size = 700_001;
        const up = alice.createFileMessageByUploading(bytesOf(size));
        const upEvents = firstValueFrom(up.progress$.pipe(toArray()));
        const { mediaId } = await up.result;
        const down = alice.downloadMediaToMemory(mediaId);
        const downEvents = firstValueFrom(down.progress$.pipe(toArray()));
        await down.result;
        for (const events of [await upEvents, await downEvents]) {
          expect(events.length).toBeGreaterThan(1);
          events.forEach((p: Progress, i) => {
            expect(p.totalSize).toBe(size);
            expect(p.currentSize).toBeLessThanOrEqual(size);
            if (i > 0) expect(p.currentSize).toBeGreaterThanOrEqual(events[i - 1]!.currentSize);
          });
          expect(events.at(-1)).toEqual({ currentSize: size, totalSize: size });
        }
      });
    });

    describe('cancellation', () => {
      it('cancels a transferring upload: cancelled, code 6, no media ID, no bytes left on the hub', async () => {
        const alice = await client('alice');
        fx.pause();
        const up = alice.createFileMessageByUploading(bytesOf(300_000));
        await settle();
        expect(await firstValueFrom(up.state$)).toBe('transferring');
        await up.cancel();
        const error = await rejection(up.result);
        expect(error).toMatchObject({ name: 'UploadError', code: 6 });
        expect(await states(up)).toEqual(['cancelled']);
        fx.resume();
        await settle();
        expect(await fx.storedUploads()).toBe(0);
      });

      it('cancels a queued task by request ID without it ever transferring, and frees no slot it never held', async () => {
        const alice = await client('alice', { maxConcurrentTransfers: 1 });
        fx.pause();
        const first = alice.createFileMessageByUploading(bytesOf(10));
        const second = alice.createFileMessageByUploading(bytesOf(10));
        const seen: TransferState[] = [];
        second.state$.subscribe((s) => seen.push(s));
        await alice.cancelMediaUpload(second.requestId);
        expect((await rejection(second.result)).code).toBe(6);
        fx.resume();
        await first.result;
        expect(seen).toEqual(['pending', 'cancelled']);
      });

      it('cancels through the signal, including one aborted before the call', async () => {
        const alice = await client('alice');
        const aborted = AbortSignal.abort();
        const early = alice.downloadMediaToMemory('AAAAAAAAAAAAAAAAAAAAAA', { signal: aborted });
        expect(await rejection(early.result)).toMatchObject({ name: 'DownloadError', code: 6 });
        const { mediaId } = await alice.createFileMessageByUploading(bytesOf(200_000)).result;
        const controller = new AbortController();
        fx.pause();
        const path = join(folder, 'aborted.bin');
        const down = alice.downloadMediaToFile(mediaId, path, { signal: controller.signal });
        await settle();
        controller.abort(new Error('user left'));
        expect((await rejection(down.result)).code).toBe(6);
        expect(readdirSync(folder).filter((f) => f.includes('aborted'))).toEqual([]);
      });

      it('refuses to cancel a finished or unknown request with cancel code 2', async () => {
        const alice = await client('alice');
        const up = alice.createFileMessageByUploading(bytesOf(10));
        await up.result;
        expect(await rejection(up.cancel())).toMatchObject({ name: 'CancelError', code: 2 });
        expect((await rejection(alice.cancelMediaUpload(up.requestId))).code).toBe(2);
        expect((await rejection(alice.cancelMediaDownload(123_456))).code).toBe(2);
      });

      it('emits no progress after a cancel', async () => {
        const alice = await client('alice', { progressIntervalMs: 0 });
        const up = alice.createFileMessageByUploading(bytesOf(1_000_000));
        const events: Progress[] = [];
        up.progress$.subscribe((p) => events.push(p));
        fx.pause();
        await settle();
        await up.cancel();
        const count = events.length;
        fx.resume();
        await settle();
        expect(events.length).toBe(count);
      });
    });

    describe('limits', () => {
      it('refuses an empty file (2) and one over 30 MiB (4) before moving a byte', async () => {
        const alice = await client('alice');
        expect(await rejection(alice.createFileMessageByUploading(new Uint8Array(0)).result)).toMatchObject({ code: 2 });
        expect(await rejection(alice.createFileMessageByUploading(new Uint8Array(MAX_FILE_SIZE + 1)).result)).toMatchObject({ code: 4 });
        expect(await fx.storedUploads()).toBe(0);
      });

      it('answers a malformed media ID with 2 and an unknown one with 4', async () => {
        const alice = await client('alice');
        expect((await rejection(alice.downloadMediaToMemory('../etc/passwd').result)).code).toBe(2);
        expect((await rejection(alice.downloadMediaToMemory('AAAAAAAAAAAAAAAAAAAAAA').result)).code).toBe(4);
      });

      it('fails a stalled transfer with TIMEOUT (3) after the idle timeout, leaving nothing behind', async () => {
        const alice = await client('alice', { idleTimeoutMs: 5_000 });
        fx.pause();
        const up = alice.createFileMessageByUploading(bytesOf(100_000));
        await settle();
        await fx.advance(5_000);
        expect(await rejection(up.result)).toMatchObject({ name: 'UploadError', code: 3 });
        fx.resume();
        await settle();
        expect(await fx.storedUploads()).toBe(0);
      });
    });

    describe('the session contract', () => {
      it('buffers events from connect until the first subscriber', async () => {
        const signal = new AbortController().signal;
        const session = await fx.transport().connect({ userId: 'carol', token: fx.issueToken('carol') }, { signal });
        const alice = await client('alice');
        await alice.sendMessageToPeer('carol', textMessage('sent before anyone listened'));
        const first = await firstValueFrom(session.events$);
        expect(first).toMatchObject({ type: 'peerMessage', peerId: 'alice', message: { text: 'sent before anyone listened' } });
        await session.close({ signal });
      });

      it('rejects every call on a closed session with NotLoggedIn, and completes its events', async () => {
        const signal = new AbortController().signal;
        const session = await fx.transport().connect({ userId: 'carol', token: fx.issueToken('carol') }, { signal });
        const completed = firstValueFrom(session.events$.pipe(toArray()));
        await session.close({ signal });
        expect(await completed).toEqual([]);
        const calls: Promise<unknown>[] = [
          session.createUpload({ size: 10, fileName: 'x' }, { signal }),
          session.getMedia('AAAAAAAAAAAAAAAAAAAAAA', { signal }),
          session.sendToPeer('alice', textMessage('x'), { signal, messageId: 'm-1' }),
          session.joinChannel('room', { signal }),
          session.queryPresence(['alice'], { signal }),
          session.subscribePresence(['alice'], { signal }),
          session.channelMemberCounts(['room'], { signal }),
        ];
        for (const call of calls) expect(await call.then(() => 'resolved', (e: { failure?: { _tag: string } }) => e.failure?._tag)).toBe('NotLoggedIn');
      });

      it('reaches ABORTED even when the same user logs in elsewhere at the same moment', async () => {
        const first = createClient({ transport: fx.transport(), clock: fx.clock });
        const second = createClient({ transport: fx.transport(), clock: fx.clock });
        clients.push(first, second);
        const states: [string[], string[]] = [[], []];
        first.connectionState$.subscribe((s) => states[0].push(s));
        second.connectionState$.subscribe((s) => states[1].push(s));
        await Promise.all([first.login({ userId: 'dave', token: fx.issueToken('dave') }), second.login({ userId: 'dave', token: fx.issueToken('dave') })]);
        // The replaced session hears of it as an event: through a cluster's Redis stream and a socket it may
        // take longer than a few turns, so it is waited for (3 s at most).
        for (const deadline = Date.now() + 3_000; !states.some((seen) => seen.at(-1) === 'ABORTED') && Date.now() < deadline; ) await settle();
        // "At the same moment" promises no order (on a cluster the two logins reach two nodes): whichever
        // the server took second replaced the other, which ends ABORTED and is refused everything after.
        const ends = states.map((seen) => seen.at(-1));
        expect([...ends].sort()).toEqual(['ABORTED', 'CONNECTED']);
        const replaced = ends[0] === 'ABORTED' ? first : second;
        expect((await rejection(replaced.sendMessageToPeer('dave', textMessage('x')))).code).toBe(102);
        expect((await rejection(replaced.createFileMessageByUploading(bytesOf(10)).result)).code).toBe(102);
      });
    });

    describe('retention and sessions', () => {
      it('expires media after the retention period: download fails with 4', async () => {
        const alice = await client('alice');
        const { mediaId } = await alice.createFileMessageByUploading(bytesOf(1000)).result;
        await fx.advance(fx.retentionMs - 1);
        expect(await alice.downloadMediaToMemory(mediaId).result).toEqual(bytesOf(1000));
        await fx.advance(1);
        expect((await rejection(alice.downloadMediaToMemory(mediaId).result)).code).toBe(4);
      });

      it('refuses bad and expired tokens with login codes 5 and 6', async () => {
        const c = createClient({ transport: fx.transport(), clock: fx.clock });
        expect((await rejection(c.login({ userId: 'alice', token: 'not-a-token' }))).code).toBe(5);
        const short = fx.issueToken('alice', 1_000);
        await fx.advance(1_000);
        expect((await rejection(c.login({ userId: 'alice', token: short }))).code).toBe(6);
      });

      it('aborts the first session when the same user logs in elsewhere; its transfers end with 6', async () => {
        const first = await client('alice');
        const states$: string[] = [];
        first.connectionState$.subscribe((s) => states$.push(s));
        fx.pause();
        const up = first.createFileMessageByUploading(bytesOf(100_000));
        await settle();
        const second = createClient({ transport: (fx.elsewhere ?? fx.transport)(), clock: fx.clock });
        clients.push(second);
        await second.login({ userId: 'alice', token: fx.issueToken('alice') });
        fx.resume();
        expect(await rejection(up.result)).toMatchObject({ code: 6 });
        await settle();
        expect(states$.at(-1)).toBe('ABORTED');
        expect(await fx.storedUploads()).toBe(0);
      });

      it('requires login first: media and messaging calls fail with 102', async () => {
        const c = createClient({ transport: fx.transport(), clock: fx.clock });
        expect((await rejection(c.createFileMessageByUploading(bytesOf(1)).result)).code).toBe(102);
        expect((await rejection(c.downloadMediaToMemory('AAAAAAAAAAAAAAAAAAAAAA').result)).code).toBe(102);
        expect((await rejection(c.getMediaInfo('AAAAAAAAAAAAAAAAAAAAAA'))).code).toBe(102);
        expect((await rejection(c.sendMessageToPeer('bob', textMessage('x')))).code).toBe(102);
        expect((await rejection(c.createChannel('room').join())).code).toBe(102);
      });
    });
  });
};
