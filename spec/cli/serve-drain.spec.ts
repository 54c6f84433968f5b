/**
 * `ferry serve` in production terms (issue 12, "Operating it"): the real command as a child process,
 * JSON logs on stdout at the level asked, and SIGTERM draining it — an upload stalled mid-way keeps its
 * bytes across a restart, and the process exits 0 within the drain time given.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { bytesOf, create, eventually, OFFSET_STREAM, send, tus } from '../server/http-support.js';
import { type Ferry, ferry, killLeftovers } from './support.js';

const work = mkdtempSync(join(tmpdir(), 'ferry-serve-drain-'));
afterAll(() => {
  killLeftovers();
  rmSync(work, { recursive: true, force: true });
});

const serve = async (dataDir: string, extra: readonly string[] = []): Promise<{ process: Ferry; url: string }> => {
  const process = ferry(['serve', '--port', '0', '--data-dir', dataDir, ...extra]);
  const url = (await process.waitFor('stdout', /listening on (http:\/\/[\d.:]+)/))[1] as string;
  return { process, url };
};

/** The JSON log lines of a process's stdout (the human banner lines are skipped). */
const logLines = (stdout: string): Record<string, unknown>[] =>
  stdout
    .split('\n')
    .filter((line) => line.startsWith('{'))
    .map((line) => JSON.parse(line) as Record<string, unknown>);

const receivedBytes = async (url: string): Promise<number> => {
  const text = (await send(`${url}/metrics`)).body.toString();
  return Number(/^ferry_received_bytes_total (\S+)$/m.exec(text)?.[1] ?? 0);
};

describe('ferry serve, operated', () => {
  it('drains on SIGTERM: exit 0 within the drain time, and a stalled upload keeps its bytes across a restart', async () => {
    const dataDir = join(work, 'data');
    const drainMs = 1_000;
    const first = await serve(dataDir, ['--drain-timeout', String(drainMs)]);
    const minted = ferry(['token', 'ivan', '--data-dir', dataDir]);
    const token = (await minted.exited).stdout.trim();
    expect(token).not.toBe('');

    const server = { uploadsUrl: `${first.url}/v1/uploads` } as Parameters<typeof create>[0];
    const location = await create(server, token, 2_000_000);
    const sent = bytesOf(700_000, 9);
    let release = (): void => undefined;
    const held = new Promise<void>((resolve) => {
      release = resolve;
    });
    const patching = send(location, {
      method: 'PATCH',
      headers: tus(token, { ...OFFSET_STREAM, 'Upload-Offset': '0' }),
      body: (async function* () {
        yield sent;
        await held; // mid-way: the rest never comes
      })(),
    }).catch((error: unknown) => error);
    await eventually(async () => (await receivedBytes(first.url)) === sent.length);

    const signalledAt = Date.now();
    first.process.child.kill('SIGTERM');
    const run = await first.process.exited;
    const took = Date.now() - signalledAt;
    release();
    expect(run.code).toBe(0);
    expect(took).toBeGreaterThanOrEqual(drainMs - 50); // the upload in flight was given its time
    expect(took).toBeLessThan(drainMs + 4_000); // and the process did not outlive the bound
    expect(await patching).toBeInstanceOf(Error);
    const messages = logLines(run.stdout).map((line) => line.msg);
    expect(messages).toEqual(expect.arrayContaining(['listening', 'draining', 'drain timeout: aborting what still runs', 'closed']));
    expect(run.stdout).not.toContain(token);

    const second = await serve(dataDir);
    const head = await send(location.replace(first.url, second.url), { method: 'HEAD', headers: tus(token) });
    expect(head.status).toBe(200);
    expect(head.headers['upload-offset']).toBe(String(sent.length));
    second.process.child.kill('SIGTERM');
    expect((await second.process.exited).code).toBe(0);
  });

  it('logs at the level asked (--log-level, FERRY_LOG_LEVEL) and refuses an unknown one', async () => {
    const quiet = await serve(join(work, 'quiet'), ['--log-level', 'warn']);
    expect((await send(`${quiet.url}/healthz`)).status).toBe(200);
    quiet.process.child.kill('SIGINT');
    const quietRun = await quiet.process.exited;
    expect(quietRun.code).toBe(0);
    expect(logLines(quietRun.stdout)).toEqual([]);

    const chatty = ferry(['serve', '--port', '0', '--data-dir', join(work, 'chatty')], { env: { FERRY_LOG_LEVEL: 'debug' } });
    const url = (await chatty.waitFor('stdout', /listening on (http:\/\/[\d.:]+)/))[1] as string;
    expect((await send(`${url}/readyz`, { headers: { 'X-Request-Id': 'probe-7' } })).status).toBe(200);
    await chatty.waitFor('stdout', /"reqId":"probe-7"/);
    chatty.child.kill('SIGTERM');
    const chattyRun = await chatty.exited;
    expect(chattyRun.code).toBe(0);
    expect(logLines(chattyRun.stdout).find((line) => line.reqId === 'probe-7')).toMatchObject({ level: 20, path: '/readyz', status: 200 });

    const wrong = ferry(['serve', '--port', '0', '--data-dir', join(work, 'wrong'), '--log-level', 'loud']);
    const wrongRun = await wrong.exited;
    expect(wrongRun.code).toBe(2);
    expect(wrongRun.stderr).toMatch(/--log-level "loud": expected one of fatal, error, warn, info, debug, trace, silent/);
  });

  it('takes limits from --limit and FERRY_LIMITS, and refuses a bad one with exit 2 naming it', async () => {
    const dataDir = join(work, 'limited');
    const limited = await serve(dataDir, ['--limit', 'storedBytes=1KiB', '--limit', 'messageRate=2/60000']);
    const token = (await ferry(['token', 'ivan', '--data-dir', dataDir]).exited).stdout.trim();
    const over = await send(`${limited.url}/v1/uploads`, { method: 'POST', headers: tus(token, { 'Upload-Length': '1025' }) });
    expect(over.status).toBe(413);
    expect(over.failure()).toMatchObject({ _tag: 'QuotaExceeded', quota: 1024 });
    expect((await send(`${limited.url}/v1/uploads`, { method: 'POST', headers: tus(token, { 'Upload-Length': '1024' }) })).status).toBe(201);
    limited.process.child.kill('SIGTERM');
    expect((await limited.process.exited).code).toBe(0);

    const fromEnv = ferry(['serve', '--port', '0', '--data-dir', join(work, 'env-limited')], { env: { FERRY_LIMITS: 'unfinishedUploads=1,joinRate=off' } });
    const url = (await fromEnv.waitFor('stdout', /listening on (http:\/\/[\d.:]+)/))[1] as string;
    const envToken = (await ferry(['token', 'ivan', '--data-dir', join(work, 'env-limited')]).exited).stdout.trim();
    expect((await send(`${url}/v1/uploads`, { method: 'POST', headers: tus(envToken, { 'Upload-Length': '5' }) })).status).toBe(201);
    expect((await send(`${url}/v1/uploads`, { method: 'POST', headers: tus(envToken, { 'Upload-Length': '5' }) })).status).toBe(429);
    fromEnv.child.kill('SIGTERM');
    expect((await fromEnv.exited).code).toBe(0);

    for (const [setting, complaint] of [
      ['storedBytes=lots', /storedBytes="lots": expected a whole number/],
      ['colour=blue', /expected <name>=<value> with a name among/],
      ['messageRate=0/3000', /limits\.messageRate must be/],
    ] as const) {
      const run = await ferry(['serve', '--port', '0', '--data-dir', join(work, 'bad-limit'), '--limit', setting]).exited;
      expect(run.code).toBe(2);
      expect(run.stderr).toMatch(complaint);
    }
  });
});
