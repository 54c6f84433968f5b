/**
 * Driving the demo page in Debian's `chromium` with `playwright-core`: launch, one signed-in page per
 * user, console errors collected, a bounded wait for the server's data folder, and a proxy whose links
 * can be cut (chromium's offline emulation leaves open connections open).
 * @module
 */
import { existsSync } from 'node:fs';
import { readdir } from 'node:fs/promises';
import { connect, createServer, type Socket } from 'node:net';
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

/** A page of the demo, signed in, with every console error, uncaught exception and failed request it shows. */
export interface DemoPage {
  readonly page: Page;
  readonly context: BrowserContext;
  readonly errors: string[];
  /** `METHOD path: error` of every request the browser failed or aborted (chromium's `net::ERR_ABORTED` and the like). */
  readonly failedRequests: string[];
}

/** The viewport of the specs and screenshots: a laptop's. */
export const VIEWPORT = { width: 1280, height: 800 } as const;

/** Watches `page` for console errors, uncaught exceptions and failed requests. */
export const watched = (page: Page, context: BrowserContext): DemoPage => {
  const errors: string[] = [];
  const failedRequests: string[] = [];
  page.on('console', (message) => {
    if (message.type() === 'error') errors.push(message.text());
  });
  page.on('pageerror', (error) => errors.push(String(error)));
  page.on('requestfailed', (request) => failedRequests.push(`${request.method()} ${new URL(request.url()).pathname}: ${request.failure()?.errorText ?? '?'}`));
  return { page, context, errors, failedRequests };
};

/** Signs `page` in as `userId` over `transport` and waits until the header says it is connected. */
export const signIn = async (page: Page, userId: string, transport: 'http' | 'ws'): Promise<void> => {
  await page.getByLabel('User ID').fill(userId);
  await page.getByRole('radio', { name: transport === 'ws' ? 'WebSocket' : 'HTTP' }).check();
  await page.getByRole('button', { name: 'Sign in' }).click();
  const label = transport === 'ws' ? 'WebSocket' : 'HTTP';
  await page.waitForFunction(
    (text) => {
      const status = document.getElementById('status');
      return status?.dataset['state'] === 'CONNECTED' && status.textContent === text;
    },
    `${userId} · ${label} · Connected`,
  );
};

/** Opens the demo in a fresh context (its own storage) and signs in as `userId` over `transport`. */
export const signedInPage = async (browser: Browser, url: string, userId: string, transport: 'http' | 'ws', viewport: { width: number; height: number } = VIEWPORT): Promise<DemoPage> => {
  const context = await browser.newContext({ acceptDownloads: true, viewport });
  const page = await context.newPage();
  const demo = watched(page, context);
  await page.goto(url);
  await page.waitForSelector('body[data-ready]');
  await signIn(page, userId, transport);
  return demo;
};

/** Opens a conversation from the sidebar's form: a peer, or a channel the page joins. */
export const openConversation = async (page: Page, kind: 'peer' | 'channel', id: string): Promise<void> => {
  await page.getByRole('radio', { name: kind === 'peer' ? 'Peer' : 'Channel' }).check();
  await page.getByLabel('Peer or channel ID').fill(id);
  await page.getByRole('button', { name: 'Open', exact: true }).click();
  await page.waitForFunction((text) => document.getElementById('conversation')?.textContent === text, kind === 'peer' ? id : `#${id}`);
};

/** Types `text` in the composer and sends it (with the files chosen, as their caption). */
export const send = async (page: Page, text: string): Promise<void> => {
  await page.getByLabel('Message', { exact: true }).fill(text);
  await page.getByRole('button', { name: 'Send', exact: true }).click();
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

/** A TCP proxy in front of a server, whose links a spec can cut. */
export interface CuttableProxy {
  /** `http://[::1]:<the server's port>`: open the page here and it talks to the server through the proxy. */
  readonly url: string;
  /** Drops every connection through the proxy and refuses new ones until {@link CuttableProxy.mend}. */
  cut(): void;
  /** Lets connections through again. */
  mend(): void;
  close(): Promise<void>;
}

/**
 * A proxy to `target`, a server on `127.0.0.1`. Development mode answers only a loopback host on its own
 * port (decision 48's guard against rebound names), so the proxy listens on the other loopback address,
 * `[::1]`, at the server's port: a page opened there is served and mints tokens as on the server itself.
 */
export const cuttableProxy = async (target: string): Promise<CuttableProxy> => {
  const { hostname, port } = new URL(target);
  const sockets = new Set<Socket>();
  let cut = false;
  const server = createServer((client) => {
    if (cut) return void client.destroy();
    const upstream = connect(Number(port), hostname);
    for (const socket of [client, upstream]) {
      sockets.add(socket);
      socket.on('error', () => undefined).on('close', () => {
        sockets.delete(socket);
        client.destroy();
        upstream.destroy();
      });
    }
    client.pipe(upstream);
    upstream.pipe(client);
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(Number(port), '::1', resolve);
  });
  const destroyAll = (): void => {
    for (const socket of sockets) socket.destroy();
  };
  return {
    url: `http://[::1]:${port}`,
    cut() {
      cut = true;
      destroyAll();
    },
    mend() {
      cut = false;
    },
    async close() {
      destroyAll();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
};
