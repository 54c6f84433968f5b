/**
 * Child of `direct-ws.spec.ts`: a `ws` server on https with the test certificate (`spec/fixtures/tls`,
 * for 127.0.0.1 and localhost), and one `DirectWebSocket` over `wss:` to it. The server echoes what it
 * gets and, when asked, pushes `argv[2]` binary messages of 256 KiB; the client holds each pushed
 * message across a turn of the event loop (Node keeps decrypting into the read buffer meanwhile) before
 * checking it, and answers the ping the server sends before each. Prints `{ opened, echoed, pushed, intact,
 * pongs, code }`, or `{ error, code }` when the connection fails (an untrusted certificate).
 */
import { createHash, randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { createServer } from 'node:https';
import { WebSocketServer } from 'ws';
import { DirectWebSocket, recycleMessage } from '../../src/platform/node-direct-ws.js';

const fixture = (name: string): Buffer => readFileSync(new URL(`../fixtures/tls/${name}`, import.meta.url));
const count = Number(process.argv[2]);
const pushed = Array.from({ length: count }, () => randomBytes(256 * 1024));
const sha = (bytes: Uint8Array): string => createHash('sha256').update(bytes).digest('hex');
const server = createServer({ key: fixture('key.pem'), cert: fixture('cert.pem') });
const wss = new WebSocketServer({ server });
let pongs = 0;
wss.on('connection', (socket) => {
  socket.on('pong', () => pongs++);
  socket.on('message', (data: Buffer, binary) => {
    // A ping before each: the client answers it from inside the read that brought it (a write while Node
    // is handing it decrypted records).
    if (!binary && data.toString() === 'push') for (const bytes of pushed) socket.ping(), socket.send(bytes);
    else socket.send(data, { binary });
  });
});
await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
const { port } = server.address() as { port: number };

const big = randomBytes(1024 * 1024 + 5);
const result = await new Promise<Record<string, unknown>>((resolve) => {
  const client = new DirectWebSocket(`wss://localhost:${port}/v1/ws`);
  let opened = false;
  let error: string | undefined;
  const echoes: (string | Uint8Array)[] = [];
  let got = 0;
  let intact = 0;
  client.onerror = ((event: { error: { code?: string } }) => (error ??= event.error.code ?? String(event.error))) as never;
  client.onopen = (() => {
    opened = true;
    client.send('hello over TLS');
    client.sendOwned(new Uint8Array(big), () => client.send('push'));
  }) as never;
  client.onmessage = ((event: { data: string | Uint8Array }) => {
    const { data } = event;
    if (echoes.length < 2) return void echoes.push(typeof data === 'string' ? data : data.slice());
    if (typeof data === 'string') return;
    const index = got++;
    const before = sha(data);
    setImmediate(() => {
      if (sha(data) === before && before === sha(pushed[index] as Uint8Array)) intact++;
      recycleMessage(data);
      if (index === count - 1) client.close(1000);
    });
  }) as never;
  client.onclose = ((event: { code: number }) =>
    resolve(
      error !== undefined && !opened
        ? { error, code: event.code }
        : { opened, echoed: echoes[0] === 'hello over TLS' && Buffer.compare(echoes[1] as Uint8Array, big) === 0, pushed: got, intact, pongs, code: event.code },
    )) as never;
});
console.log(JSON.stringify(result));
for (const socket of wss.clients) socket.terminate();
server.close();
