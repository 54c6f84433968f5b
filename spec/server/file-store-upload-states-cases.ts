/**
 * Decision 85 on the durable file store, for every implementation of `UploadStates`: a restart of a node
 * loses nothing: an unfinished upload resumes at its recorded offset with a hub whose upload states are
 * new (memory states are rebuilt from the store's records; Redis states outlive the node).
 * `file-store-upload-states.spec.ts` runs them on memory, `spec/cluster/redis-upload-states.spec.ts` on Redis.
 */
import { createHash } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, expect, it } from 'vitest';
import { type Clock, createHub, type Hub, type UploadStates, virtualClock } from '../../src/index.js';
import { type FileStore, fileStore } from '../../src/server/file-store.js';

const bytesOf = (size: number): Uint8Array => Uint8Array.from({ length: size }, (_, i) => (i * 31 + 7) & 0xff);
const sha256 = (bytes: Uint8Array): string => createHash('sha256').update(bytes).digest('hex');
async function* once(bytes: Uint8Array): AsyncIterable<Uint8Array> {
  yield bytes;
}
const readAll = async (hub: Hub, mediaId: string): Promise<Buffer> => {
  const parts: Uint8Array[] = [];
  for await (const chunk of hub.readMedia(mediaId, 0)) parts.push(chunk);
  return Buffer.concat(parts);
};

/** The upload states of one start of a node on `clock`: a new view each call, as a new process has. */
export type StatesOfStart = (clock: Clock) => UploadStates;

/**
 * Declares the cases (call inside a `describe`).
 * @example describe('memory', () => restartCases((clock) => memoryUploadStates({ clock })))
 */
export const restartCases = (statesOfStart: StatesOfStart): void => {
  const root = mkdtempSync(join(tmpdir(), 'ferry-upload-states-'));
  afterAll(() => rmSync(root, { recursive: true, force: true }));

  it('an unfinished upload resumes at its recorded offset with a hub whose states are new', async () => {
    const dataDir = join(root, 'resume');
    const clock = virtualClock(1_000);
    const content = bytesOf(50_000);
    const first: FileStore = await fileStore({ dataDir, now: clock.now });
    const before = createHub({ clock, store: first, uploads: statesOfStart(clock) });
    const { uploadId } = await before.createUpload('alice', { size: content.length, fileName: 'f.bin' });
    expect(await before.appendUpload('alice', uploadId, 0, once(content.subarray(0, 20_000)))).toMatchObject({ offset: 20_000 });
    before.close();
    await first.close();

    const second = await fileStore({ dataDir, now: clock.now });
    const after = createHub({ clock, store: second, uploads: statesOfStart(clock) });
    expect(await after.uploadStatus('alice', uploadId)).toMatchObject({ offset: 20_000, complete: false });
    expect(await after.appendUpload('alice', uploadId, 20_000, once(content.subarray(20_000)))).toMatchObject({ offset: 50_000, complete: true });
    expect((await after.mediaInfo(uploadId)).sha256).toBe(sha256(content));
    expect(Buffer.compare(await readAll(after, uploadId), content)).toBe(0);
    after.close();
    await second.close();
  });
};
