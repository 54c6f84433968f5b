/**
 * `ferry listen [--channel <id>…] [--save <dir>]`: prints messages from peers (and from the channels
 * joined) as they arrive; with `--save`, downloads every file and image into the folder under a safe,
 * unused name (`save.ts`). Messages the server kept while this user was offline arrive first, at login,
 * and are shown as such (`(sent while you were offline, 14:02)`; `isOfflineMessage` in `--json`). Runs
 * until Ctrl-C (exit 130, after cancelling and cleaning up downloads; SIGTERM and SIGHUP the same way) or
 * until the session is ended elsewhere (exit 1).
 * @module
 */
import { resolve } from 'node:path';
import { filter, map, merge, type Observable, Subscription, type Unsubscribable } from 'rxjs';
import type { Client } from '../client/client-api.js';
import type { Message } from '../core/messages.js';
import type { CommandContext } from './connect.js';
import { type ExitCodeValue, describeError, errorJson } from './exit.js';
import { describeMessage, formatSentAt, jsonLine } from './format.js';
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
  readonly messageId: string;
  readonly isOfflineMessage: boolean;
}

/**
 * Messages held until the `listening` line is out, so that it comes first even when offline messages
 * arrive with the login. Past this many (the server keeps at most 200 per receiver), they are shown at once.
 */
const MAX_HELD = 256;

/** `ferry listen` in its two steps: what it hears from before the login, and what it does after. */
export interface ListenCommand {
  /** Subscribes to peer messages before the login, which is when the server delivers the offline ones. */
  readonly beforeLogin: (client: Client, context: CommandContext) => Unsubscribable;
  /** Joins the channels, says it is listening, and shows messages until the session ends. */
  readonly run: (client: Client, context: CommandContext) => Promise<ExitCodeValue>;
}

/** `ferry listen` as user `userId`: give both steps to `runAsClient`. */
export const listenCommand = (userId: string, options: ListenOptions): ListenCommand => {
  const folder = options.save === undefined ? undefined : resolve(options.save);
  const arrivals = new Subscription();
  /** Arrivals not shown yet; `undefined` once the `listening` line is out. */
  let held: Arrival[] | undefined = [];
  let show: ((arrival: Arrival) => void) | undefined;
  const release = (): void => {
    const pending = held ?? [];
    held = undefined;
    for (const arrival of pending) show?.(arrival);
  };
  const arrive = (arrival: Arrival): void => {
    if (held === undefined) return show?.(arrival);
    held.push(arrival);
    if (held.length > MAX_HELD) release();
  };

  const showing = (client: Client, context: CommandContext) => {
    const { reporter, json } = context;
    return ({ from, channel, message, serverReceivedTs, messageId, isOfflineMessage }: Arrival): void => {
      const where = channel === null ? `${from}` : `${from} in #${channel}`;
      const offline = isOfflineMessage ? ` (sent while you were offline, ${formatSentAt(serverReceivedTs, Date.now())})` : '';
      reporter.out(
        json
          ? jsonLine('message', { from, channel, serverReceivedTs, messageId, isOfflineMessage }, message)
          : `${where}: ${describeMessage(message)}${offline}`,
      );
      if (!folder || (message.messageType !== 'FILE' && message.messageType !== 'IMAGE')) return;
      saveMedia(client, context, message.mediaId, folder, message.fileName).then(
        (path) => reporter.out(json ? jsonLine('saved', { mediaId: message.mediaId, path }) : `saved ${path}`),
        (error: unknown) => {
          if (!context.interruption.signal.aborted) reporter.note(json ? errorJson(error) : `ferry listen: ${message.mediaId}: ${describeError(error)}`);
        },
      );
    };
  };

  return {
    beforeLogin: (client, context) => {
      show = showing(client, context);
      arrivals.add(
        client.peerMessages$.subscribe(({ peerId, message, serverReceivedTs, messageId, isOfflineMessage }) =>
          arrive({ from: peerId, channel: null, message, serverReceivedTs, messageId, isOfflineMessage }),
        ),
      );
      return arrivals;
    },
    run: async (client, context) => {
      const { reporter, json } = context;
      const channels = (options.channel ?? []).map((id) => client.createChannel(id));
      const fromChannels: Observable<Arrival>[] = channels.map((ch) =>
        ch.messages$.pipe(
          map(({ memberId, message, serverReceivedTs, messageId }) => ({ from: memberId, channel: ch.channelId, message, serverReceivedTs, messageId, isOfflineMessage: false })),
        ),
      );
      // Subscribed before joining, so that nothing said in a channel right after the join is missed.
      arrivals.add(merge(...fromChannels).subscribe(arrive));
      for (const ch of channels) await ch.join();
      // A lost link is told, and so is its return: the transport reconnects (and logs in afresh after a
      // server restart) by itself, and listening goes on; only an ended session stops it (below). Each line
      // names the connection's reason (`INTERRUPTED`, `LOGIN_SUCCESS`: the client's `connectionChange$`).
      let lost = false;
      arrivals.add(
        client.connectionChange$.subscribe(({ state, reason }) => {
          if (state === 'RECONNECTING' && !lost) {
            lost = true;
            reporter.note(json ? jsonLine('connection', { state, reason }) : `connection to the server lost (${reason}); reconnecting…`);
          } else if (state === 'CONNECTED' && lost) {
            lost = false;
            reporter.note(json ? jsonLine('connection', { state, reason }) : `connected again (${reason}); listening`);
          }
        }),
      );

      const where = channels.length > 0 ? ` and in ${channels.map((ch) => `#${ch.channelId}`).join(', ')}` : '';
      const saving = folder ? `, saving files to ${folder}` : '';
      if (json) reporter.out(jsonLine('listening', { user: userId, channels: channels.map((ch) => ch.channelId), save: folder ?? null }));
      else reporter.note(`listening as ${userId}${where}${saving}; Ctrl-C to stop`);
      release();

      // Only a session the server ended stops listening from inside; a server restart is an interruption
      // the transport recovers from (RECONNECTING, then a fresh login), so it never gets here.
      const ended = await new Promise<string>((done) => {
        arrivals.add(client.connectionChange$.pipe(filter(({ state }) => state === 'ABORTED' || state === 'DISCONNECTED')).subscribe(({ reason }) => done(reason)));
      });
      throw new Error(endedBecause(userId, ended));
    },
  };
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
