/**
 * One message in a thread, as a bubble: the sender and the time, then a text, an image (its thumbnail,
 * opened full size on click) or a file card (name, size, Save), with a caption under it. The sender's own
 * bubble is on the right and shows how its message is doing: a progress ring with Cancel while the file
 * goes up, then `sent`, `received by bob` or `kept for bob`, or the failure in words, on this bubble and
 * nowhere else. DOM only, no engine logic: the page calls the methods of {@link Bubble}.
 * @module
 */
import type { Subscription } from 'rxjs';
import type { Task, TransferState } from '../src/index.js';
import { formatSize, formatTime, isoTime } from './readable.js';

/** Who wrote it and when (the server's time for a message received, the click's for one's own). */
export interface BubbleHead {
  readonly own: boolean;
  /** The sender's user ID; one's own bubble says `You`. */
  readonly from: string;
  readonly at: number;
}

/** What a bubble carries. */
export type BubbleBody =
  | { readonly kind: 'text'; readonly text: string }
  | {
      readonly kind: 'image';
      readonly fileName: string;
      readonly size: number;
      /** The image's own size, 0 × 0 when not known. */
      readonly width: number;
      readonly height: number;
      readonly caption: string;
      /** A `blob:` URL to show in the bubble (the thumbnail, or the sender's own file); none: a placeholder. */
      readonly pictureUrl?: string;
      /** Opens the image full size. */
      readonly onOpen: () => void;
    }
  | { readonly kind: 'file'; readonly fileName: string; readonly size: number; readonly caption: string };

/** How a bubble's message is doing; `data-state` of the bubble. */
export type BubbleState = 'sending' | 'sent' | 'received' | 'failed' | 'cancelled';

/** One bubble, and what the page changes on it. */
export interface Bubble {
  readonly element: HTMLLIElement;
  /** Follows an upload: a ring with the percentage and a Cancel button, until the task ends. */
  trackUpload(task: Task<unknown>, onCancelError: (error: unknown) => void): void;
  /** Follows a download (Save, or opening the image): a bar in the bubble until the task ends. */
  trackDownload(task: Task<unknown>): void;
  /** The message went: a short note after the time (`received by bob`, `kept for bob`, `sent`). */
  sent(note: string, noteKind: 'sent' | 'received' | 'kept'): void;
  /** A note on a received bubble (`sent while you were offline · 14:02`). */
  note(text: string, noteKind: string, title: string): void;
  /** The message did not go, or a Save failed: the words, on this bubble. */
  failed(words: string): void;
  /** The sender cancelled it: not sent. */
  cancelled(): void;
  /** A line under a file card or image: `Saved · SHA-256 verified`. */
  told(words: string): void;
  /** Adds a Save button (a file card's, or an image's) that calls `onSave`. */
  addSave(fileName: string, onSave: () => void): void;
}

const element = <K extends keyof HTMLElementTagNameMap>(tag: K, className: string, ...children: (Node | string)[]): HTMLElementTagNameMap[K] => {
  const node = document.createElement(tag);
  if (className) node.className = className;
  node.append(...children);
  return node;
};

const FINAL: ReadonlySet<TransferState> = new Set(['done', 'cancelled', 'failed']);

/** The file's extension, shown on the card's icon (`PDF`, `ZIP`, `FILE`). */
const extensionOf = (fileName: string): string => {
  const dot = fileName.lastIndexOf('.');
  const ext = dot > 0 ? fileName.slice(dot + 1, dot + 5).toUpperCase() : '';
  return ext || 'FILE';
};

const bodyOf = (body: BubbleBody): HTMLElement => {
  switch (body.kind) {
    case 'text':
      return element('p', 'text', body.text);
    case 'image': {
      const picture = element('button', 'picture');
      picture.type = 'button';
      picture.setAttribute('aria-label', `Open ${body.fileName} full size`);
      if (body.pictureUrl) {
        const img = element('img', '');
        img.src = body.pictureUrl;
        img.alt = body.fileName;
        picture.append(img);
      } else picture.append(element('span', 'placeholder', body.fileName));
      picture.addEventListener('click', body.onOpen);
      const known = body.width > 0 && body.height > 0;
      const details = element('p', 'details', element('span', 'file-name', body.fileName), ` · ${formatSize(body.size)}`);
      if (known) details.append(' · ', element('span', 'dims', `${body.width} × ${body.height}`));
      const figure = element('figure', 'image', picture, details);
      if (body.caption) figure.append(element('figcaption', 'caption', body.caption));
      return figure;
    }
    case 'file': {
      const icon = element('span', 'file-icon', extensionOf(body.fileName));
      icon.setAttribute('aria-hidden', 'true');
      const card = element('div', 'file-card', icon, element('span', 'file-name', body.fileName), element('span', 'size', formatSize(body.size)));
      const wrap = element('div', 'file', card);
      if (body.caption) wrap.append(element('p', 'caption', body.caption));
      return wrap;
    }
  }
};

/** A short preview of a body for the conversation list: the text, or `Photo · photo.jpg`, `File · report.pdf`. */
export const previewOf = (body: BubbleBody): string => {
  switch (body.kind) {
    case 'text':
      return body.text;
    case 'image':
      return `Photo · ${body.caption || body.fileName}`;
    case 'file':
      return `File · ${body.caption || body.fileName}`;
  }
};

/** Adds a bubble to the end of `thread` and scrolls it into view if the thread was at its end. */
export const showBubble = (thread: HTMLElement, head: BubbleHead, body: BubbleBody, state: BubbleState): Bubble => {
  const time = element('time', 'when', formatTime(head.at));
  time.dateTime = isoTime(head.at);
  const status = element('span', 'state');
  const meta = element('footer', 'meta', time, status);
  const main = bodyOf(body);
  const bubble = element('li', `bubble ${head.own ? 'own' : 'theirs'}`, element('header', 'from', head.own ? 'You' : head.from), main, meta);
  bubble.dataset['type'] = body.kind === 'text' ? 'TEXT' : body.kind === 'image' ? 'IMAGE' : 'FILE';
  bubble.dataset['from'] = head.from;
  const setState = (next: BubbleState, words: string): void => {
    bubble.dataset['state'] = next;
    status.textContent = words;
  };
  setState(state, state === 'sending' ? 'sending…' : '');

  const atEnd = thread.scrollHeight - thread.scrollTop - thread.clientHeight < 80;
  thread.append(bubble);
  if (atEnd) bubble.scrollIntoView({ block: 'end' });

  const replaceLine = (className: string, line: HTMLElement | undefined): void => {
    bubble.querySelector(`:scope > .${className}`)?.remove();
    if (line) meta.before(line);
  };

  return {
    element: bubble,
    trackUpload(task, onCancelError) {
      const name = body.kind === 'text' ? 'message' : body.fileName;
      const ring = element('span', 'ring', element('span', 'percent', '0%'));
      ring.setAttribute('role', 'progressbar');
      ring.setAttribute('aria-label', `Sending ${name}`);
      ring.setAttribute('aria-valuemin', '0');
      ring.setAttribute('aria-valuemax', '100');
      ring.setAttribute('aria-valuenow', '0');
      const cancel = element('button', 'cancel', 'Cancel');
      cancel.type = 'button';
      cancel.setAttribute('aria-label', `Cancel sending ${name}`);
      const progress = element('div', 'sending', ring, cancel);
      replaceLine('sending', progress);
      const subscriptions: Subscription[] = [];
      const percent = ring.querySelector('.percent') as HTMLElement;
      subscriptions.push(
        task.progress$.subscribe(({ currentSize, totalSize }) => {
          const value = totalSize > 0 ? Math.floor((currentSize / totalSize) * 100) : 0;
          ring.style.setProperty('--p', String(value));
          ring.setAttribute('aria-valuenow', String(value));
          ring.setAttribute('aria-valuetext', `${formatSize(currentSize)} of ${formatSize(totalSize)}`);
          percent.textContent = `${value}%`;
        }),
        task.state$.subscribe((current) => {
          bubble.dataset['transfer'] = current;
          if (current === 'pending') status.textContent = 'waiting for a free slot…';
          if (current === 'transferring') status.textContent = 'sending…';
          if (FINAL.has(current)) {
            progress.remove();
            for (const subscription of subscriptions) subscription.unsubscribe();
          }
        }),
      );
      cancel.addEventListener('click', () => {
        cancel.disabled = true;
        // A task that ended between the click and the call rejects with code 2: worth telling, not fatal.
        task.cancel().catch(onCancelError);
      });
    },
    trackDownload(task) {
      const bar = element('progress', '');
      bar.max = 1;
      bar.value = 0;
      bar.setAttribute('aria-label', `Downloading ${body.kind === 'text' ? 'message' : body.fileName}`);
      replaceLine('downloading', element('div', 'downloading', bar));
      const subscriptions: Subscription[] = [];
      subscriptions.push(
        task.progress$.subscribe(({ currentSize, totalSize }) => {
          bar.max = Math.max(totalSize, 1);
          bar.value = currentSize;
        }),
        task.state$.subscribe((current) => {
          if (!FINAL.has(current)) return;
          replaceLine('downloading', undefined);
          for (const subscription of subscriptions) subscription.unsubscribe();
        }),
      );
    },
    sent(note, noteKind) {
      setState('sent', '');
      status.replaceChildren(element('span', `note ${noteKind}`, note));
    },
    note(text, noteKind, title) {
      bubble.dataset['delivery'] = noteKind;
      const span = element('span', `note ${noteKind}`, text);
      span.title = title;
      status.replaceChildren(span);
    },
    failed(words) {
      if (bubble.dataset['state'] === 'sending') setState('failed', 'not sent');
      const problem = element('p', 'problem', words);
      problem.setAttribute('role', 'alert');
      replaceLine('problem', problem);
    },
    cancelled() {
      setState('cancelled', 'cancelled: not sent');
    },
    told(words) {
      replaceLine('problem', undefined);
      replaceLine('told', element('p', 'told', words));
    },
    addSave(fileName, onSave) {
      const save = element('button', 'save', 'Save');
      save.type = 'button';
      save.setAttribute('aria-label', `Save ${fileName}`);
      save.addEventListener('click', onSave);
      (main.querySelector('.file-card') ?? main.querySelector('.details') ?? main).append(save);
    },
  };
};
