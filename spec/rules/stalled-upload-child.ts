/**
 * Run by `idle-timeout.spec.ts` on the real clock: an upload over a network that never moves a byte (a
 * memory-transport gate that never settles and holds no timer), with a 300 ms idle timeout. Nothing but
 * the transfer's own watchdog keeps the process alive; prints, as JSON, how the upload ended.
 */
import { createClient, createHub, memoryStore, memoryTransport } from '../../src/index.js';

const hub = createHub({ store: memoryStore() });
const never = new Promise<void>(() => undefined);
const client = createClient({ transport: memoryTransport(hub, { gate: () => never }), idleTimeoutMs: 300 });
await client.login({ userId: 'alice', token: hub.issueToken('alice') });
// The session's own timers (token renewal) never keep a process alive: only the transfer's may.
const started = performance.now();
const outcome = await client.createFileMessageByUploading(new Uint8Array(1000)).result.then(
  () => ({ ok: true as const }),
  (error: { code?: number }) => ({ ok: false as const, code: error.code }),
);
process.stdout.write(`${JSON.stringify({ ...outcome, ms: Math.round(performance.now() - started) })}\n`);
await client.logout();
hub.close();
