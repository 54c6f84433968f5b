/**
 * A raw `ws` socket for protocol specs: sends what the spec writes, and hands out the server's text
 * frames by type in arrival order.
 */
import { WebSocket } from 'ws';
import { createClient, textMessage } from '../../src/index.js';
import { wsTransport } from '../../transports/ws.js';

/** A frame as the specs read it (any field the server may send). */
export interface RawFrame {
  readonly type: string;
  readonly id?: number;
  readonly failure?: { readonly _tag: string };
  readonly [key: string]: unknown;
}

export interface Raw {
  readonly ws: WebSocket;
  /** Text frames received and not taken by `next`, parsed. */
  readonly frames: RawFrame[];
  readonly closed: Promise<{ code: number; reason: string }>;
  /** The first frame of `type` not taken yet, now or when it arrives. */
  next(type: string): Promise<RawFrame>;
}

/** Opens a raw socket to `url`. */
export const raw = async (url: string): Promise<Raw> => {
  const ws = new WebSocket(url);
  const frames: RawFrame[] = [];
  const waiting: { type: string; resolve: (f: RawFrame) => void }[] = [];
  ws.on('message', (data, isBinary) => {
    if (isBinary) return;
    const parsed = JSON.parse(String(data)) as RawFrame | RawFrame[];
    for (const frame of Array.isArray(parsed) ? parsed : [parsed]) {
      const at = waiting.findIndex((w) => w.type === frame.type);
      if (at >= 0) waiting.splice(at, 1)[0]?.resolve(frame);
      else frames.push(frame);
    }
  });
  const closed = new Promise<{ code: number; reason: string }>((resolve) => ws.on('close', (code, reason) => resolve({ code, reason: String(reason) })));
  ws.on('error', () => undefined);
  await new Promise((resolve) => ws.once('open', resolve));
  return {
    ws,
    frames,
    closed,
    next: (type) => {
      const seen = frames.find((f) => f.type === type);
      if (seen) {
        frames.splice(frames.indexOf(seen), 1);
        return Promise.resolve(seen);
      }
      return new Promise((resolve) => waiting.push({ type, resolve }));
    },
  };
};

/** A raw socket logged in as `userId` with `token`, its `welcome` taken. */
export const rawLoggedIn = async (url: string, userId: string, token: string): Promise<Raw> => {
  const socket = await raw(url);
  socket.ws.send(JSON.stringify({ type: 'hello', version: 1, userId, token }));
  await socket.next('welcome');
  return socket;
};

/** The server at `url` still serves: a real client logs in and messages itself through a peer. */
export const stillServing = async (url: string, issueToken: (userId: string) => string): Promise<void> => {
  const client = createClient({ transport: wsTransport({ url }) });
  await client.login({ userId: 'healthy', token: issueToken('healthy') });
  await client.sendMessageToPeer('healthy', textMessage('ok'));
  await client.logout();
};
