/**
 * kill -9 in the middle of an append: a child process appends 16 MiB to the S3 store and is killed once
 * 10 MiB were acknowledged; a store in this process finds the offset in S3 alone, continues from there and
 * completes with the right SHA-256 (read back, since it saw none of the first bytes).
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import type { S3Client } from '@aws-sdk/client-s3';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { s3Store } from '../../src/cluster/s3-store.js';
import { describeWithServices } from './services.js';
import { ensureTestBucket, freshPrefix, killedUpload, MiB, newId, rawClient, readAll, removeUnder, sha256 } from './s3-support.js';

const child = fileURLToPath(new URL('./s3-append-child.ts', import.meta.url));

/** Resolves with the first line of the child's output that `accept` takes; rejects if the child ends first. */
const lineOf = (process: ChildProcess, accept: (line: string) => boolean): Promise<string> =>
  new Promise((resolve, reject) => {
    const lines = createInterface({ input: process.stdout! });
    lines.on('line', (line) => {
      if (!accept(line)) return;
      lines.close();
      resolve(line);
    });
    process.once('exit', (code, signal) => reject(new Error(`the child ended (${code ?? signal}) before the line`)));
  });

describeWithServices('the S3 store after kill -9', ['s3'], ({ s3 }) => {
  let raw: S3Client;
  const prefix = freshPrefix();
  beforeAll(async () => {
    raw = rawClient(s3);
    await ensureTestBucket(raw, s3.bucket);
  });
  afterAll(async () => {
    await removeUnder(raw, s3.bucket, prefix);
    raw.destroy();
  });

  it('continues, in another process, an upload whose process was killed mid-append, from the offset S3 holds', async () => {
    const id = newId();
    const appender = spawn(process.execPath, ['--import', 'tsx', child, prefix, id], {
      env: { ...process.env, AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED: 'true' },
      stdio: ['ignore', 'pipe', 'inherit'],
    });
    const exited = new Promise<NodeJS.Signals | null>((resolve) => appender.once('exit', (_code, signal) => resolve(signal)));
    try {
      await lineOf(appender, (line) => line === `acknowledged ${10 * MiB}`);
    } finally {
      appender.kill('SIGKILL');
    }
    expect(await exited).toBe('SIGKILL');

    const store = s3Store({ ...s3, prefix });
    try {
      const entry = await store.stat(id);
      // Whatever was acknowledged is there; a part in flight at the kill may or may not have made it.
      expect(entry).toMatchObject({ state: 'partial' });
      const offset = entry?.state === 'partial' ? entry.offset : -1;
      expect(offset).toBeGreaterThanOrEqual(10 * MiB);
      expect(offset % (5 * MiB)).toBe(0);
      expect(offset).toBeLessThan(killedUpload.size);
      const now = () => Date.now();
      expect(await store.append(id, offset, killedUpload.chunks(offset), { now })).toBe(killedUpload.size);
      const expected = sha256(killedUpload.bytes());
      expect((await store.complete(id, now())).sha256).toBe(expected);
      expect(sha256(await readAll(store, id))).toBe(expected);
    } finally {
      await store.close();
    }
  });
});
