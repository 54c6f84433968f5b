/**
 * What arrives: a message becomes a bubble in its conversation (unread while another is open); an image
 * opens full size, downloaded to memory once; Save downloads a file, SHA-256 verified by the engine, and
 * hands it to the browser through `<a download>`.
 * @module
 */
import { FerryError, type FileMessage, type ImageMessage, type Message, type Task } from '../src/index.js';
import { type Bubble, type BubbleBody, previewOf, showBubble } from './bubble.js';
import { type Conversation, type Signed, updateTitle } from './chat-session.js';
import { failureWords } from './words.js';

/** Code 6 (INTERRUPTED) of a transfer is a cancel or a sign-out: the bubble says so already. */
export const interrupted = (error: unknown): boolean => error instanceof FerryError && error.code === 6 && (error.operation === 'upload' || error.operation === 'download');

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
export const receive = (me: Signed, conversation: Conversation, from: string, message: Message, at: number): Bubble | undefined => {
  if (!me.live) return undefined;
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
  const { lightbox } = me.view;
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

