/**
 * `ferry send <file…> (--to <peer> | --channel <id>) [--text <caption>] [--offline]`: uploads every file at
 * once (the client runs nine at a time and queues the rest), then sends their messages in the order given,
 * as each upload completes. An image (JPEG, PNG, BMP, GIF, WebP by content) becomes an IMAGE message with
 * its width and height, and a thumbnail when one can be had without decoding (`thumbnail.ts`); anything
 * else a FILE message. The caption is each message's `description`.
 *
 * To a peer, each result line says whether the peer received the message or the server keeps it for the
 * peer's next login. Without `--offline` a peer who is offline is refused before anything is uploaded (the
 * server would refuse the message after the upload); with it, the messages are sent with
 * `enableOfflineMessaging` and an offline peer gets them when it logs in.
 * @module
 */
import { open } from 'node:fs/promises';
import { resolve } from 'node:path';
import type { Client, PeerMessageSendResult } from '../client/client-api.js';
import { FerryError, PeerMessageErrorCode, toPublicError } from '../core/errors.js';
import { Failure } from '../core/failure.js';
import { baseName } from '../core/files.js';
import { IMAGE_PROBE_BYTES, probeImage } from '../client/image-probe.js';
import type { FileMessage, ImageMessage } from '../core/messages.js';
import type { PeerOnlineState } from '../core/states.js';
import type { Task } from '../client/task.js';
import { checkIdOption, type CommandContext } from './connect.js';
import { ExitCode, type ExitCodeValue, describeError, errorJson, UsageError, withHint } from './exit.js';
import { describeMessage, jsonLine } from './format.js';
import { exifThumbnail } from './thumbnail.js';

/** Options of `ferry send`. */
export interface SendOptions {
  readonly to?: string;
  readonly channel?: string;
  readonly text?: string;
  /** Send with `enableOfflineMessaging`: an offline peer's messages are kept by the server for its next login. */
  readonly offline?: boolean;
}

/**
 * Checks what can be checked before logging in or uploading: exactly one destination, a valid ID,
 * `--offline` only to a peer.
 */
export const checkSendOptions = (options: SendOptions): void => {
  if ((options.to === undefined) === (options.channel === undefined)) {
    throw new UsageError('give exactly one destination, --to <peer> or --channel <id>');
  }
  if (options.offline === true && options.channel !== undefined) {
    throw new UsageError('--offline is for a peer (--to): the server keeps messages for an offline peer, while a channel message reaches only the members in it');
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

/** What to do about an offline peer: the hint added to its refusal. */
const offlineHint = (peerId: string, uploaded: boolean): string =>
  `${uploaded ? '' : 'nothing was uploaded; '}pass --offline to have the server keep it until ${peerId} logs in`;

/**
 * Without `--offline`: asks whether `peerId` is online before anything is uploaded, and refuses an
 * OFFLINE one as the server would refuse its message (peer code 3, exit 1). UNREACHABLE passes: its
 * session is within its grace time and gets the message when its link is back. A query that fails (a
 * server without presence, more than 10 queries in 5 s) is told and leaves the decision to the send.
 * @throws {PeerMessageError} code 3 when the peer is offline.
 */
const refuseOfflinePeer = async (client: Client, context: CommandContext, peerId: string): Promise<void> => {
  let state: PeerOnlineState | undefined;
  try {
    state = (await client.queryPeersOnlineStatus([peerId]))[peerId];
  } catch (error) {
    if (!context.json) context.reporter.note(`could not ask whether ${peerId} is online (${describeError(error)}); sending anyway`);
    return;
  }
  if (state === 'OFFLINE') throw withHint(toPublicError('peerSend', Failure.peerUnreachable(peerId)), offlineHint(peerId, false));
};

/** The end of a peer's result line: who has the message now. */
const whereItWent = (peerId: string, { state }: PeerMessageSendResult): string =>
  state === 'RECEIVED' ? `received by ${peerId}` : `${peerId} is offline; kept by the server until ${peerId} logs in`;

/** Runs `ferry send` as a logged-in client. */
export const sendCommand = async (client: Client, context: CommandContext, files: readonly string[], options: SendOptions): Promise<ExitCodeValue> => {
  const { reporter, interruption, json } = context;
  const offline = options.offline === true;
  if (options.to !== undefined && !offline) await refuseOfflinePeer(client, context, options.to);
  const channel = options.channel === undefined ? undefined : client.createChannel(options.channel);
  await channel?.join();
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
      const fields = { file, to: options.to ?? null, channel: options.channel ?? null };
      if (channel) {
        const { messageId } = await channel.sendMessage(message);
        reporter.out(json ? jsonLine('sent', { ...fields, messageId, state: null }, message) : `sent ${describeMessage(message)} to #${channel.channelId}`);
      } else {
        const peerId = options.to as string;
        const sent = await client.sendMessageToPeer(peerId, message, offline ? { enableOfflineMessaging: true } : {});
        reporter.out(
          json
            ? jsonLine('sent', { ...fields, messageId: sent.messageId, state: sent.state }, message)
            : `sent ${describeMessage(message)} to ${peerId}: ${whereItWent(peerId, sent)}`,
        );
      }
    } catch (error) {
      if (interruption.signal.aborted) throw error;
      failed += 1;
      // The peer went offline after the check (or it could not be made): the upload is done, the way on is --offline.
      const unreachable = error instanceof FerryError && error.operation === 'peerSend' && error.code === PeerMessageErrorCode.PEER_UNREACHABLE;
      if (unreachable && !offline && options.to !== undefined) withHint(error, offlineHint(options.to, true));
      reporter.note(json ? errorJson(error) : `ferry send: ${file}: ${describeError(error)}`);
    }
  }
  if (channel) await channel.leave().catch(() => undefined);
  return failed === 0 ? ExitCode.OK : ExitCode.FAILURE;
};
