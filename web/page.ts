/**
 * The demo page (served by `ferry serve --dev` at `/`): sign in as a user over HTTP or WebSocket, open a
 * conversation with a peer or a channel, send files and images (thumbnails made here with a canvas),
 * watch and cancel transfers, and save what arrives. It uses only the public entries `ferry`,
 * `ferry/http` and `ferry/ws`, through their browser builds.
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
} from '../src/index.js';
import { httpTransport } from '../transports/http.js';
import { wsTransport } from '../transports/ws.js';
import { makeThumbnail, thumbnailBudget } from './canvas-thumbnail.js';
import { showMessage, showTransfer } from './view.js';

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

type Target = { readonly kind: 'peer'; readonly id: string } | { readonly kind: 'channel'; readonly id: string; readonly channel: Channel };

/** The signed-in user: one client, its subscriptions, the open conversation and the page's blob URLs. */
interface Signed {
  readonly userId: string;
  readonly client: Client;
  readonly subscriptions: Subscription[];
  readonly urls: string[];
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
  const me: Signed = { userId, client, subscriptions: [], urls: [] };
  me.subscriptions.push(
    client.connectionState$.subscribe((state) => {
      status.textContent = `${userId} · ${label} · ${state}`;
      if (state === 'ABORTED') setSignedIn(false);
    }),
  );
  await client.login({ userId, token: await mintToken(userId) });
  me.subscriptions.push(client.peerMessages$.subscribe(({ peerId, message }) => receive(me, `${peerId} → you`, message)));
  signed = me;
  setSignedIn(true);
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
  }
};

/** Lists a message; its thumbnail, if any, becomes a `blob:` URL kept until sign-out. */
const receive = (me: Signed, from: string, message: Message): void => {
  let thumbnailUrl: string | undefined;
  if ((message.messageType === 'FILE' || message.messageType === 'IMAGE') && message.thumbnail) {
    thumbnailUrl = URL.createObjectURL(new Blob([message.thumbnail as Uint8Array<ArrayBuffer>]));
    me.urls.push(thumbnailUrl);
  }
  showMessage(messages, { from, message, ...(thumbnailUrl ? { thumbnailUrl } : {}), onSave: () => void save(me, message) });
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
  if (target.kind === 'peer') await me.client.sendMessageToPeer(target.id, message);
  else await target.channel.sendMessage(message);
  receive(me, `you → ${target.kind === 'peer' ? target.id : `#${target.id}`}`, message);
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
