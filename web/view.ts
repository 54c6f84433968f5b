/**
 * The demo page's lists: one row per transfer (progress bar, state, cancel button) and one per message
 * (sender, name, size, thumbnail with the image's width × height, save button). DOM only, no engine logic.
 * @module
 */
import type { Subscription } from 'rxjs';
import type { Message, Task, TransferState } from '../src/index.js';

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

/** What a message row shows and does. */
export interface MessageRow {
  /** `alice → you`, `you → #general`. */
  readonly from: string;
  readonly message: Message;
  /** A `blob:` URL of the thumbnail, if the message has one. */
  readonly thumbnailUrl?: string;
  /** Saves the media of a FILE or IMAGE message. */
  readonly onSave: () => void;
}

/** Adds a message to the top of `list`. */
export const showMessage = (list: HTMLElement, { from, message, thumbnailUrl, onSave }: MessageRow): HTMLLIElement => {
  const meta = element('div', { className: 'meta' }, element('span', { className: 'from' }, from));
  const row = element('li', {});
  row.dataset['type'] = message.messageType;
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
