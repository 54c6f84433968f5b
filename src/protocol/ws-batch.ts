/**
 * Control frames sent together: frames queued in the same turn of the event loop go out at its end (a
 * microtask) as one text frame holding a JSON array, so a burst of a hundred chat messages costs one
 * WebSocket frame and one socket write instead of a hundred — the per-frame cost (framing, masking, a
 * write system call, the receiver's event) is what bounded the relay rate. Used by both ends
 * (`ws-link.ts`, `src/server/ws-output.ts`) once the peer said it reads batches; isomorphic.
 * @module
 */
import { MAX_BATCH_CHARS } from './ws-frames.js';

/** Queues control frames and writes them as one text frame at the end of the current turn. */
export interface TextBatcher {
  /** Queues a frame; it is written within this turn, in order with the frames queued before it. */
  push(frame: object): void;
  /** Queues a frame already serialized (its JSON text), as {@link TextBatcher.push} does. */
  pushText(text: string): void;
  /** Writes what is queued now (before a binary frame or a close, which must not overtake it). */
  flush(): void;
  /** Drops what is queued (the socket it was meant for is gone). */
  clear(): void;
}

/**
 * A batcher writing through `write`: one frame alone as itself, several as a JSON array. A batch never
 * exceeds {@link MAX_BATCH_CHARS} (so its UTF-8 stays under the peer's frame limit), except a single
 * frame that is larger on its own, which goes alone as it would without batching.
 */
export const textBatcher = (write: (text: string) => void): TextBatcher => {
  let parts: string[] = [];
  let chars = 0;
  let scheduled = false;
  const flush = (): void => {
    if (parts.length === 0) return;
    const text = parts.length === 1 ? (parts[0] as string) : `[${parts.join(',')}]`;
    parts = [];
    chars = 0;
    write(text);
  };
  const onTurnEnd = (): void => {
    scheduled = false;
    flush();
  };
  const pushText = (text: string): void => {
    if (parts.length > 0 && chars + text.length + 2 > MAX_BATCH_CHARS) flush();
    parts.push(text);
    chars += text.length + 1;
    if (!scheduled) {
      scheduled = true;
      queueMicrotask(onTurnEnd);
    }
  };
  return {
    push: (frame) => pushText(JSON.stringify(frame)),
    pushText,
    flush,
    clear() {
      parts = [];
      chars = 0;
    },
  };
};
