/**
 * The wire of a session's server-sent event stream: how an event is framed (`id:` is its number, which a
 * reconnecting client sends back as `Last-Event-ID`), and the sink that writes frames to one response
 * only while its reader keeps up (decision 76). Grace, replay and resumption are `server-sessions.ts`.
 * @module
 */
import type { HubEvent } from '../hub/message-bus.js';
import type { SessionSink } from './server-sessions.js';

/** Unsent bytes of an event stream beyond which no more events are handed to its socket until it drains. */
export const STREAM_HIGH_WATER = 64 * 1024;

/**
 * An event as a server-sent event without its `id:` line: serialized once for every session it goes to,
 * and kept for replay as this text (its length, plus the `id:` line, its size).
 */
export const sseEvent = (event: HubEvent): string => `event: ${event.type}\ndata: ${JSON.stringify(event)}\n\n`;

/** The most an `id:` line adds to an {@link sseEvent} text: `id: `, 16 digits, a newline. */
export const SSE_ID_LINE = 21;

/** Event `seq` as a server-sent event, from its {@link sseEvent} text: what a stream is written. */
export const sseNumbered = (seq: number, text: string): string => `id: ${seq}\n${text}`;

/** Event `seq` as a server-sent event (the two above at once). */
export const sseFrame = (seq: number, event: HubEvent): string => sseNumbered(seq, sseEvent(event));

/** What the sink uses of a response: a `ServerResponse` is one (a spec passes a fake). */
export interface EventStreamResponse {
  readonly destroyed: boolean;
  readonly writableEnded: boolean;
  /** Bytes written and not yet handed to the kernel. */
  readonly writableLength: number;
  write(text: string): unknown;
  end(): unknown;
  destroy(): unknown;
}

/**
 * The sink of one event stream. No more is handed to its socket while more than
 * {@link STREAM_HIGH_WATER} bytes are unsent (its 'drain' pumps again), so a stream holds at most that
 * plus one event, and the session's replay is the one buffer of a slow reader. A reader that falls behind
 * the replay is cut (`onSlowReader` is told): its client reconnects with `Last-Event-ID` and resumes from
 * what the replay still has.
 * @example
 * sessions.attach(session, sseSink(res, () => metrics.refused('slowReader')), lastEventId);
 */
export const sseSink = (res: EventStreamResponse, onSlowReader?: () => void): SessionSink<string> => ({
  get open() {
    return !res.destroyed && !res.writableEnded;
  },
  get full() {
    return res.writableLength > STREAM_HIGH_WATER;
  },
  write: (seq, text) => {
    res.write(sseNumbered(seq, text));
  },
  fellBehind: () => {
    onSlowReader?.();
    res.destroy();
  },
  end: () => {
    res.end();
  },
  // The old stream is cut at once if its reader is behind (the new one replays what it missed), else ended.
  replaced: () => {
    if (res.writableLength > 0) res.destroy();
    else res.end();
  },
});
