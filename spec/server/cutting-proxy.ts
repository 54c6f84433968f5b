/**
 * A TCP proxy for fault specs over real sockets: it resets a connection after N bytes in one direction
 * (N chosen by the spec, often by fast-check), and can refuse new connections for a while.
 */
import { connect, createServer, type Server, type Socket } from 'node:net';

/**
 * A proxy that resets the first connection to carry more than `cutAt` bytes in `direction`, once per
 * armed cut; every other connection passes untouched. While `down`, new connections are dropped at
 * once (a server out of reach).
 */
export const cuttingProxy = async (target: string) => {
  const { hostname, port } = new URL(target);
  let armed: { cutAt: number; direction: 'up' | 'down' } | undefined;
  let cuts = 0;
  const open = new Set<Socket>();
  let refusing = false;
  const server: Server = createServer((client: Socket) => {
    if (refusing) {
      client.destroy();
      return;
    }
    const upstream = connect(Number(port), hostname);
    open.add(client).add(upstream);
    client.on('close', () => open.delete(client));
    upstream.on('close', () => open.delete(upstream));
    let up = 0;
    let down = 0;
    const cut = (): void => {
      armed = undefined;
      cuts++;
      client.resetAndDestroy();
      upstream.destroy();
    };
    client.on('data', (chunk: Buffer) => {
      up += chunk.length;
      if (armed?.direction === 'up' && up > armed.cutAt) return cut();
      upstream.write(chunk);
    });
    upstream.on('data', (chunk: Buffer) => {
      down += chunk.length;
      if (armed?.direction === 'down' && down > armed.cutAt) return cut();
      client.write(chunk);
    });
    client.on('end', () => upstream.end());
    upstream.on('end', () => client.end());
    client.on('error', () => upstream.destroy());
    upstream.on('error', () => client.destroy());
    client.on('close', () => upstream.destroy());
    upstream.on('close', () => client.destroy());
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const address = server.address();
  return {
    url: `http://127.0.0.1:${typeof address === 'object' && address ? address.port : 0}`,
    arm: (cutAt: number, direction: 'up' | 'down') => {
      armed = { cutAt, direction };
    },
    /** Refuses (`true`) or accepts again (`false`) new connections. */
    setDown: (value: boolean) => {
      refusing = value;
    },
    /** Resets every open connection (with `setDown(true)`: the target is out of reach, kept connections too). */
    dropAll: () => {
      for (const socket of open) socket.resetAndDestroy();
    },
    get cuts() {
      return cuts;
    },
    close: () => {
      for (const socket of open) socket.destroy();
      return new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
};
