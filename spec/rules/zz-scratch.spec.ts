import { it, expect } from 'vitest';
import { join } from 'node:path';
import { existsSync, readdirSync } from 'node:fs';
import { getEventListeners } from 'node:events';
import { world, bytes, gate, flush, stateOf, record, stalled, settle, tempFolder, uploaded } from './support.js';
import { nodeFiles } from '../../src/node-files.js';
import type { FileAccess, Task } from '../../src/index.js';
import { rawMessage, createClient, memoryTransport, createHub } from '../../src/index.js';

it('commit race', async () => {
  const w = world();
  const owner = await w.loggedIn('alice');
  const id = await uploaded(owner);
  let d!: Task<void>;
  const files: FileAccess = { ...nodeFiles, createSink: async (p) => { const s = await nodeFiles.createSink(p); return { get length() { return s.length; }, write: (b) => s.write(b), discard: () => s.discard(), commit: () => { const c = s.commit(); void d.cancel(); return c; } }; } };
  const c = await w.loggedIn('bob', { files });
  const dir = tempFolder();
  const target = join(dir.path, 'out.bin');
  d = c.downloadMediaToFile(id, target);
  console.log(await settle(d.result).then(r => r.ok ? 'ok' : String(r.error)));
  await flush(20);
  console.log('entries', dir.entries(), existsSync(target));
});

it('cause and listeners', async () => {
  const w = world({ gate: stalled() });
  const c = await w.loggedIn('alice');
  const ac = new AbortController();
  const up = c.createFileMessageByUploading(bytes(10), { signal: ac.signal });
  await flush();
  const why = new Error('why');
  ac.abort(why);
  const r = await settle(up.result);
  console.log(r.ok ? 'ok' : [(r.error as Error).cause, stateOf(up)]);
  const ac2 = new AbortController(); ac2.abort(why);
  const up2 = c.createFileMessageByUploading(bytes(10), { signal: ac2.signal });
  console.log(stateOf(up2), await settle(up2.result).then(r => r.ok ? 'ok' : [String(r.error), (r.error as Error).cause]));
});

it('listeners after done', async () => {
  const w = world();
  const c = await w.loggedIn('alice');
  const ac = new AbortController();
  const up = c.createFileMessageByUploading(bytes(10), { signal: ac.signal });
  console.log('during', getEventListeners(ac.signal, 'abort').length);
  await up.result;
  console.log('after', getEventListeners(ac.signal, 'abort').length);
  const d = c.downloadMediaToMemory((await up.result).mediaId, { signal: ac.signal });
  await d.result;
  console.log('after dl', getEventListeners(ac.signal, 'abort').length);
});

it('misc bad input', async () => {
  try { rawMessage(bytes(3), null as never); } catch (e) { console.log(String(e)); }
  const hub = createHub();
  try { const c = createClient({ transport: memoryTransport(hub), clock: 42 as never }); console.log('created'); 
    await c.login({ userId: 'a', token: hub.issueToken('a') });
    const up = c.createFileMessageByUploading(bytes(10));
    console.log(await settle(up.result));
  } catch (e) { console.log(String(e)); }
  hub.close();
});
