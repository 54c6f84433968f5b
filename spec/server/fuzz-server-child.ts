/**
 * The server the fuzz specs attack, in a process of its own so that a crash is seen as an exit rather
 * than taking the test runner down: `node --import tsx spec/server/fuzz-server-child.ts <secret>`.
 * Prints one JSON line, `{"fuzzServer": {"url": …, "wsUrl": …}}`, once it listens (the server's own logs are
 * JSON lines on the same stdout); closes on SIGTERM.
 */
import { startServer } from '../../src/server/server.js';

const secret = process.argv[2];
if (!secret) throw new Error('usage: fuzz-server-child.ts <secret>');
// Short WebSocket grace and auth timeout: hundreds of fuzzed sockets must not keep their sessions for a minute.
const server = await startServer({ port: 0, secret, wsGraceMs: 1_000, wsAuthTimeoutMs: 2_000 });
process.stdout.write(`${JSON.stringify({ fuzzServer: { url: server.url, wsUrl: server.wsUrl } })}\n`);
process.once('SIGTERM', () => {
  void server.close().then(() => process.exit(0));
});
