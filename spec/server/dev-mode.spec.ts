/**
 * Development mode needs a checkout: from an installed package (no `web/`) it is refused before the
 * server starts, instead of announcing a demo page that answers 500 (issue 16, "The published package").
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { devModeUnavailable } from '../../src/server/dev.js';

describe('development mode', () => {
  it('is available in this checkout', async () => {
    expect(await devModeUnavailable()).toBeUndefined();
  });

  it('says why it cannot run where the demo page is missing, as in an installed package', async () => {
    const installed = mkdtempSync(join(tmpdir(), 'ferry-installed-'));
    try {
      expect(await devModeUnavailable(installed)).toMatch(/needs a checkout of ferry: .*web\/index\.html is missing/);
    } finally {
      rmSync(installed, { recursive: true, force: true });
    }
  });
});
