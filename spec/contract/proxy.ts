/**
 * A TCP proxy on loopback that a spec can pause (no byte moves either way, as a stalled network) and
 * resume. Used by the contract suite to stall real transports.
 */
import { createServer, type Socket, connect } from 'node:net';

export interface PausableProxy {
  /** `http://127.0.0.1:<port>`: point the client here instead of at the server. */
  readonly url: string;
  pause(): void;
  resume(): void;
  close(): Promise<void>;
}

/** A proxy to `target` (`http://host:port`). */
export const pausableProxy = async (target: string): Promise<PausableProxy> => {
  const { hostname, port } = new URL(target);
  const pairs = new Set<[Socket, Socket]>();
  let paused = false;
  // Bytes held while paused, per direction, forwarded in order on resume. (Not `pipe`: a piped socket is
  // resumed by the pipe itself whenever its destination drains, so pausing it does not hold.)
  const held: { readonly to: Socket; readonly chunk: Buffer }[] = [];
  const forward = (to: Socket) => (chunk: Buffer) => {
    if (paused) held.push({ to, chunk });
    else to.write(chunk);
  };
  const server = createServer((client) => {
    const upstream = connect(Number(port), hostname);
    // No Nagle: a proxy that holds a small write for the peer's delayed ACK adds 40 ms no real link has.
    client.setNoDelay(true);
    upstream.setNoDelay(true);
    const pair: [Socket, Socket] = [client, upstream];
    pairs.add(pair);
    client.on('data', forward(upstream));
    upstream.on('data', forward(client));
    const drop = (): void => {
      pairs.delete(pair);
      client.destroy();
      upstream.destroy();
    };
    client.on('error', drop).on('close', drop);
    upstream.on('error', drop).on('close', drop);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const address = server.address();
  const proxyPort = typeof address === 'object' && address ? address.port : 0;
  return {
    url: `http://127.0.0.1:${proxyPort}`,
    pause() {
      paused = true;
    },
    resume() {
      paused = false;
      for (const { to, chunk } of held.splice(0)) if (!to.destroyed) to.write(chunk);
    },
    async close() {
      for (const [a, b] of pairs) {
        a.destroy();
        b.destroy();
      }
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
};
