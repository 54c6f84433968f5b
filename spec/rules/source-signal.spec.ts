/**
 * Decision 121: the memory transport hands the hub an upload's source chunks without a generator of its
 * own when no gate paces them, so every opened source checks the signal before each chunk itself, a
 * path's too, whatever the injected `FileAccess` does with the signal.
 */
import { describe, expect, it } from 'vitest';
import { openSource } from '../../src/client/sources.js';
import type { FileAccess } from '../../src/core/files.js';
import { failureOf } from '../../src/core/failure.js';

/** File access whose reads ignore the signal: ten chunks of 4 bytes, whatever happens. */
const deafFiles: FileAccess = {
  stat: async () => ({ size: 40 }),
  async *read() {
    for (let i = 0; i < 10; i++) yield new Uint8Array(4).fill(i);
  },
  createSink: () => Promise.reject(new Error('not used')),
};

/** Reads chunks until the signal aborts after `abortAfter` of them; resolves with what was read and how it ended. */
const readUntilAbort = async (source: string | Uint8Array, abortAfter: number): Promise<{ readonly read: number; readonly tag: string }> => {
  const opened = await openSource(source, async () => deafFiles);
  const controller = new AbortController();
  let read = 0;
  try {
    for await (const _chunk of opened.chunks(0, 4, controller.signal)) {
      read++;
      if (read === abortAfter) controller.abort(new Error('stop'));
    }
    return { read, tag: 'ended' };
  } catch (error) {
    return { read, tag: failureOf(error)._tag };
  }
};

describe('opened sources check the signal before each chunk', () => {
  it('a path whose file access ignores the signal stops with Interrupted at the next chunk', async () => {
    await expect(readUntilAbort('/data/file.bin', 3)).resolves.toEqual({ read: 3, tag: 'Interrupted' });
  });

  it('bytes stop with Interrupted at the next chunk', async () => {
    await expect(readUntilAbort(new Uint8Array(40), 2)).resolves.toEqual({ read: 2, tag: 'Interrupted' });
  });

  it('a path read to its end without an abort yields every chunk', async () => {
    await expect(readUntilAbort('/data/file.bin', 0)).resolves.toEqual({ read: 10, tag: 'ended' });
  });
});
