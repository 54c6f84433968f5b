/**
 * The demo page (served by `ferry serve --dev` at `/`), a small chat client: sign in over HTTP or
 * WebSocket; a list of conversations with peers (a dot for each one's online status) and channels, with
 * an unread count; a thread of bubbles per conversation; text messages, and files and images with a
 * caption (the message's `description`, decision 106). The sender's bubble appears at once with a
 * progress ring and Cancel; the receiver's when the message arrives, which is after the upload (the
 * message carries the media ID). Images show their thumbnail and open full size; files show a card with
 * Save (downloads are SHA-256 verified). Failures are told on the bubble they belong to, and the
 * connection's state and reason in words in the header. It uses only the public entries `ferry`,
 * `ferry/http` and `ferry/ws`, through their browser builds. This file is the wiring: sign-in, the
 * session's subscriptions, the forms; the session is `chat-session.ts`, what arrives `incoming.ts`, what
 * is sent `outgoing.ts`, and the DOM `conversations.ts`, `bubble.ts`, `composer.ts` and `lightbox.ts`.
 * @module
 */
import { createClient, FerryError } from '../src/index.js';
import { httpTransport } from '../transports/http.js';
import { wsTransport } from '../transports/ws.js';
import { type ChatView, conversationOf, select, showPresence, type Signed } from './chat-session.js';
import { composerOf } from './composer.js';
import type { ConversationKind } from './conversations.js';
import { receive } from './incoming.js';
import { lightboxOf } from './lightbox.js';
import { sendFile, sendText } from './outgoing.js';
import { formatTime } from './readable.js';
import { connectionWords, failureWords } from './words.js';

const byId = <T extends HTMLElement>(id: string): T => {
  const found = document.getElementById(id);
  if (!found) throw new Error(`the page has no #${id}`);
  return found as T;
};

const status = byId<HTMLParagraphElement>('status');
const notice = byId<HTMLParagraphElement>('notice');
const signin = byId<HTMLFormElement>('signin');
const signout = byId<HTMLButtonElement>('signout');
const targetForm = byId<HTMLFormElement>('target');
const chat = document.querySelector('main.chat') as HTMLElement;
const title = byId<HTMLHeadingElement>('conversation');
const titlePresence = byId<HTMLParagraphElement>('conversation-presence');
const threads = byId<HTMLDivElement>('threads');
const list = byId<HTMLUListElement>('conversations');
const composer = composerOf(
  { form: byId('composer'), text: byId('text'), picker: byId('files'), chips: byId('chips'), dropZone: byId('drop') },
  (text, files) => {
    const me = signed;
    const conversation = me?.current;
    if (!me || !conversation) return;
    if (files.length === 0) void sendText(me, conversation, text);
    // The caption goes with the first file: one message, so it arrives with its image (decision 106).
    files.forEach((file, at) => void sendFile(me, conversation, file, at === 0 ? text : ''));
  },
);

let signed: Signed | undefined;

/** A failure that belongs to no bubble (sign-in, opening a conversation): said beside the list. */
const tell = (error: unknown, what: string): void => {
  notice.textContent = failureWords(what, error);
  if (!(error instanceof FerryError)) console.error(error);
};

const view: ChatView = { list, threads, title, titlePresence, chat, composer, lightbox: lightboxOf(byId<HTMLDialogElement>('lightbox')), tell };

const setSignedIn = (on: boolean): void => {
  document.body.dataset['signed'] = on ? 'in' : 'out';
  signout.disabled = !on;
  signin.querySelectorAll<HTMLInputElement | HTMLButtonElement>('input, button[type="submit"]').forEach((field) => {
    field.disabled = on;
  });
  targetForm.querySelectorAll('button').forEach((button) => {
    button.disabled = !on;
  });
  composer.enable(on && signed?.current !== undefined);
};

const setStatus = (state: string, words: string, reason = ''): void => {
  status.dataset['state'] = state;
  status.dataset['reason'] = reason;
  status.textContent = words;
};

/** A token from the development server, which mints one for any user ID (never in production). */
const mintToken = async (userId: string): Promise<string> => {
  const response = await fetch(`/dev/token?userId=${encodeURIComponent(userId)}`, { method: 'POST' });
  const body = (await response.json()) as { token?: string; message?: string };
  if (!response.ok || typeof body.token !== 'string') throw new Error(body.message ?? `the server answered ${response.status}`);
  return body.token;
};

const transportOf = (kind: string) =>
  kind === 'ws'
    ? wsTransport({ url: `${location.protocol === 'https:' ? 'wss' : 'ws'}://${location.host}/v1/ws` })
    : httpTransport({ url: location.origin });

/** Ends the page's side of a session: subscriptions, URLs, controls. The threads stay, to be read. */
const leave = (me: Signed): void => {
  if (signed === me) signed = undefined;
  me.live = false;
  for (const subscription of me.subscriptions) subscription.unsubscribe();
  for (const url of me.urls) URL.revokeObjectURL(url);
  setSignedIn(false);
};

const signOut = async (): Promise<void> => {
  const leaving = signed;
  if (!leaving) return;
  leave(leaving);
  await leaving.client.logout();
};

const signIn = async (userId: string, kind: string): Promise<void> => {
  await signOut();
  list.replaceChildren();
  threads.replaceChildren();
  title.textContent = 'No conversation open';
  titlePresence.textContent = '';
  notice.textContent = '';
  const client = createClient({ transport: transportOf(kind) });
  const label = kind === 'ws' ? 'WebSocket' : 'HTTP';
  const me: Signed = { userId, client, view, subscriptions: [], urls: [], conversations: new Map(), pictures: new Map(), unsubscribed: [], live: true };
  me.subscriptions.push(
    client.connectionChange$.subscribe((change) => {
      setStatus(change.state, `${userId} · ${label} · ${connectionWords(change)}`, change.reason);
      // The session is over (another tab took it, the token expired): the page says why and stops.
      if (change.state === 'ABORTED') leave(me);
    }),
    // Before the login: the messages kept for us while we were offline are delivered with it.
    client.peerMessages$.subscribe(({ peerId, message, serverReceivedTs, isOfflineMessage }) => {
      const bubble = receive(me, conversationOf(me, 'peer', peerId), peerId, message, serverReceivedTs);
      if (isOfflineMessage) bubble?.note(`sent while you were offline · ${formatTime(serverReceivedTs)}`, 'offline', 'The server kept this message for you until you signed in');
    }),
    client.peersOnlineStatus$.subscribe((states) => {
      for (const [peerId, state] of Object.entries(states)) showPresence(me, peerId, state);
    }),
  );
  setStatus('CONNECTING', `${userId} · ${label} · Signing in…`);
  try {
    await client.login({ userId, token: await mintToken(userId) });
  } catch (error) {
    me.live = false;
    for (const subscription of me.subscriptions) subscription.unsubscribe();
    setStatus('DISCONNECTED', failureWords('Not signed in', error));
    throw error;
  }
  signed = me;
  setSignedIn(true);
};

/** Opens a conversation from the form: a peer, or a channel joined first. */
const open = async (me: Signed, kind: ConversationKind, id: string): Promise<void> => {
  notice.textContent = '';
  let conversation = me.conversations.get(`${kind}:${id}`);
  if (!conversation) {
    if (kind === 'channel') {
      const channel = me.client.createChannel(id);
      await channel.join();
      const joined = conversationOf(me, kind, id, channel);
      me.subscriptions.push(channel.messages$.subscribe(({ memberId, message, serverReceivedTs }) => receive(me, joined, memberId, message, serverReceivedTs)));
      conversation = joined;
    } else {
      if (id === me.userId) throw new Error('that is you: open a conversation with someone else');
      conversation = conversationOf(me, kind, id);
    }
  }
  select(me, conversation);
};

signin.addEventListener('submit', (event) => {
  event.preventDefault();
  const data = new FormData(signin);
  const userId = String(data.get('userId') ?? '').trim();
  signIn(userId, String(data.get('transport') ?? 'http')).catch((error: unknown) => tell(error, 'Not signed in'));
});
signout.addEventListener('click', () => {
  signOut()
    .catch((error: unknown) => tell(error, 'Sign-out failed'))
    .finally(() => setStatus('DISCONNECTED', 'Signed out', 'LOGOUT'));
});
targetForm.addEventListener('submit', (event) => {
  event.preventDefault();
  const data = new FormData(targetForm);
  const kind = data.get('kind') === 'channel' ? 'channel' : 'peer';
  const id = String(data.get('targetId') ?? '').trim();
  if (signed) open(signed, kind, id).catch((error: unknown) => tell(error, `Cannot open ${kind === 'channel' ? `#${id}` : id}`));
  targetForm.reset();
});
byId<HTMLButtonElement>('back').addEventListener('click', () => {
  chat.dataset['view'] = 'list';
});
document.body.dataset['ready'] = 'true';
