/**
 * What the user sends: the bubble first, at once; then, for a file, the upload (an IMAGE with a canvas
 * thumbnail when the browser can decode it, else a FILE), its caption as the message's `description`
 * (decision 106); then the message, and on the bubble how it went.
 * @module
 */
import {
  FerryError,
  type FileMessage,
  IMAGE_PROBE_BYTES,
  type ImageMessage,
  type Message,
  probeImage,
  type Task,
  textMessage,
} from '../src/index.js';
import { type Bubble, type BubbleBody, previewOf, showBubble } from './bubble.js';
import { makeThumbnail, thumbnailBudget } from './canvas-thumbnail.js';
import type { Conversation, Signed } from './chat-session.js';
import type { Lightbox } from './lightbox.js';
import { failureWords } from './words.js';

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

export const sendText = async (me: Signed, conversation: Conversation, text: string): Promise<void> => {
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
export const sendFile = async (me: Signed, conversation: Conversation, file: File, caption: string): Promise<void> => {
  const at = Date.now();
  const isImage = file.type.startsWith('image/');
  const pictureUrl = isImage ? URL.createObjectURL(file) : undefined;
  if (pictureUrl) me.urls.push(pictureUrl);
  const body: BubbleBody = pictureUrl
    ? { kind: 'image', fileName: file.name, size: file.size, width: 0, height: 0, caption, pictureUrl, onOpen: () => showOwnPicture(me.view.lightbox, file.name, caption, pictureUrl) }
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

/** One's own image, full size: the file itself, nothing to download. */
const showOwnPicture = (lightbox: Lightbox, name: string, caption: string, url: string): void => {
  lightbox.loading(name, caption);
  lightbox.show(url);
};

