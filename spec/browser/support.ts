/**
 * Driving the demo page in Debian's `chromium` with `playwright-core`: launch, one signed-in page per
 * user, console errors collected, and a bounded wait for the server's data folder.
 * @module
 */
import { existsSync } from 'node:fs';
import { readdir } from 'node:fs/promises';
import { join } from 'node:path';
import { type Browser, type BrowserContext, chromium, type Page } from 'playwright-core';

/** Where `.ci/run` installs it (`apt-get install chromium`); `FERRY_TEST_CHROMIUM` names another binary. */
export const CHROMIUM = process.env.FERRY_TEST_CHROMIUM ?? '/usr/bin/chromium';

/**
 * Whether the browser specs run: always in CI (where a missing browser must fail them, not skip them),
 * elsewhere only if chromium is installed.
 */
export const browserSpecsRun = process.env.CI === 'true' || existsSync(CHROMIUM);

/** Launches headless chromium; fails loudly when it is missing. */
export const launchChromium = async (): Promise<Browser> => {
  if (!existsSync(CHROMIUM)) throw new Error(`${CHROMIUM} is missing: install it with "apt-get install -y chromium" (.ci/run does)`);
  return chromium.launch({
    executablePath: CHROMIUM,
    args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-background-networking', '--disable-component-update', '--disable-sync'],
    timeout: 30_000,
  });
};

/** A page of the demo, signed in, with every console error and uncaught exception it shows. */
export interface DemoPage {
  readonly page: Page;
  readonly context: BrowserContext;
  readonly errors: string[];
}

/** Opens the demo in a fresh context (its own storage) and signs in as `userId` over `transport`. */
export const signedInPage = async (browser: Browser, url: string, userId: string, transport: 'http' | 'ws'): Promise<DemoPage> => {
  const context = await browser.newContext({ acceptDownloads: true, viewport: { width: 900, height: 760 } });
  const page = await context.newPage();
  const errors: string[] = [];
  page.on('console', (message) => {
    if (message.type() === 'error') errors.push(message.text());
  });
  page.on('pageerror', (error) => errors.push(String(error)));
  await page.goto(url);
  await page.waitForSelector('body[data-ready]');
  await page.getByLabel('User ID').fill(userId);
  await page.getByRole('radio', { name: transport === 'ws' ? 'WebSocket' : 'HTTP' }).check();
  await page.getByRole('button', { name: 'Sign in' }).click();
  const label = transport === 'ws' ? 'WebSocket' : 'HTTP';
  await page.waitForFunction((text) => document.getElementById('status')?.textContent === text, `${userId} · ${label} · CONNECTED`);
  return { page, context, errors };
};

/** Opens a conversation: a peer, or a channel the page joins. */
export const openConversation = async (page: Page, kind: 'peer' | 'channel', id: string): Promise<void> => {
  await page.getByRole('radio', { name: kind === 'peer' ? 'Peer' : 'Channel' }).check();
  await page.getByLabel('Peer or channel ID').fill(id);
  await page.getByRole('button', { name: 'Open' }).click();
  await page.waitForFunction((text) => document.getElementById('conversation')?.textContent === text, kind === 'peer' ? `Sending to ${id}` : `In channel #${id}`);
};

/** Files under the data folder's `parts/`, `media/` and `meta/`, as `folder/name`. */
export const storedFiles = async (dataDir: string): Promise<string[]> => {
  const listed = await Promise.all(
    ['parts', 'media', 'meta'].map(async (folder) => (await readdir(join(dataDir, folder)).catch(() => [] as string[])).map((name) => `${folder}/${name}`)),
  );
  return listed.flat().sort();
};

/** Polls `check` every 50 ms until it holds, at most `timeoutMs`; then fails with `what`. */
export const eventually = async (what: string, check: () => Promise<boolean>, timeoutMs = 10_000): Promise<void> => {
  const deadline = Date.now() + timeoutMs;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
};
