/**
 * The WebSocket transport given the nodes of a cluster (issue 14, decision 96), against two real servers
 * on loopback sharing one store, upload state and bus: an upload through node A, closed midway,
 * completes through B from the offset the cluster holds (no byte sent twice beyond what A had not
 * acknowledged); a download cut midway finishes through B from the bytes received; a refused first URL
 * still works through the second; the socket to B resumes with the same session ID and last `seq`; a
 * message whose answer died with A is resent to B as the same call and arrives once (its message ID); a
 * client that moved stays on the node that works.
 */
import { firstValueFrom, filter, take } from 'rxjs';
import { describe, expect, it } from 'vitest';
import { textMessage } from '../../src/index.js';
import type { ClientFrame, ServerFrame } from '../../src/protocol/ws-frames.js';
import { NODE_ANSWER_MS } from '../../transports/node-choice.js';
import { wsTransport } from '../../transports/ws.js';
import {
  bytesOf,
  callsOf,
  failoverScope,
  MiB,
  recordingWebSocket,
  refusedUrl,
  sha256,
  type SocketLog,
  until,
  wsOf,
} from './failover-support.js';

describe('WebSocket failover between two nodes sharing a cluster state', () => {
  const scope = failoverScope();

  it('completes an upload through B after A closed midway, from the offset the cluster holds', async () => {
    const nodes = await scope.twoNodes();
    const { a, b } = nodes;
    const toA = await scope.proxy(a.url);
    const log: SocketLog[] = [];
    const alice = await scope.client('alice', wsTransport({ reconnectDelays: [0, 50], url: [wsOf(toA.url), b.wsUrl], WebSocket: recordingWebSocket(log) }), a.issueToken('alice'));
    const data = bytesOf(12 * MiB, 5);
    const progress: number[] = [];
    const held = toA.holdAfter(5 * MiB, 'up');
    const task = alice.createFileMessageByUploading(data);
    task.progress$.subscribe(({ currentSize }) => progress.push(currentSize));
    await held;
    await a.close();
    const message = await task.result;
    expect((await b.hub.mediaInfo(message.mediaId)).sha256).toBe(sha256(data));

    const atA = log.filter((s) => s.url === wsOf(toA.url));
    const atB = log.filter((s) => s.url === b.wsUrl);
    expect(atB.length).toBeGreaterThan(0);
    const acknowledgedByA = Math.max(0, ...atA.flatMap((s) => s.received.flatMap((f) => (f.type === 'ack' ? [f.offset] : []))));
    const framesB = atB.flatMap((s) => s.sent.flatMap((f) => (f.type === 'data' ? [f] : [])));
    // B was asked where the upload stands, then sent the bytes from there, each once, to the end.
    const [askB] = atB.flatMap((s) => callsOf(s, 'getUpload'));
    const [appendB] = atB.flatMap((s) => callsOf(s, 'append'));
    expect(askB).toBeDefined();
    const resumedAt = (appendB as unknown as { offset: number }).offset;
    expect(framesB[0]?.offset).toBe(resumedAt);
    expect(resumedAt).toBeGreaterThanOrEqual(acknowledgedByA);
    let at = resumedAt;
    for (const frame of framesB) {
      expect(frame.offset).toBe(at);
      at += frame.length;
    }
    expect(at).toBe(data.length);
    expect(progress).toEqual([...progress].sort((x, y) => x - y));
    expect(progress.at(-1)).toBe(data.length);
  }, 30_000);

  it('finishes a download to memory through B from the bytes received after A closed midway', async () => {
    const nodes = await scope.twoNodes();
    const { a, b } = nodes;
    const uploader = await scope.client('uploader', wsTransport({ reconnectDelays: [0, 50], url: b.wsUrl }), b.issueToken('uploader'));
    const data = bytesOf(12 * MiB, 6);
    const { mediaId } = await uploader.createFileMessageByUploading(data).result;
    const toA = await scope.proxy(a.url);
    const log: SocketLog[] = [];
    const alice = await scope.client('alice', wsTransport({ reconnectDelays: [0, 50], url: [wsOf(toA.url), b.wsUrl], WebSocket: recordingWebSocket(log) }), a.issueToken('alice'));
    const held = toA.holdAfter(4 * MiB, 'down');
    const task = alice.downloadMediaToMemory(mediaId);
    await held;
    await a.close();
    const bytes = await task.result;
    expect(sha256(bytes)).toBe(sha256(data));

    const atA = log.filter((s) => s.url === wsOf(toA.url));
    const readsB = log.filter((s) => s.url === b.wsUrl).flatMap((s) => callsOf(s, 'read')) as unknown as { offset: number; transfer: number }[];
    const [readA] = atA.flatMap((s) => callsOf(s, 'read')) as unknown as { offset: number; transfer: number }[];
    expect(readA?.offset).toBe(0);
    const receivedFromA = atA.reduce((sum, s) => sum + (s.data.get(readA?.transfer ?? -1) ?? 0), 0);
    // One read at B, from exactly the bytes A delivered.
    expect(readsB).toHaveLength(1);
    expect(receivedFromA).toBeGreaterThan(0);
    expect(readsB[0]?.offset).toBe(receivedFromA);
  }, 30_000);

  it('logs in, transfers and messages through the second URL when the first refuses connections', async () => {
    const nodes = await scope.twoNodes();
    const { a, b } = nodes;
    const alice = await scope.client('alice', wsTransport({ reconnectDelays: [0, 50], url: [wsOf(await refusedUrl()), b.wsUrl] }), b.issueToken('alice'));
    const bob = await scope.client('bob', wsTransport({ reconnectDelays: [0, 50], url: a.wsUrl }), a.issueToken('bob'));
    const data = bytesOf(300_000, 7);
    const message = await alice.createFileMessageByUploading(data).result;
    expect(sha256(await alice.downloadMediaToMemory(message.mediaId).result)).toBe(sha256(data));
    const toAlice = firstValueFrom(alice.peerMessages$.pipe(take(1)));
    const toBob = firstValueFrom(bob.peerMessages$.pipe(take(1)));
    await bob.sendMessageToPeer('alice', textMessage('hi alice'));
    await alice.sendMessageToPeer('bob', message);
    expect((await toAlice).message).toEqual(textMessage('hi alice'));
    expect((await toBob).message).toEqual(message);
  });

  it('resumes at B with the same session ID and the last seq it saw, and goes on receiving there', async () => {
    const nodes = await scope.twoNodes();
    const { a, b } = nodes;
    const log: SocketLog[] = [];
    const alice = await scope.client('alice', wsTransport({ reconnectDelays: [0, 50], url: [a.wsUrl, b.wsUrl], WebSocket: recordingWebSocket(log) }), a.issueToken('alice'));
    const bob = await scope.client('bob', wsTransport({ reconnectDelays: [0, 50], url: b.wsUrl }), b.issueToken('bob'));
    const first = firstValueFrom(alice.peerMessages$.pipe(take(1)));
    await bob.sendMessageToPeer('alice', textMessage('before'));
    expect((await first).message).toEqual(textMessage('before'));
    const atA = log.find((s) => s.url === a.wsUrl) as SocketLog;
    const welcomeA = atA.received.find((f) => f.type === 'welcome') as Extract<ServerFrame, { type: 'welcome' }>;
    const lastSeq = Math.max(...atA.received.flatMap((f) => (f.type === 'event' ? [f.seq] : [])));
    const states: string[] = [];
    alice.connectionState$.subscribe((state) => states.push(state));

    await a.close();
    await until(() => states.at(-1) === 'CONNECTED' && states.includes('RECONNECTING'), 10_000, 'alice back on B');
    const helloB = log.find((s) => s.url === b.wsUrl)?.sent.find((f) => f.type === 'hello') as Extract<ClientFrame, { type: 'hello' }>;
    expect(helloB.resume).toEqual({ sessionId: welcomeA.sessionId, lastSeq });
    // Whatever B made of it (resumed, or logged in afresh where the session is unknown), the session works there.
    const after = firstValueFrom(alice.peerMessages$.pipe(filter((e) => e.message.messageType === 'TEXT' && e.message.text === 'after'), take(1)));
    await bob.sendMessageToPeer('alice', textMessage('after'));
    expect((await after).peerId).toBe('bob');
  }, 30_000);

  it('sends a message whose call was in flight when its node died again through B, where it arrives once', async () => {
    const nodes = await scope.twoNodes();
    const { a, b } = nodes;
    const toA = await scope.proxy(a.url);
    const alice = await scope.client('alice', wsTransport({ reconnectDelays: [0, 50], url: [wsOf(toA.url), b.wsUrl] }), a.issueToken('alice'));
    const bob = await scope.client('bob', wsTransport({ reconnectDelays: [0, 50], url: b.wsUrl }), b.issueToken('bob'));
    const texts: string[] = [];
    bob.peerMessages$.subscribe(({ message }) => {
      if (message.messageType === 'TEXT') texts.push(message.text);
    });
    // A hears nothing more from alice: her call is in flight when A closes.
    await toA.holdAfter(0, 'up');
    const sent = alice.sendMessageToPeer('bob', textMessage('in flight'));
    await new Promise((resolve) => setTimeout(resolve, 50));
    await a.close();
    await sent;
    await alice.sendMessageToPeer('bob', textMessage('next'));
    await until(() => texts.includes('next'), 5_000, '"next" at bob');
    expect(texts).toEqual(['in flight', 'next']);
  }, 30_000);

  it('sends a message that A delivered but whose answer died with A again through B, where its message ID makes it arrive once', async () => {
    const nodes = await scope.twoNodes();
    const { a, b } = nodes;
    const toA = await scope.proxy(a.url);
    const log: SocketLog[] = [];
    const alice = await scope.client('alice', wsTransport({ reconnectDelays: [0, 50], url: [wsOf(toA.url), b.wsUrl], WebSocket: recordingWebSocket(log) }), a.issueToken('alice'));
    const bob = await scope.client('bob', wsTransport({ reconnectDelays: [0, 50], url: b.wsUrl }), b.issueToken('bob'));
    const texts: string[] = [];
    bob.peerMessages$.subscribe(({ message }) => {
      if (message.messageType === 'TEXT') texts.push(message.text);
    });
    // Alice hears nothing more from A: A takes her message, delivers it, and its answer is lost with A.
    await toA.holdAfter(0, 'down');
    const sent = alice.sendMessageToPeer('bob', textMessage('answered by A'), { messageId: 'lost-answer-1' });
    await until(() => texts.includes('answered by A'), 5_000, 'the message at bob');
    await a.close();
    // B keeps no answer of A's; the hub knows the message ID, and answers as A did.
    expect(await sent).toEqual({ state: 'RECEIVED', messageId: 'lost-answer-1' });
    const resent = log.filter((socket) => socket.url.startsWith(b.wsUrl)).flatMap((socket) => callsOf(socket, 'sendToPeer'));
    expect(resent).toEqual(callsOf(log[0] as SocketLog, 'sendToPeer'));
    await alice.sendMessageToPeer('bob', textMessage('next'));
    await until(() => texts.includes('next'), 5_000, '"next" at bob');
    expect(texts).toEqual(['answered by A', 'next']);
  }, 30_000);

  it('leaves a first node that takes connections but never answers after NODE_ANSWER_MS, for the second', async () => {
    const nodes = await scope.twoNodes();
    const { a, b } = nodes;
    const silent = await scope.proxy(a.url);
    await silent.holdAfter(0, 'up');
    await silent.holdAfter(0, 'down');
    const started = Date.now();
    const alice = await scope.client('alice', wsTransport({ reconnectDelays: [0, 50], url: [wsOf(silent.url), b.wsUrl] }), b.issueToken('alice'));
    const waited = Date.now() - started;
    expect(waited).toBeGreaterThanOrEqual(NODE_ANSWER_MS - 50);
    expect(waited).toBeLessThan(NODE_ANSWER_MS + 3_000);
    expect(silent.connections).toBeGreaterThan(0);
    const data = bytesOf(100_000, 9);
    const message = await alice.createFileMessageByUploading(data).result;
    expect((await b.hub.mediaInfo(message.mediaId)).sha256).toBe(sha256(data));
  }, 30_000);

  it('stays on the node that works: a node back after a failure gets nothing until the one in use fails', async () => {
    const nodes = await scope.twoNodes();
    const { a, b } = nodes;
    const [toA, toB] = [await scope.proxy(a.url), await scope.proxy(b.url)];
    const alice = await scope.client('alice', wsTransport({ reconnectDelays: [0, 50], url: [wsOf(toA.url), wsOf(toB.url)] }), a.issueToken('alice'));
    const data = bytesOf(200_000, 8);
    toA.setDown(true);
    toA.cutAll();
    const first = await alice.createFileMessageByUploading(data).result;
    expect(toB.connections).toBeGreaterThan(0);
    toA.setDown(false);
    const seen = toA.connections;
    // B's socket is cut (not refused): the client reconnects to B, the node that works, not back to A.
    toB.cutAll();
    for (let i = 0; i < 3; i++) {
      const again = await alice.createFileMessageByUploading(data).result;
      expect(sha256(await alice.downloadMediaToMemory(again.mediaId).result)).toBe(sha256(data));
    }
    expect(sha256(await alice.downloadMediaToMemory(first.mediaId).result)).toBe(sha256(data));
    expect(toA.connections).toBe(seen);
    toB.setDown(true);
    toB.cutAll();
    const last = await alice.createFileMessageByUploading(data).result;
    expect(toA.connections).toBeGreaterThan(seen);
    expect((await a.hub.mediaInfo(last.mediaId)).sha256).toBe(sha256(data));
  }, 30_000);
});
