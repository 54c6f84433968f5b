/**
 * The demo page (served by `ferry serve --dev` at `/`), a small chat client: sign in over HTTP or
 * WebSocket; a list of conversations with peers (a dot for each one's online status) and channels, with
 * an unread count; a thread of bubbles per conversation; text messages, and files and images with a
 * caption (the message's `description`, decision 106). The sender's bubble appears at once with a
 * progress ring and Cancel; the receiver's when the message arrives, which is after the upload (the
 * message carries the media ID). Images show their thumbnail and open full size; files show a card with
 * Save (downloads are SHA-256 verified). Failures are told on the bubble they belong to, and the
 * connection's state and reason in words in the header. It uses only the public entries `ferry`,
 * `ferry/http` and `ferry/ws`, through their browser builds. This file is the wiring; the parts are
 * `conversations.ts`, `bubble.ts`, `composer.ts`, `lightbox.ts` and `words.ts`.
 * @module
 */
import type { Subscription } from 'rxjs';
import {
  type Channel,
  type Client,
  createClient,
  FerryError,
  type FileMessage,
  IMAGE_PROBE_BYTES,
  type ImageMessage,
  type Message,
  probeImage,
  type Task,
  textMessage,
} from '../src/index.js';
import { httpTransport } from '../transports/http.js';
import { wsTransport } from '../transports/ws.js';
import { type Bubble, type BubbleBody, previewOf, showBubble } from './bubble.js';
import { makeThumbnail, thumbnailBudget } from './canvas-thumbnail.js';
import { composerOf } from './composer.js';
import { type ConversationKind, type ConversationRow, type PresenceShown, presenceWord, showConversation } from './conversations.js';
import { formatTime } from './format.js';
import { lightboxOf } from './lightbox.js';
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
const lightbox = lightboxOf(byId<HTMLDialogElement>('lightbox'));
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

/** One conversation: its row in the list, its thread, and the channel when it is one. */
interface Conversation {
  readonly kind: ConversationKind;
  readonly id: string;
  readonly row: ConversationRow;
  readonly thread: HTMLOListElement;
  readonly channel?: Channel;
  unread: number;
  presence: PresenceShown;
}

/** The signed-in user: one client, its subscriptions, its conversations and the page's `blob:` URLs. */
interface Signed {
  readonly userId: string;
  readonly client: Client;
  readonly subscriptions: Subscription[];
  readonly urls: string[];
  readonly conversations: Map<string, Conversation>;
  /** Full-size images opened, by media ID. */
  readonly pictures: Map<string, string>;
  /** Peers met this turn, not yet subscribed to. */
  readonly unsubscribed: string[];
  current?: Conversation | undefined;
}

let signed: Signed | undefined;

/** A failure that belongs to no bubble (sign-in, opening a conversation): said beside the list. */
const tell = (error: unknown, what: string): void => {
  notice.textContent = failureWords(what, error);
  if (!(error instanceof FerryError)) console.error(error);
};

/** Code 6 (INTERRUPTED) of a transfer is a cancel or a sign-out: the bubble says so already. */
const interrupted = (error: unknown): boolean => error instanceof FerryError && error.code === 6 && (error.operation === 'upload' || error.operation === 'download');

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
  const me: Signed = { userId, client, subscriptions: [], urls: [], conversations: new Map(), pictures: new Map(), unsubscribed: [] };
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
      for (const [peerId, state] of Object.entries(states)) {
        const conversation = me.conversations.get(`peer:${peerId}`);
        if (!conversation) continue;
        conversation.presence = state;
        conversation.row.setPresence(state);
        if (me.current === conversation) titlePresence.textContent = presenceWord(state);
      }
    }),
  );
  setStatus('CONNECTING', `${userId} · ${label} · Signing in…`);
  try {
    await client.login({ userId, token: await mintToken(userId) });
  } catch (error) {
    for (const subscription of me.subscriptions) subscription.unsubscribe();
    setStatus('DISCONNECTED', failureWords('Not signed in', error));
    throw error;
  }
  signed = me;
  setSignedIn(true);
};

/**
 * The conversation with `kind:id`, made (and listed) the first time. A peer's online status is
 * subscribed to: the peers met in one turn in one call (the offline messages of a sign-in come together,
 * and more than 10 subscribe calls in 5 s are refused).
 */
const conversationOf = (me: Signed, kind: ConversationKind, id: string, channel?: Channel): Conversation => {
  const key = `${kind}:${id}`;
  const known = me.conversations.get(key);
  if (known) return known;
  const thread = document.createElement('ol');
  thread.className = 'thread';
  thread.dataset['conversation'] = key;
  thread.setAttribute('aria-label', kind === 'channel' ? `Messages in #${id}` : `Messages with ${id}`);
  thread.setAttribute('aria-live', 'polite');
  thread.hidden = true;
  threads.append(thread);
  const conversation: Conversation = {
    kind,
    id,
    thread,
    unread: 0,
    presence: 'UNKNOWN',
    row: showConversation(list, kind, id, () => select(me, conversation)),
    ...(channel ? { channel } : {}),
  };
  me.conversations.set(key, conversation);
  if (channel) me.subscriptions.push(channel.messages$.subscribe(({ memberId, message, serverReceivedTs }) => receive(me, conversation, memberId, message, serverReceivedTs)));
  if (kind === 'peer' && me.unsubscribed.push(id) === 1) {
    queueMicrotask(() => {
      const peerIds = me.unsubscribed.splice(0);
      me.client.subscribePeersOnlineStatus(peerIds).catch((error: unknown) => {
        // 102: signed out meanwhile, and the list is gone with the session.
        if (!(error instanceof FerryError && error.code === 102)) tell(error, 'Online status not known');
      });
    });
  }
  return conversation;
};

/** Shows `conversation`'s thread and marks what waited there as read. */
const select = (me: Signed, conversation: Conversation): void => {
  me.current?.row.setCurrent(false);
  if (me.current) me.current.thread.hidden = true;
  me.current = conversation;
  threads.querySelector('.empty')?.remove();
  conversation.thread.hidden = false;
  conversation.row.setCurrent(true);
  conversation.unread = 0;
  conversation.row.setUnread(0);
  title.textContent = conversation.kind === 'channel' ? `#${conversation.id}` : conversation.id;
  titlePresence.textContent = conversation.kind === 'channel' ? 'channel' : presenceWord(conversation.presence);
  chat.dataset['view'] = 'thread';
  composer.enable(signed === me);
  conversation.thread.lastElementChild?.scrollIntoView({ block: 'end' });
  composer.focus();
  updateTitle(me);
};

/** `(2) ferry chat` while messages wait unread. */
const updateTitle = (me: Signed): void => {
  const unread = [...me.conversations.values()].reduce((sum, { unread: count }) => sum + count, 0);
  document.title = unread > 0 ? `(${unread}) ferry chat` : 'ferry chat';
};

/** Opens a conversation from the form: a peer, or a channel joined first. */
const open = async (me: Signed, kind: ConversationKind, id: string): Promise<void> => {
  notice.textContent = '';
  let conversation = me.conversations.get(`${kind}:${id}`);
  if (!conversation) {
    if (kind === 'channel') {
      const channel = me.client.createChannel(id);
      await channel.join();
      conversation = conversationOf(me, kind, id, channel);
    } else {
      if (id === me.userId) throw new Error('that is you: open a conversation with someone else');
      conversation = conversationOf(me, kind, id);
    }
  }
  select(me, conversation);
};

/** The body of a bubble for a message; its thumbnail, if any, becomes a `blob:` URL kept until sign-out. */
const bodyOf = (me: Signed, message: Message, onOpen: () => void): BubbleBody => {
  switch (message.messageType) {
    case 'TEXT':
      return { kind: 'text', text: message.text };
    case 'RAW':
      return { kind: 'text', text: `(${message.rawMessage.length} raw bytes)` };
    case 'FILE':
    case 'IMAGE': {
      // A FILE without a thumbnail is a card; with one it is shown as a picture, as an IMAGE is.
      if (!message.thumbnail && message.messageType === 'FILE') return { kind: 'file', fileName: message.fileName || message.mediaId, size: message.size, caption: message.description ?? '' };
      const url = message.thumbnail ? URL.createObjectURL(new Blob([message.thumbnail as Uint8Array<ArrayBuffer>])) : undefined;
      if (url) me.urls.push(url);
      const [width, height] = message.messageType === 'IMAGE' ? [message.width, message.height] : [0, 0];
      const name = message.fileName || message.mediaId;
      return { kind: 'image', fileName: name, size: message.size, width, height, caption: message.description ?? '', onOpen, ...(url ? { pictureUrl: url } : {}) };
    }
  }
};

/** A message from someone else: a bubble, the list's preview, and an unread mark unless it is open. */
const receive = (me: Signed, conversation: Conversation, from: string, message: Message, at: number): Bubble | undefined => {
  if (signed !== me && signed !== undefined) return undefined;
  let bubble: Bubble | undefined;
  const body = bodyOf(me, message, () => void openPicture(me, message, body));
  bubble = showBubble(conversation.thread, { own: false, from, at }, body, 'received');
  if (message.messageType === 'FILE' || message.messageType === 'IMAGE') {
    const saving = bubble;
    bubble.addSave(body.kind === 'text' ? '' : body.fileName, () => void save(me, saving, message));
  }
  conversation.row.setLatest(`${conversation.kind === 'channel' ? `${from}: ` : ''}${previewOf(body)}`, at);
  if (me.current !== conversation) {
    conversation.unread += 1;
    conversation.row.setUnread(conversation.unread);
    updateTitle(me);
  }
  return bubble;
};

/** Downloads the media of a message to memory, SHA-256 verified by the engine. */
const fetchMedia = (me: Signed, message: FileMessage | ImageMessage): Task<Uint8Array> => me.client.downloadMediaToMemory(message.mediaId);

/** Opens an image full size: downloaded once to memory, then shown from a `blob:` URL. */
const openPicture = async (me: Signed, message: Message, body: BubbleBody): Promise<void> => {
  if ((message.messageType !== 'FILE' && message.messageType !== 'IMAGE') || body.kind === 'text') return;
  lightbox.loading(body.fileName, body.caption);
  let url = me.pictures.get(message.mediaId);
  if (!url) {
    const task = fetchMedia(me, message);
    const progress = task.progress$.subscribe(({ currentSize, totalSize }) => lightbox.progress(totalSize > 0 ? currentSize / totalSize : 0));
    try {
      url = URL.createObjectURL(new Blob([(await task.result) as Uint8Array<ArrayBuffer>]));
    } catch (error) {
      if (lightbox.showing(body.fileName)) lightbox.fail(failureWords('Cannot show it', error));
      return;
    } finally {
      progress.unsubscribe();
    }
    me.urls.push(url);
    me.pictures.set(message.mediaId, url);
  }
  if (lightbox.showing(body.fileName)) lightbox.show(url);
};

/** Saves the media of a message through `<a download>`, with a bar on its bubble while it downloads. */
const save = async (me: Signed, bubble: Bubble, message: FileMessage | ImageMessage): Promise<void> => {
  const name = message.fileName || message.mediaId;
  const task = fetchMedia(me, message);
  bubble.trackDownload(task);
  try {
    const bytes = await task.result;
    const url = URL.createObjectURL(new Blob([bytes as Uint8Array<ArrayBuffer>]));
    const link = Object.assign(document.createElement('a'), { href: url, download: name });
    document.body.append(link);
    link.click();
    link.remove();
    // The browser reads the blob after the click returns; a minute is plenty, then the memory is freed.
    setTimeout(() => URL.revokeObjectURL(url), 60_000);
    bubble.told('Saved · SHA-256 verified');
  } catch (error) {
    if (!interrupted(error)) bubble.failed(failureWords('Not saved', error));
  }
};

/** Sends a message that is ready; the bubble says how it went (kept for an offline peer, received, sent). */
const deliver = async (me: Signed, conversation: Conversation, message: Message, bubble: Bubble): Promise<void> => {
  try {
    if (conversation.channel) {
      await conversation.channel.sendMessage(message);
      bubble.sent('sent', 'sent');
      return;
    }
    // As a chat app does: a peer who is offline gets the message when it next signs in.
    const { state } = await me.client.sendMessageToPeer(conversation.id, message, { enableOfflineMessaging: true });
    if (state === 'CACHED_BY_SERVER') bubble.sent(`kept for ${conversation.id}`, 'kept');
    else bubble.sent(`received by ${conversation.id}`, 'received');
  } catch (error) {
    bubble.failed(failureWords('Not sent', error));
  }
};

const sendText = async (me: Signed, conversation: Conversation, text: string): Promise<void> => {
  const at = Date.now();
  const bubble = showBubble(conversation.thread, { own: true, from: me.userId, at }, { kind: 'text', text }, 'sending');
  conversation.row.setLatest(`You: ${text}`, at);
  let message: Message;
  try {
    message = textMessage(text);
  } catch (error) {
    return bubble.failed(failureWords('Not sent', error));
  }
  await deliver(me, conversation, message, bubble);
};

/**
 * Sends one file: its bubble at once (the image itself as its picture), then the upload (an IMAGE with a
 * canvas thumbnail when the browser can decode it, else a FILE) with the caption as its description,
 * then the message.
 */
const sendFile = async (me: Signed, conversation: Conversation, file: File, caption: string): Promise<void> => {
  const at = Date.now();
  const isImage = file.type.startsWith('image/');
  const pictureUrl = isImage ? URL.createObjectURL(file) : undefined;
  if (pictureUrl) me.urls.push(pictureUrl);
  const body: BubbleBody = pictureUrl
    ? { kind: 'image', fileName: file.name, size: file.size, width: 0, height: 0, caption, pictureUrl, onOpen: () => showOwnPicture(file.name, caption, pictureUrl) }
    : { kind: 'file', fileName: file.name, size: file.size, caption };
  const bubble = showBubble(conversation.thread, { own: true, from: me.userId, at }, body, 'sending');
  conversation.row.setLatest(`You: ${previewOf(body)}`, at);
  try {
    const thumb = isImage ? await makeThumbnail(file, thumbnailBudget(file.name, caption)) : undefined;
    const description = caption === '' ? {} : { description: caption };
    let task: Task<FileMessage | ImageMessage>;
    if (thumb) {
      // The engine reads width and height from JPEG, PNG, BMP, GIF and WebP; other formats take the canvas's.
      const probed = probeImage(new Uint8Array(await file.slice(0, IMAGE_PROBE_BYTES).arrayBuffer()));
      task = me.client.createImageMessageByUploading(file, {
        fileName: file.name,
        thumbnail: thumb.bytes,
        thumbnailWidth: thumb.width,
        thumbnailHeight: thumb.height,
        ...description,
        ...(probed ? {} : { width: thumb.sourceWidth, height: thumb.sourceHeight }),
      });
    } else {
      task = me.client.createFileMessageByUploading(file, { fileName: file.name, ...description });
    }
    bubble.trackUpload(task, (error) => bubble.failed(failureWords('Cancel refused', error)));
    let message: FileMessage | ImageMessage;
    try {
      message = await task.result;
    } catch (error) {
      if (error instanceof FerryError && error.code === 6 && (await lastState(task)) === 'cancelled') return bubble.cancelled();
      return bubble.failed(failureWords('Not sent', error));
    }
    await deliver(me, conversation, message, bubble);
  } catch (error) {
    bubble.failed(failureWords('Not sent', error));
  }
};

/** The state a finished task ended in (`state$` replays it, then completes). */
const lastState = (task: Task<unknown>): Promise<string> =>
  new Promise((resolve) => {
    let last = '';
    task.state$.subscribe({ next: (state) => void (last = state), complete: () => resolve(last) });
  });

const showOwnPicture = (name: string, caption: string, url: string): void => {
  lightbox.loading(name, caption);
  lightbox.show(url);
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
