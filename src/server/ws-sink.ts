/**
 * The sink of a WebSocket session: events and answers go out as control frames on the socket attached
 * now. It never pushes back: what waits on a socket is bounded by `slowReaderBytes` in `ws-output.ts`,
 * which cuts a peer that does not read. Grace, replay and resumption are `server-sessions.ts`.
 * @module
 */
import { CloseCode, type ServerFrame } from '../protocol/ws-frames.js';
import type { SessionSink } from './server-sessions.js';
import type { WsOutput } from './ws-output.js';

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

/** What a sink writes through (a `WsOutput`; a spec's fake). */
export type SinkOutput = Pick<WsOutput, 'sendText' | 'sendEvent' | 'end'>;

/**
 * The sink of one socket, writing through its `output`. Ending the session, or losing it to a newer
 * socket (the client gave up on this one: half-open), closes it with `sessionEnded`. A class, its methods
 * on its prototype: the WebSocket endpoint's connection is one (decision 119), so a socket holds no
 * closures for its sink.
 */
export class WsSocketSink<O extends SinkOutput = SinkOutput> implements WsSink {
  constructor(
    protected readonly socket: SinkSocket,
    /** The socket's output: `O`, so a subclass that is the socket's connection uses all of it. */
    protected readonly output: O,
    private readonly onSlowReader?: () => void,
  ) {}

  get open(): boolean {
    return this.socket.readyState === this.socket.OPEN;
  }

  /** Never: it does not push back (what waits on the socket is bounded by the output). */
  get full(): boolean {
    return false;
  }

  write(seq: number, eventJson: string): void {
    this.output.sendEvent(seq, eventJson);
  }

  send(frame: ServerFrame): void {
    this.output.sendText(frame);
  }

  /** Unreached while the sink never pushes back (its cursor follows every event); cut as too slow if it were. */
  fellBehind(): void {
    this.onSlowReader?.();
    this.output.end(CloseCode.tooSlow, 'reading too slowly');
  }

  end(): void {
    this.output.end(CloseCode.sessionEnded, 'the session ended');
  }

  replaced(): void {
    this.end();
  }
}

/**
 * The sink of one socket ({@link WsSocketSink}).
 * @example
 * sessions.attach(session, wsSink(ws, output, options.onSlowReader), resume.lastSeq);
 */
export const wsSink = (socket: SinkSocket, output: SinkOutput, onSlowReader?: () => void): WsSink =>
  new WsSocketSink(socket, output, onSlowReader);
