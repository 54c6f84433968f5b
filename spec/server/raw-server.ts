/**
 * A TCP server on loopback for the specs of Node clients that speak HTTP themselves (`directGet`,
 * `DirectWebSocket`): it waits for each connection's request head, records it, and hands the socket to
 * the spec, which writes whatever answer it is testing, in whatever pieces.
 */
import { createServer, type Server, type Socket } from 'node:net';

/** A TCP server that answers each connection with `respond` once its request head arrived, and records the heads. */
export const rawServer = async (respond: (socket: Socket, request: string) => unknown) => {
  const sockets = new Set<Socket>();
  const requests: string[] = [];
  let closed = 0;
  const server: Server = createServer((socket) => {
    sockets.add(socket);
    socket.on('close', () => {
      sockets.delete(socket);
      closed++;
    });
    socket.on('error', () => undefined);
    let head = '';
    const onData = (chunk: Buffer): void => {
      head += chunk.toString('latin1');
      if (!head.includes('\r\n\r\n')) return;
      socket.off('data', onData);
      requests.push(head);
      void respond(socket, head);
    };
    socket.on('data', onData);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as { port: number };
  return {
    port,
    requests,
    /** Connections closed so far. */
    get closed() {
      return closed;
    },
    /** Cuts every connection and stops listening. */
    close: () => {
      for (const socket of sockets) socket.destroy();
      return new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
};

/** A {@link rawServer}. */
export type RawServer = Awaited<ReturnType<typeof rawServer>>;
