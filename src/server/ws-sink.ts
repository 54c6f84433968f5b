/**
 * The sink of a WebSocket session: events and answers go out as control frames on the socket attached
 * now. It never pushes back: what waits on a socket is bounded by `slowReaderBytes` in `ws-output.ts`,
 * which cuts a peer that does not read. Grace, replay and resumption are `server-sessions.ts`.
 * @module
 */
import { CloseCode, type ServerFrame } from '../protocol/ws-frames.js';
import type { SessionSink } from './server-sessions.js';
import type { WsOutput } from './ws-output.js';

/**
 * Event `seq` as the text of the `event` frame a socket is sent, from the event's JSON (serialized once
 * for every session it goes to): byte for byte `JSON.stringify({ type: 'event', seq, event })`.
 */
export const wsEventText = (seq: number, eventJson: string): string => `{"type":"event","seq":${seq},"event":${eventJson}}`;

/** What an event's frame adds to its JSON, at most: `{"type":"event","seq":`, 16 digits, `,"event":` and `}`. */
export const EVENT_FRAME_CHARS = 48;

/** A socket of a session: events (their JSON, see `ws-sessions.ts`) and answers go to it as control frames. */
export interface WsSink extends SessionSink<string> {
  /** Sends an answer (or any control frame) on this socket. */
  send(frame: ServerFrame): void;
}

/** What the sink reads of a socket (a `ws` WebSocket; a spec's fake). */
export interface SinkSocket {
  readonly readyState: number;
  readonly OPEN: number;
}

/**
 * The sink of one socket, writing through its `output`. Ending the session, or losing it to a newer
 * socket (the client gave up on this one: half-open), closes it with `sessionEnded`.
 * @example
 * sessions.attach(session, wsSink(ws, output, options.onSlowReader), resume.lastSeq);
 */
export const wsSink = (socket: SinkSocket, output: Pick<WsOutput, 'sendText' | 'sendEncoded' | 'end'>, onSlowReader?: () => void): WsSink => {
  const endSession = (): void => output.end(CloseCode.sessionEnded, 'the session ended');
  return {
    get open() {
      return socket.readyState === socket.OPEN;
    },
    full: false,
    write: (seq, eventJson) => output.sendEncoded(wsEventText(seq, eventJson)),
    send: (frame) => output.sendText(frame),
    // Unreached while the sink never pushes back (its cursor follows every event); cut as too slow if it were.
    fellBehind: () => {
      onSlowReader?.();
      output.end(CloseCode.tooSlow, 'reading too slowly');
    },
    end: endSession,
    replaced: endSession,
  };
};
