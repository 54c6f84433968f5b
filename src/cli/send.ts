/**
 * `ferry send <file…> (--to <peer> | --channel <id>) [--text <caption>]`: uploads every file at once (the
 * client runs nine at a time and queues the rest), then sends their messages in the order given, as each
 * upload completes. An image (JPEG, PNG, BMP, GIF, WebP by content) becomes an IMAGE message with its
 * width and height, and a thumbnail when one can be had without decoding (`thumbnail.ts`); anything else
 * a FILE message. The caption is each message's `description`.
 * @module
 */
import { open } from 'node:fs/promises';
import { resolve } from 'node:path';
import type { Client } from '../client/client-api.js';
import { baseName } from '../core/files.js';
import { IMAGE_PROBE_BYTES, probeImage } from '../client/image-probe.js';
import type { FileMessage, ImageMessage } from '../core/messages.js';
import type { Task } from '../client/task.js';
import { checkIdOption, type CommandContext } from './connect.js';
import { ExitCode, type ExitCodeValue, describeError, errorJson, UsageError } from './exit.js';
import { describeMessage, jsonLine } from './format.js';
import { exifThumbnail } from './thumbnail.js';

/** Options of `ferry send`. */
export interface SendOptions {
  readonly to?: string;
  readonly channel?: string;
  readonly text?: string;
}

/** Checks what can be checked before logging in or uploading: exactly one destination, a valid ID. */
export const checkSendOptions = (options: SendOptions): void => {
  if ((options.to === undefined) === (options.channel === undefined)) {
    throw new UsageError('give exactly one destination, --to <peer> or --channel <id>');
  }
  if (options.to !== undefined) checkIdOption('--to', options.to);
  if (options.channel !== undefined) checkIdOption('--channel', options.channel);
};

/** The first bytes of a file, or `undefined` if it cannot be read (the upload then reports why). */
const readHead = async (path: string): Promise<Uint8Array | undefined> => {
  try {
    const handle = await open(path, 'r');
    try {
      const buffer = new Uint8Array(IMAGE_PROBE_BYTES);
      const { bytesRead } = await handle.read(buffer, 0, buffer.length, 0);
      return buffer.subarray(0, bytesRead);
    } finally {
      await handle.close();
    }
  } catch {
    return undefined; // missing, unreadable or a folder: the client's upload fails with code 2, naming it
  }
};

/** Starts the upload of one file as an IMAGE or a FILE message. */
const startUpload = async (client: Client, path: string, options: SendOptions, signal: AbortSignal): Promise<Task<FileMessage | ImageMessage>> => {
  const common = { signal, ...(options.text === undefined ? {} : { description: options.text }) };
  const head = await readHead(path);
  const image = head ? probeImage(head) : undefined;
  if (!head || !image) return client.createFileMessageByUploading(path, common);
  const thumbnail = exifThumbnail(head);
  return client.createImageMessageByUploading(path, {
    ...common,
    width: image.width,
    height: image.height,
    ...(thumbnail ? { thumbnail: thumbnail.bytes, thumbnailWidth: thumbnail.width, thumbnailHeight: thumbnail.height } : {}),
  });
};

/** Runs `ferry send` as a logged-in client. */
export const sendCommand = async (client: Client, context: CommandContext, files: readonly string[], options: SendOptions): Promise<ExitCodeValue> => {
  const { reporter, interruption, json } = context;
  const channel = options.channel === undefined ? undefined : client.createChannel(options.channel);
  await channel?.join();
  const destination = channel ? `#${channel.channelId}` : (options.to as string);
  const uploads = [];
  for (const file of files) {
    const path = resolve(file);
    const task = await startUpload(client, path, options, interruption.signal);
    interruption.track(task.result);
    reporter.watch(task, baseName(path), 'upload');
    uploads.push({ file, task });
  }
  let failed = 0;
  for (const { file, task } of uploads) {
    try {
      const message = await task.result;
      await (channel ? channel.sendMessage(message) : client.sendMessageToPeer(destination, message));
      reporter.out(json ? jsonLine('sent', { file, to: options.to ?? null, channel: options.channel ?? null }, message) : `sent ${describeMessage(message)} to ${destination}`);
    } catch (error) {
      if (interruption.signal.aborted) throw error;
      failed += 1;
      reporter.note(json ? errorJson(error) : `ferry send: ${file}: ${describeError(error)}`);
    }
  }
  if (channel) await channel.leave().catch(() => undefined);
  return failed === 0 ? ExitCode.OK : ExitCode.FAILURE;
};
