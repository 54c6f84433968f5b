/**
 * `ferry listen [--channel <id>…] [--save <dir>]`: prints messages from peers (and from the channels
 * joined) as they arrive; with `--save`, downloads every file and image into the folder under a safe,
 * unused name (`save.ts`). Runs until Ctrl-C (exit 130, after cancelling and cleaning up downloads) or
 * until the session is ended elsewhere (exit 1).
 * @module
 */
import { resolve } from 'node:path';
import { filter, map, merge, type Observable } from 'rxjs';
import type { Client } from '../client/client-api.js';
import type { Message } from '../core/messages.js';
import type { CommandContext } from './connect.js';
import { type ExitCodeValue, describeError, errorJson } from './exit.js';
import { describeMessage, jsonLine } from './format.js';
import { saveMedia } from './save.js';

/** Options of `ferry listen`. */
export interface ListenOptions {
  readonly channel?: readonly string[];
  readonly save?: string;
}

interface Arrival {
  readonly from: string;
  readonly channel: string | null;
  readonly message: Message;
  readonly serverReceivedTs: number;
}

/** Runs `ferry listen` as a logged-in client; resolves only if the session ends. */
export const listenCommand = async (client: Client, context: CommandContext, userId: string, options: ListenOptions): Promise<ExitCodeValue> => {
  const { reporter, json } = context;
  const folder = options.save === undefined ? undefined : resolve(options.save);
  const channels = (options.channel ?? []).map((id) => client.createChannel(id));
  const streams: Observable<Arrival>[] = [
    client.peerMessages$.pipe(map(({ peerId, message, serverReceivedTs }) => ({ from: peerId, channel: null, message, serverReceivedTs }))),
    ...channels.map((ch) =>
      ch.messages$.pipe(map(({ memberId, message, serverReceivedTs }) => ({ from: memberId, channel: ch.channelId, message, serverReceivedTs }))),
    ),
  ];
  for (const ch of channels) await ch.join();

  const onArrival = ({ from, channel, message, serverReceivedTs }: Arrival): void => {
    const where = channel === null ? `${from}` : `${from} in #${channel}`;
    reporter.out(json ? jsonLine('message', { from, channel, serverReceivedTs }, message) : `${where}: ${describeMessage(message)}`);
    if (!folder || (message.messageType !== 'FILE' && message.messageType !== 'IMAGE')) return;
    saveMedia(client, context, message.mediaId, folder, message.fileName).then(
      (path) => reporter.out(json ? jsonLine('saved', { mediaId: message.mediaId, path }) : `saved ${path}`),
      (error: unknown) => {
        if (!context.interruption.signal.aborted) reporter.note(json ? errorJson(error) : `ferry listen: ${message.mediaId}: ${describeError(error)}`);
      },
    );
  };
  const subscription = merge(...streams).subscribe(onArrival);
  // A lost link is told, and so is its return: the transport reconnects (and logs in afresh after a
  // server restart) by itself, and listening goes on; only an ended session stops it (below).
  let lost = false;
  subscription.add(
    client.connectionChange$.subscribe(({ state }) => {
      if (state === 'RECONNECTING' && !lost) {
        lost = true;
        reporter.note(json ? jsonLine('connection', { state: 'RECONNECTING' }) : 'connection to the server lost; reconnecting…');
      } else if (state === 'CONNECTED' && lost) {
        lost = false;
        reporter.note(json ? jsonLine('connection', { state: 'CONNECTED' }) : 'connected again; listening');
      }
    }),
  );

  const where = channels.length > 0 ? ` and in ${channels.map((ch) => `#${ch.channelId}`).join(', ')}` : '';
  const saving = folder ? `, saving files to ${folder}` : '';
  if (json) reporter.out(jsonLine('listening', { user: userId, channels: channels.map((ch) => ch.channelId), save: folder ?? null }));
  else reporter.note(`listening as ${userId}${where}${saving}; Ctrl-C to stop`);

  try {
    // Only a session the server ended stops listening from inside; a server restart is an interruption
    // the transport recovers from (RECONNECTING, then a fresh login), so it never gets here.
    const ended = await new Promise<string>((done) => {
      client.connectionChange$.pipe(filter(({ state }) => state === 'ABORTED' || state === 'DISCONNECTED')).subscribe(({ reason }) => done(reason));
    });
    throw new Error(endedBecause(userId, ended));
  } finally {
    subscription.unsubscribe();
  }
};

/** Why listening stopped, from the connection's reason. */
const endedBecause = (userId: string, reason: string): string => {
  switch (reason) {
    case 'REMOTE_LOGIN':
      return `the session of ${userId} was ended: the same user logged in elsewhere`;
    case 'TOKEN_EXPIRED':
      return `the session of ${userId} was ended: its token expired`;
    case 'BANNED_BY_SERVER':
      return `the session of ${userId} was ended by the server`;
    case 'LOGIN_FAILURE':
      return `the server refused to log ${userId} in again`;
    default:
      return 'disconnected from the server';
  }
};
