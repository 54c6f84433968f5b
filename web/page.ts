/**
 * The demo page (served by `ferry serve --dev` at `/`): sign in as a user over HTTP or WebSocket, open a
 * conversation with a peer or a channel, send files and images (thumbnails made here with a canvas),
 * watch and cancel transfers, and save what arrives. Every peer talked to is listed with a dot for its
 * online status; a file sent to a peer who is offline is kept by the server for the peer's next sign-in
 * (offline messaging), and what was kept for us is marked when it arrives. It uses only the public
 * entries `ferry`, `ferry/http` and `ferry/ws`, through their browser builds.
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
  type PeerMessageEvent,
  probeImage,
  type Task,
} from '../src/index.js';
import { httpTransport } from '../transports/http.js';
import { wsTransport } from '../transports/ws.js';
import { makeThumbnail, thumbnailBudget } from './canvas-thumbnail.js';
import { type Delivery, setPresence, showMessage, showPeer, showTransfer } from './view.js';

const byId = <T extends HTMLElement>(id: string): T => {
  const found = document.getElementById(id);
  if (!found) throw new Error(`the page has no #${id}`);
  return found as T;
};

const status = byId<HTMLParagraphElement>('status');
const errorLine = byId<HTMLParagraphElement>('error');
const signin = byId<HTMLFormElement>('signin');
const signout = byId<HTMLButtonElement>('signout');
const targetForm = byId<HTMLFormElement>('target');
const conversation = byId<HTMLParagraphElement>('conversation');
const drop = byId<HTMLLabelElement>('drop');
const picker = byId<HTMLInputElement>('files');
const transfers = byId<HTMLOListElement>('transfers');
const messages = byId<HTMLOListElement>('messages');
const peerList = byId<HTMLUListElement>('peers');

type Target = { readonly kind: 'peer'; readonly id: string } | { readonly kind: 'channel'; readonly id: string; readonly channel: Channel };

/**
 * The signed-in user: one client, its subscriptions, the open conversation, the page's blob URLs, and
 * the peers talked to (each row's dot follows that peer's online status).
 */
interface Signed {
  readonly userId: string;
  readonly client: Client;
  readonly subscriptions: Subscription[];
  readonly urls: string[];
  readonly peers: Map<string, HTMLLIElement>;
  /** Peers listed this turn, not yet subscribed to. */
  readonly unsubscribed: string[];
  target?: Target | undefined;
}

let signed: Signed | undefined;

/** Shows a failure to the user; one that is not a ferry failure is a bug of the page, so it is logged too. */
const showError = (error: unknown): void => {
  errorLine.textContent = error instanceof Error ? error.message : String(error);
  if (!(error instanceof FerryError)) console.error(error);
};

/** Code 6 (INTERRUPTED) is a cancel or a sign-out: the transfer row already says so. */
const interrupted = (error: unknown): boolean => error instanceof FerryError && error.code === 6 && (error.operation === 'upload' || error.operation === 'download');

const setSignedIn = (on: boolean): void => {
  signout.disabled = !on;
  picker.disabled = !on;
  targetForm.querySelectorAll('button').forEach((button) => {
    button.disabled = !on;
  });
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

const signOut = async (): Promise<void> => {
  const leaving = signed;
  signed = undefined;
  setSignedIn(false);
  conversation.textContent = 'No conversation open';
  peerList.replaceChildren();
  if (!leaving) return;
  for (const subscription of leaving.subscriptions) subscription.unsubscribe();
  try {
    await leaving.client.logout();
  } finally {
    for (const url of leaving.urls) URL.revokeObjectURL(url);
    status.textContent = 'Signed out';
  }
};

const signIn = async (userId: string, kind: string): Promise<void> => {
  await signOut();
  transfers.replaceChildren();
  messages.replaceChildren();
  errorLine.textContent = '';
  const client = createClient({ transport: transportOf(kind) });
  const label = kind === 'ws' ? 'WebSocket' : 'HTTP';
  const me: Signed = { userId, client, subscriptions: [], urls: [], peers: new Map(), unsubscribed: [] };
  me.subscriptions.push(
    client.connectionState$.subscribe((state) => {
      status.textContent = `${userId} · ${label} · ${state}`;
      if (state === 'ABORTED') setSignedIn(false);
    }),
    // Before the login: the messages kept for us while we were offline are delivered with it.
    client.peerMessages$.subscribe((event) => receivePeerMessage(me, event)),
    client.peersOnlineStatus$.subscribe((states) => {
      for (const [peerId, state] of Object.entries(states)) {
        const row = me.peers.get(peerId);
        if (row) setPresence(row, state);
      }
    }),
  );
  try {
    await client.login({ userId, token: await mintToken(userId) });
  } catch (error) {
    for (const subscription of me.subscriptions) subscription.unsubscribe();
    throw error;
  }
  signed = me;
  setSignedIn(true);
};

/**
 * Lists `peerId` among the peers talked to, once, and subscribes to its online status: the server tells
 * the status now, then each change, on `peersOnlineStatus$` (the subscription lasts until sign-out). The
 * peers met in one turn are subscribed in one call (the offline messages of a sign-in come together, and
 * more than 10 subscribe calls in 5 s are refused).
 */
const talkTo = (me: Signed, peerId: string): void => {
  if (peerId === me.userId || me.peers.has(peerId)) return;
  const row = showPeer(peerList, peerId, () => void openPeer(me, peerId).catch(showError));
  me.peers.set(peerId, row);
  if (me.unsubscribed.push(peerId) > 1) return;
  queueMicrotask(() => {
    const peerIds = me.unsubscribed.splice(0);
    me.client.subscribePeersOnlineStatus(peerIds).catch((error: unknown) => {
      // 102: signed out meanwhile, and the list is gone with the session.
      if (!(error instanceof FerryError && error.code === 102)) showError(error);
    });
  });
};

/** Opens the conversation with a listed peer, as the form would. */
const openPeer = async (me: Signed, peerId: string): Promise<void> => {
  targetForm.querySelector<HTMLInputElement>('input[name="kind"][value="peer"]')?.click();
  const field = targetForm.querySelector<HTMLInputElement>('input[name="targetId"]');
  if (field) field.value = peerId;
  await open(me, 'peer', peerId);
};

/** A message from a peer; one the server kept while we were offline says so, with when it was sent. */
const receivePeerMessage = (me: Signed, { peerId, message, serverReceivedTs, isOfflineMessage }: PeerMessageEvent): void => {
  talkTo(me, peerId);
  receive(me, `${peerId} → you`, message, isOfflineMessage ? { kind: 'offline', serverReceivedTs } : undefined);
};

const open = async (me: Signed, kind: string, id: string): Promise<void> => {
  if (me.target?.kind === 'channel') await me.target.channel.leave();
  me.target = undefined;
  if (kind === 'channel') {
    const channel = me.client.createChannel(id);
    await channel.join();
    me.subscriptions.push(channel.messages$.subscribe(({ memberId, message }) => receive(me, `${memberId} → #${id}`, message)));
    me.target = { kind, id, channel };
    conversation.textContent = `In channel #${id}`;
  } else {
    me.target = { kind: 'peer', id };
    conversation.textContent = `Sending to ${id}`;
    talkTo(me, id);
  }
};

/** Lists a message; its thumbnail, if any, becomes a `blob:` URL kept until sign-out. */
const receive = (me: Signed, from: string, message: Message, delivery?: Delivery): void => {
  let thumbnailUrl: string | undefined;
  if ((message.messageType === 'FILE' || message.messageType === 'IMAGE') && message.thumbnail) {
    thumbnailUrl = URL.createObjectURL(new Blob([message.thumbnail as Uint8Array<ArrayBuffer>]));
    me.urls.push(thumbnailUrl);
  }
  showMessage(messages, { from, message, ...(thumbnailUrl ? { thumbnailUrl } : {}), ...(delivery ? { delivery } : {}), onSave: () => void save(me, message) });
};

/** Downloads the media of a message to memory (a transfer row of its own), then saves it through `<a download>`. */
const save = async (me: Signed, message: Message): Promise<void> => {
  if (message.messageType !== 'FILE' && message.messageType !== 'IMAGE') return;
  const name = message.fileName || message.mediaId;
  const task = me.client.downloadMediaToMemory(message.mediaId);
  showTransfer(transfers, `↓ ${name}`, task, showError);
  try {
    const bytes = await task.result;
    const url = URL.createObjectURL(new Blob([bytes as Uint8Array<ArrayBuffer>]));
    const link = Object.assign(document.createElement('a'), { href: url, download: name });
    document.body.append(link);
    link.click();
    link.remove();
    // The browser reads the blob after the click returns; a minute is plenty, then the memory is freed.
    setTimeout(() => URL.revokeObjectURL(url), 60_000);
  } catch (error) {
    if (!interrupted(error)) showError(error);
  }
};

/** Uploads one file (as an IMAGE with a canvas thumbnail when the browser can decode it) and sends the message. */
const send = async (me: Signed, file: File): Promise<void> => {
  const target = me.target;
  if (!target) throw new Error('Open a conversation first');
  const thumb = file.type.startsWith('image/') ? await makeThumbnail(file, thumbnailBudget(file.name)) : undefined;
  let task: Task<FileMessage | ImageMessage>;
  if (thumb) {
    // The engine reads width and height from JPEG, PNG, BMP, GIF and WebP; other formats take the canvas's.
    const probed = probeImage(new Uint8Array(await file.slice(0, IMAGE_PROBE_BYTES).arrayBuffer()));
    task = me.client.createImageMessageByUploading(file, {
      fileName: file.name,
      thumbnail: thumb.bytes,
      thumbnailWidth: thumb.width,
      thumbnailHeight: thumb.height,
      ...(probed ? {} : { width: thumb.sourceWidth, height: thumb.sourceHeight }),
    });
  } else {
    task = me.client.createFileMessageByUploading(file, { fileName: file.name });
  }
  showTransfer(transfers, `↑ ${file.name}`, task, showError);
  let message: FileMessage | ImageMessage;
  try {
    message = await task.result;
  } catch (error) {
    if (interrupted(error)) return;
    throw error;
  }
  if (target.kind === 'channel') {
    await target.channel.sendMessage(message);
    receive(me, `you → #${target.id}`, message);
    return;
  }
  // As a chat app does: a peer who is offline gets the file when it next signs in.
  const { state } = await me.client.sendMessageToPeer(target.id, message, { enableOfflineMessaging: true });
  receive(me, `you → ${target.id}`, message, { kind: state === 'CACHED_BY_SERVER' ? 'kept' : 'received', peerId: target.id });
};

const sendAll = (files: Iterable<File>): void => {
  const me = signed;
  if (!me) return showError(new Error('Sign in first'));
  errorLine.textContent = '';
  for (const file of files) send(me, file).catch(showError);
};

signin.addEventListener('submit', (event) => {
  event.preventDefault();
  const data = new FormData(signin);
  signIn(String(data.get('userId') ?? '').trim(), String(data.get('transport') ?? 'http')).catch(showError);
});
signout.addEventListener('click', () => void signOut().catch(showError));
targetForm.addEventListener('submit', (event) => {
  event.preventDefault();
  const data = new FormData(targetForm);
  if (signed) open(signed, String(data.get('kind') ?? 'peer'), String(data.get('targetId') ?? '').trim()).catch(showError);
});
picker.addEventListener('change', () => {
  sendAll(Array.from(picker.files ?? []));
  picker.value = '';
});
drop.addEventListener('dragover', (event) => {
  event.preventDefault();
  drop.classList.add('over');
});
drop.addEventListener('dragleave', () => drop.classList.remove('over'));
drop.addEventListener('drop', (event) => {
  event.preventDefault();
  drop.classList.remove('over');
  sendAll(Array.from(event.dataTransfer?.files ?? []));
});
document.body.dataset['ready'] = 'true';
