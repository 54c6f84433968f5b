/**
 * `kill -9` of the server process in the middle of an upload, then a restart on the same data folder:
 * completed media is intact and downloadable, nothing partial is downloadable, and the partial upload
 * resumes from its durable offset (HEAD) to completion with the right bytes. A real client's upload and
 * download in flight at the kill resume once the server is back.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { createHash } from 'node:crypto';
import { mkdtempSync, readdirSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { createClient, createHub, type Task } from '../../src/index.js';
import { httpTransport } from '../../transports/http.js';
import { OFFSET_STREAM, send, tus } from './http-support.js';

const root = new URL('../..', import.meta.url).pathname;
const SECRET = 'kill-test-secret';
const MiB = 1024 * 1024;

/** Starts `npm start`'s entry as a child on `port` (any free one by default); resolves with its URL once it listens. */
const launch = (dataDir: string, port = 0): Promise<{ child: ChildProcess; url: string }> =>
  new Promise((resolve, reject) => {
    const child = spawn(process.execPath, ['--import', 'tsx', join(root, 'src/cli/serve-main.ts')], {
      cwd: root,
      env: { ...process.env, FERRY_DATA_DIR: dataDir, PORT: String(port), FERRY_SECRET: SECRET },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let out = '';
    const timer = setTimeout(() => reject(new Error(`server did not start: ${out}`)), 20_000);
    child.stdout?.on('data', (chunk: Buffer) => {
      out += chunk.toString();
      const url = /listening on (http:\/\/\S+)/.exec(out)?.[1];
      if (url) {
        clearTimeout(timer);
        resolve({ child, url });
      }
    });
    child.stderr?.on('data', (chunk: Buffer) => {
      out += chunk.toString();
    });
    child.on('exit', (code) => {
      clearTimeout(timer);
      reject(new Error(`server exited (${code}): ${out}`));
    });
  });

const killed = (child: ChildProcess): Promise<void> =>
  new Promise((resolve) => {
    child.removeAllListeners('exit');
    child.once('exit', () => resolve());
    child.kill('SIGKILL');
  });

const sha = (data: Uint8Array): string => createHash('sha256').update(data).digest('hex');

/** Once `task` has moved some bytes and not all, kills `server` and starts it again on `port`. */
const restartMidway = async (task: Task<unknown>, server: { child: ChildProcess }, dataDir: string, port: number): Promise<{ child: ChildProcess; url: string }> => {
  await new Promise<void>((resolve) => {
    const subscription = task.progress$.subscribe((progress) => {
      if (progress.currentSize > 0 && progress.currentSize < progress.totalSize) {
        subscription.unsubscribe();
        resolve();
      }
    });
  });
  await killed(server.child);
  return launch(dataDir, port);
};
const pattern = (size: number, seed: number): Buffer => {
  const out = Buffer.alloc(size);
  for (let i = 0; i < size; i++) out[i] = (i * 7 + seed) & 0xff;
  return out;
};

describe('kill -9 mid-upload', () => {
  let child: ChildProcess | undefined;
  afterEach(async () => {
    if (child && child.exitCode === null) await killed(child);
  });

  it('keeps completed media, shows nothing partial, and resumes the partial upload after a restart', async () => {
    const dataDir = mkdtempSync(join(tmpdir(), 'ferry-kill-'));
    const token = createHub({ secret: SECRET }).issueToken('alice');
    let server = await launch(dataDir);
    child = server.child;

    // A complete upload, before the crash.
    const done = pattern(2 * MiB, 1);
    const created = await send(`${server.url}/v1/uploads`, {
      method: 'POST',
      headers: tus(token, { 'Upload-Length': String(done.length), ...OFFSET_STREAM }),
      body: done,
    });
    expect(created.status).toBe(201);
    const doneId = String(created.headers.location).split('/').at(-1) as string;

    // A partial upload whose bytes are still streaming when the process is killed.
    const partial = pattern(6 * MiB, 2);
    const started = await send(`${server.url}/v1/uploads`, { method: 'POST', headers: tus(token, { 'Upload-Length': String(partial.length) }) });
    const partialUrl = String(started.headers.location);
    const partialId = partialUrl.split('/').at(-1) as string;
    let sent = 0;
    const streaming = send(partialUrl, {
      method: 'PATCH',
      headers: tus(token, { 'Upload-Offset': '0', ...OFFSET_STREAM }),
      body: (async function* () {
        for (let at = 0; at < 4 * MiB; at += 256 * 1024) {
          sent += 256 * 1024;
          yield partial.subarray(at, at + 256 * 1024);
          await new Promise((resolve) => setTimeout(resolve, 5));
        }
        await new Promise(() => undefined); // stall: the crash comes before the rest
      })(),
    }).catch((error: unknown) => error);
    while (sent < 3 * MiB) await new Promise((resolve) => setTimeout(resolve, 10));
    await killed(server.child);
    await streaming;

    server = await launch(dataDir);
    child = server.child;
    const auth = tus(token);
    const kept = await send(`${server.url}/v1/media/${doneId}`, { headers: auth });
    expect(kept.status).toBe(200);
    expect(sha(kept.body)).toBe(sha(done));
    expect((await send(`${server.url}/v1/media/${partialId}`, { headers: auth })).status).toBe(404);

    const head = await send(partialUrl.replace(/^http:\/\/[^/]+/, server.url), { method: 'HEAD', headers: auth });
    expect(head.status).toBe(200);
    const offset = Number(head.headers['upload-offset']);
    expect(offset).toBeGreaterThanOrEqual(0);
    expect(offset).toBeLessThanOrEqual(sent);
    const rest = await send(`${server.url}/v1/uploads/${partialId}`, {
      method: 'PATCH',
      headers: tus(token, { 'Upload-Offset': String(offset), ...OFFSET_STREAM }),
      body: partial.subarray(offset),
    });
    expect(rest.status).toBe(204);
    const whole = await send(`${server.url}/v1/media/${partialId}`, { headers: auth });
    expect(whole.status).toBe(200);
    expect(sha(whole.body)).toBe(sha(partial));
  }, 60_000);

  it('a client’s upload in flight when the server is killed resumes after the restart and completes (decision 139)', async () => {
    const dataDir = mkdtempSync(join(tmpdir(), 'ferry-kill-'));
    let server = await launch(dataDir);
    child = server.child;
    const port = Number(new URL(server.url).port);
    const client = createClient({ transport: httpTransport({ url: server.url }) });
    const minter = createHub({ secret: SECRET });
    await client.login({ userId: 'alice', token: minter.issueToken('alice') });
    minter.close();
    const bytes = pattern(30 * MiB, 3);
    const task = client.createFileMessageByUploading(bytes, { fileName: 'big.bin' });
    // Killed once the first window is acknowledged: the next PATCH is streaming.
    server = await restartMidway(task, server, dataDir, port);
    child = server.child;
    // Its retries carry the session the dead server opened: they resume the upload instead of ending it
    // with "the session ended" (code 6) while the client logs in afresh.
    const message = await task.result;
    expect(message).toMatchObject({ size: bytes.length, fileName: 'big.bin' });
    const stored = await client.downloadMediaToMemory(message.mediaId).result;
    expect(sha(stored)).toBe(sha(bytes));
    await client.logout();
  }, 60_000);

  it('a download to a file in flight when the server is killed resumes after the restart, and leaves only the file', async () => {
    const dataDir = mkdtempSync(join(tmpdir(), 'ferry-kill-'));
    const folder = mkdtempSync(join(tmpdir(), 'ferry-kill-download-'));
    let server = await launch(dataDir);
    child = server.child;
    const port = Number(new URL(server.url).port);
    const minter = createHub({ secret: SECRET });
    const uploader = createClient({ transport: httpTransport({ url: server.url }) });
    await uploader.login({ userId: 'alice', token: minter.issueToken('alice') });
    const bytes = pattern(10 * MiB, 4);
    const { mediaId } = await uploader.createFileMessageByUploading(bytes).result;
    await uploader.logout();
    // A reader that takes a media body's chunks slowly, so the download is still running at the kill.
    const slowly: typeof fetch = async (input, init) => {
      const answer = await fetch(input, init);
      if (!String(input).includes('/v1/media/') || (init?.method ?? 'GET') !== 'GET' || !answer.body) return answer;
      const reader = answer.body.getReader();
      const body = new ReadableStream<Uint8Array>({
        async pull(controller) {
          await new Promise((resolve) => setTimeout(resolve, 10));
          const { done, value } = await reader.read();
          if (done) controller.close();
          else controller.enqueue(value);
        },
        cancel: (reason) => reader.cancel(reason),
      });
      return new Response(body, { status: answer.status, statusText: answer.statusText, headers: answer.headers });
    };
    const client = createClient({ transport: httpTransport({ url: server.url, fetch: slowly }) });
    await client.login({ userId: 'bob', token: minter.issueToken('bob') });
    minter.close();
    const target = join(folder, 'copy.bin');
    const task = client.downloadMediaToFile(mediaId, target);
    server = await restartMidway(task, server, dataDir, port);
    child = server.child;
    await task.result;
    expect(sha(readFileSync(target))).toBe(sha(bytes));
    expect(readdirSync(folder)).toEqual(['copy.bin']);
    await client.logout();
  }, 60_000);
});
