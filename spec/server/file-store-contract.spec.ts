/**
 * The transport contract suite over the memory transport, with the hub keeping its bytes in the durable
 * file store on a temporary folder: every rule of the contract holds with real file I/O underneath.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll } from 'vitest';
import { fileStore } from '../../src/server/file-store.js';
import { describeTransportContract } from '../contract/contract.js';
import { hubFixture } from '../contract/hub-fixture.js';

const root = mkdtempSync(join(tmpdir(), 'ferry-file-store-contract-'));
afterAll(() => rmSync(root, { recursive: true, force: true }));
let fixtures = 0;

describeTransportContract('memory over the file store', () =>
  hubFixture({
    store: (clock) => fileStore({ dataDir: join(root, `hub-${++fixtures}`), now: () => clock.now() }),
    // File system calls take more than a few event-loop turns.
    settle: async () => {
      for (let i = 0; i < 5; i++) await new Promise((resolve) => setImmediate(resolve));
      await new Promise((resolve) => setTimeout(resolve, 20));
    },
  }),
);
