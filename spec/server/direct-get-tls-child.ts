/**
 * Child of `direct-get.spec.ts`: an https server with the test certificate (`spec/fixtures/tls`, for
 * 127.0.0.1 and localhost) and one `directGet` of `argv[2]` random bytes from it. Prints
 * `{ status, length, hashed, changed }` (chunks that changed while held), or `{ error: code }` when the connection fails (an untrusted certificate).
 */
import { createHash, randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { createServer } from 'node:https';
import { directGet } from '../../src/platform/node-direct-get.js';

const fixture = (name: string): Buffer => readFileSync(new URL(`../fixtures/tls/${name}`, import.meta.url));
const body = randomBytes(Number(process.argv[2]));
const server = createServer({ key: fixture('key.pem'), cert: fixture('cert.pem') }, (_req, res) => {
  res.setHeader('Content-Length', body.length);
  res.end(body);
});
await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
const { port } = server.address() as { port: number };
try {
  const answer = await directGet(`https://127.0.0.1:${port}/media`, { headers: {}, signal: new AbortController().signal });
  if (!answer) throw new Error('no Content-Length');
  // Each chunk is compared with a copy taken on arrival after a turn of the event loop, as a file sink
  // waiting for its disk would hold it: Node's TLS layer keeps decrypting while reading is stopped.
  const hash = createHash('sha256');
  let changed = 0;
  for (let chunk = await answer.next(); chunk; chunk = await answer.next()) {
    const copy = Buffer.from(chunk);
    await new Promise((resolve) => setImmediate(resolve));
    if (!copy.equals(chunk)) changed++;
    hash.update(chunk);
  }
  const hashed = hash.digest('hex') === createHash('sha256').update(body).digest('hex');
  console.log(JSON.stringify({ status: answer.status, length: answer.length, hashed, changed }));
} catch (error) {
  console.log(JSON.stringify({ error: (error as { code?: string }).code ?? String(error) }));
} finally {
  server.close();
}
