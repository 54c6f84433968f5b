/**
 * The WebSocket transport's default on Node (20 has no stable global one): {@link DirectWebSocket}
 * (decision 140), or the `ws` package's client if this `ws` lacks what the direct one sends with.
 * Loaded on demand through `node.ts`, never in browsers, so `ferry/ws` imports nothing Node-only
 * statically.
 * @module
 */
import { WebSocket } from 'ws';
import { asBuffer, canFrame, DirectWebSocket, OWNED_BINARY, senderFrame } from './node-direct-ws.js';
import type { WebSocketConstructor } from './websocket.js';

/** The part of `ws`'s private sender that {@link UncompressedWebSocket.sendOwned} uses (ws 8). */
interface WsSender {
  readonly _state: number;
  readonly _queue: readonly unknown[];
  sendFrame(list: readonly Uint8Array[], cb: (error?: Error) => void): void;
}

/**
 * `ws`'s client without `permessage-deflate`, which it offers by default: media does not compress, and a
 * compressed send is asynchronous, so it would keep a reference to a frame buffer the upload reuses.
 *
 * `sendOwned` (decision 111): `ws`'s `send` masks a binary frame into a new buffer (every typed array is
 * "read-only" to it), one allocation and copy per frame, 30 MiB of garbage per 30 MiB upload. The frame
 * buffers of an upload are the link's own, so this masks them in place, with a fresh random key per
 * frame as RFC 6455 requires, through the same `Sender.frame` and `sendFrame` that `ws`'s `send` calls,
 * and hands the buffer back (`sent`) once the socket wrote it. Only while `ws`'s sender is idle (no
 * compression, no queued Blob): otherwise, and if a later `ws` lacks these internals, it sends a copy as
 * `send` does.
 */
class UncompressedWebSocket extends WebSocket {
  constructor(url: string | URL, protocols?: string | string[]) {
    super(url, protocols, { perMessageDeflate: false });
  }

  sendOwned(data: Uint8Array<ArrayBuffer>, sent: () => void): void {
    const sender = (this as unknown as { _sender?: WsSender })._sender;
    if (this.readyState !== WebSocket.OPEN || !sender || typeof sender.sendFrame !== 'function' || sender._state !== 0 || sender._queue.length > 0) {
      this.send(data, { binary: true }, () => sent());
      return;
    }
    const frame = senderFrame(asBuffer(data), OWNED_BINARY);
    sender.sendFrame(frame, () => sent());
  }
}

/** The client for `url`: {@link DirectWebSocket}, or `ws`'s if this `ws` lacks the `Sender.frame` the direct client sends with. */
function NodeWebSocketFor(url: string): UncompressedWebSocket | DirectWebSocket {
  return canFrame ? new DirectWebSocket(url) : new UncompressedWebSocket(url);
}

/** The Node client, typed as the standard API the transport uses (`new NodeWebSocket(url)`). */
export const NodeWebSocket = NodeWebSocketFor as unknown as WebSocketConstructor;
