/**
 * `ferry get <mediaId> [-o <file>]`: downloads by media ID, verified by SHA-256. `-o <file>` writes the
 * file atomically (nothing at the path unless the whole verified file); `-o -` writes the bytes to
 * stdout only once verified; without `-o`, a file in the current folder named after the media's file name
 * (the name the server offers, reduced again by `safeFileName`: a hostile sender cannot name a path outside
 * the folder), under the next free name (`name (1).ext`) when that one is taken, or replacing it with
 * `--force` (decision 108). An existing file at `-o` is replaced only with `--force`.
 * @module
 */
import { stat } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import type { Client } from '../client/client-api.js';
import { baseName } from '../core/files.js';
import type { CommandContext } from './connect.js';
import { ExitCode, type ExitCodeValue, UsageError } from './exit.js';
import { formatBytes, jsonLine } from './format.js';
import { safeFileName, saveMedia } from './save.js';

/** Writes all of `bytes` and waits until the stream has taken them. */
const writeOut = (stream: NodeJS.WritableStream, bytes: Uint8Array): Promise<void> =>
  new Promise((done, fail) => {
    stream.write(bytes, (error) => (error ? fail(error) : done()));
  });

/**
 * Refuses to download over an existing file unless `--force` was given (checked before logging in; a
 * file created at the path during the download is still replaced atomically by the verified one).
 * @throws {UsageError} when something is at `output`.
 */
export const refuseExisting = async (output: string): Promise<void> => {
  const path = resolve(output);
  const found = await stat(path).then(
    (stats) => stats,
    () => undefined,
  );
  if (found) throw new UsageError(`-o ${JSON.stringify(output)}: ${found.isDirectory() ? 'is a folder' : 'the file exists'}; pass --force to replace it`);
};

/** Downloads `mediaId` to `path` (atomically replacing what is there), showing progress under `label`. */
const downloadTo = async (client: Client, context: CommandContext, mediaId: string, path: string): Promise<string> => {
  const task = client.downloadMediaToFile(mediaId, path, { signal: context.interruption.signal });
  context.interruption.track(task.result);
  context.reporter.watch(task, baseName(path), 'download');
  await task.result;
  return path;
};

/** Runs `ferry get` as a logged-in client; `force` replaces an existing file of the chosen name. */
export const getCommand = async (
  client: Client,
  context: CommandContext,
  mediaId: string,
  output: string | undefined,
  force = false,
): Promise<ExitCodeValue> => {
  const { reporter, interruption, io, json } = context;
  const signal = interruption.signal;
  if (output === '-') {
    const task = client.downloadMediaToMemory(mediaId, { signal });
    interruption.track(task.result);
    reporter.watch(task, mediaId, 'download');
    await writeOut(io.stdout, await task.result);
    return ExitCode.OK;
  }
  let path: string;
  if (output === undefined) {
    const name = safeFileName((await interruption.track(client.getMediaInfo(mediaId))).fileName, mediaId);
    path = force ? await downloadTo(client, context, mediaId, join(process.cwd(), name)) : await saveMedia(client, context, mediaId, process.cwd(), name);
  } else {
    path = await downloadTo(client, context, mediaId, resolve(output));
  }
  const { size } = await stat(path);
  reporter.out(json ? jsonLine('saved', { mediaId, path, size }) : `saved ${path} (${formatBytes(size)})`);
  return ExitCode.OK;
};
