/**
 * The demo page's lists: one row per transfer (progress bar, state, cancel button), one per message
 * (sender, name, size, thumbnail with the image's width × height, save button, and whether it was kept
 * for an offline peer or kept for us while we were offline), and one per peer (a dot for its online
 * status). DOM only, no engine logic.
 * @module
 */
import type { Subscription } from 'rxjs';
import type { Message, PeerOnlineState, Task, TransferState } from '../src/index.js';

/** `1.5 MiB`, `320 B`. */
export const formatSize = (bytes: number): string => {
  const units = ['B', 'KiB', 'MiB', 'GiB'] as const;
  let value = bytes;
  let unit = 0;
  while (value >= 1024 && unit < units.length - 1) {
    value /= 1024;
    unit += 1;
  }
  return `${unit === 0 ? value : value.toFixed(1)} ${units[unit]}`;
};

const element = <K extends keyof HTMLElementTagNameMap>(tag: K, props: Partial<HTMLElementTagNameMap[K]> = {}, ...children: (Node | string)[]): HTMLElementTagNameMap[K] => {
  const node = Object.assign(document.createElement(tag), props);
  node.append(...children);
  return node;
};

const FINAL: ReadonlySet<TransferState> = new Set(['done', 'cancelled', 'failed']);

/**
 * Adds a row for `task` to `list`: `<progress>` follows `progress$`, the state text and the row's
 * `data-state` follow `state$`, and Cancel calls `task.cancel()` until the task is over. The row's
 * subscriptions end with the task (`state$` completes at a final state).
 */
export const showTransfer = (list: HTMLElement, label: string, task: Task<unknown>, onError: (error: unknown) => void): HTMLLIElement => {
  const bar = element('progress', { max: 1, value: 0 });
  bar.setAttribute('aria-label', `${label} progress`);
  const state = element('span', { className: 'state' }, 'pending');
  const cancel = element('button', { type: 'button', textContent: 'Cancel' });
  cancel.setAttribute('aria-label', `Cancel ${label}`);
  const row = element('li', {}, element('span', { className: 'name', title: label }, label), bar, state, cancel);
  row.dataset['state'] = 'pending';
  row.dataset['requestId'] = String(task.requestId);
  list.prepend(row);

  let sizes = '';
  const subscriptions: Subscription[] = [];
  subscriptions.push(
    task.progress$.subscribe(({ currentSize, totalSize }) => {
      bar.max = Math.max(totalSize, 1);
      bar.value = currentSize;
      sizes = `${formatSize(currentSize)} / ${formatSize(totalSize)}`;
      bar.title = sizes;
    }),
    task.state$.subscribe((current) => {
      row.dataset['state'] = current;
      state.textContent = current;
      if (FINAL.has(current)) {
        cancel.disabled = true;
        for (const subscription of subscriptions) subscription.unsubscribe();
      }
    }),
  );
  cancel.addEventListener('click', () => {
    cancel.disabled = true;
    // A task that ended between the click and the call rejects with code 2: worth telling, not fatal.
    task.cancel().catch(onError);
  });
  return row;
};

/**
 * How a message travelled, when it is worth a word: `kept` for a peer who was offline (we sent it and
 * the server keeps it for the peer's next sign-in), `received` by the peer at once, `offline`: kept for us
 * while we were offline, delivered when we signed in.
 */
export type Delivery =
  | { readonly kind: 'kept'; readonly peerId: string }
  | { readonly kind: 'received'; readonly peerId: string }
  | { readonly kind: 'offline'; readonly serverReceivedTs: number };

/** What a message row shows and does. */
export interface MessageRow {
  /** `alice → you`, `you → #general`. */
  readonly from: string;
  readonly message: Message;
  /** A `blob:` URL of the thumbnail, if the message has one. */
  readonly thumbnailUrl?: string;
  /** How it travelled; nothing is said of channel messages and online peer messages received. */
  readonly delivery?: Delivery;
  /** Saves the media of a FILE or IMAGE message. */
  readonly onSave: () => void;
}

/** `14:02` in the browser's time zone, with the day when it is not today. */
const timeOf = (ms: number): string => {
  const at = new Date(ms);
  const sameDay = at.toDateString() === new Date().toDateString();
  return at.toLocaleString(undefined, sameDay ? { hour: '2-digit', minute: '2-digit' } : { day: 'numeric', month: 'short', hour: '2-digit', minute: '2-digit' });
};

/** The words and the longer title of a delivery note. */
const deliveryNote = (delivery: Delivery): { readonly text: string; readonly title: string } => {
  switch (delivery.kind) {
    case 'kept':
      return { text: `kept for ${delivery.peerId}`, title: `${delivery.peerId} is offline: the server keeps this message until ${delivery.peerId} signs in (up to 7 days)` };
    case 'received':
      return { text: `received by ${delivery.peerId}`, title: `${delivery.peerId} was online and has it` };
    case 'offline':
      return { text: `sent while you were offline · ${timeOf(delivery.serverReceivedTs)}`, title: 'The server kept this message for you until you signed in' };
  }
};

/** Adds a message to the top of `list`. */
export const showMessage = (list: HTMLElement, { from, message, thumbnailUrl, delivery, onSave }: MessageRow): HTMLLIElement => {
  const meta = element('div', { className: 'meta' }, element('span', { className: 'from' }, from));
  const row = element('li', {});
  row.dataset['type'] = message.messageType;
  if (delivery) {
    row.dataset['delivery'] = delivery.kind;
    const { text, title } = deliveryNote(delivery);
    meta.append(element('span', { className: `note ${delivery.kind}`, title }, text));
  }
  switch (message.messageType) {
    case 'TEXT':
      meta.append(element('span', {}, message.text));
      break;
    case 'RAW':
      meta.append(element('span', {}, `${formatSize(message.rawMessage.length)} of raw bytes`));
      break;
    case 'FILE':
    case 'IMAGE': {
      if (thumbnailUrl) row.append(element('img', { src: thumbnailUrl, alt: `Thumbnail of ${message.fileName}`, className: 'thumbnail' }));
      meta.append(element('strong', { className: 'file-name' }, message.fileName || message.mediaId), element('span', {}, formatSize(message.size)));
      if (message.messageType === 'IMAGE') {
        meta.append(element('span', { className: 'dims' }, `${message.width} × ${message.height}`));
      }
      if (message.description) meta.append(element('span', {}, message.description));
      const save = element('button', { type: 'button', textContent: 'Save' });
      save.setAttribute('aria-label', `Save ${message.fileName || message.mediaId}`);
      save.addEventListener('click', onSave);
      meta.append(save);
      break;
    }
  }
  row.append(meta);
  list.prepend(row);
  return row;
};

/** What a peer's dot shows: its online status, or `UNKNOWN` until the server has told it. */
export type PresenceShown = PeerOnlineState | 'UNKNOWN';

/** The title (and accessible name) of a peer's dot. */
export const presenceTitle = (peerId: string, state: PresenceShown): string => {
  switch (state) {
    case 'ONLINE':
      return `${peerId} is online`;
    case 'UNREACHABLE':
      return `${peerId} is unreachable: their connection dropped; messages reach them when it is back`;
    case 'OFFLINE':
      return `${peerId} is offline: files sent now are kept for their next sign-in`;
    case 'UNKNOWN':
      return `${peerId}: online status not known yet`;
  }
};

/**
 * Adds a peer to `list`, in the order met: a dot for its online status (`UNKNOWN` until {@link setPresence})
 * and its ID as a button that opens the conversation with it.
 */
export const showPeer = (list: HTMLElement, peerId: string, onOpen: () => void): HTMLLIElement => {
  const dot = element('span', { className: 'presence' });
  dot.setAttribute('role', 'img');
  const open = element('button', { type: 'button', textContent: peerId });
  open.setAttribute('aria-label', `Open the conversation with ${peerId}`);
  open.addEventListener('click', onOpen);
  const row = element('li', {}, dot, open);
  row.dataset['peer'] = peerId;
  setPresence(row, 'UNKNOWN');
  list.append(row);
  return row;
};

/** Shows a peer's online status on its row: the dot's colour (by `data-presence`) and its title. */
export const setPresence = (row: HTMLElement, state: PresenceShown): void => {
  const peerId = row.dataset['peer'] ?? '';
  row.dataset['presence'] = state;
  const dot = row.querySelector<HTMLElement>('.presence');
  if (!dot) return;
  const title = presenceTitle(peerId, state);
  dot.title = title;
  dot.setAttribute('aria-label', title);
};
