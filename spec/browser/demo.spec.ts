/**
 * The engine in a real browser: the demo page served by `startServer({ dev: true })`, driven in headless
 * chromium. Set FERRY_SCREENSHOT=docs/demo.png to refresh the README's screenshot, and
 * FERRY_PRESENCE_SCREENSHOT=<file.png> for a picture of presence and offline messages.
 */
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import type { Browser, Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type FerryServer, startServer } from '../../src/server/server.js';
import { browserSpecsRun, cuttableProxy, type DemoPage, eventually, launchChromium, openConversation, signedInPage, storedFiles } from './support.js';

const IMAGE = resolve('spec/fixtures/images/jpeg-exif-thumbnail.jpg'); // 200 × 120
const IMAGE_NAME = 'jpeg-exif-thumbnail.jpg';

describe.runIf(browserSpecsRun)('the demo page in headless chromium', () => {
  let server: FerryServer;
  let browser: Browser;
  let dataDir: string;
  const pages: DemoPage[] = [];

  beforeAll(async () => {
    dataDir = await mkdtemp(join(tmpdir(), 'ferry-browser-'));
    server = await startServer({ dev: true, dataDir });
    browser = await launchChromium(); // without chromium this fails every test below, loudly
  });

  afterAll(async () => {
    await Promise.allSettled(pages.map(({ context }) => context.close()));
    await browser?.close();
    await server?.close();
    await rm(dataDir, { recursive: true, force: true });
  });

  const open = async (userId: string, transport: 'http' | 'ws'): Promise<DemoPage> => {
    const demo = await signedInPage(browser, server.url, userId, transport);
    pages.push(demo);
    return demo;
  };

  it('is served only in development mode', async () => {
    const plain = await startServer({});
    try {
      expect((await fetch(`${plain.url}/`)).status).toBe(404);
      expect((await fetch(`${plain.url}/dev/token?userId=alice`, { method: 'POST' })).status).toBe(404);
    } finally {
      await plain.close();
    }
    const page = await fetch(`${server.url}/`);
    expect(page.status).toBe(200);
    expect(page.headers.get('content-type')).toMatch(/^text\/html/);
    const foreign = await fetch(`${server.url}/dev/token?userId=alice`, { method: 'POST', headers: { Origin: 'https://example.com' } });
    expect(foreign.status).toBe(403);
  });

  for (const [transport, kind] of [['http', 'peer'], ['ws', 'channel']] as const) {
    it(`sends an image from alice to bob over ${transport} (${kind}): thumbnail, dimensions and saved bytes equal`, async () => {
      const alice = await open(`alice-${transport}`, transport);
      const bob = await open(`bob-${transport}`, transport);
      const conversation = kind === 'peer' ? `bob-${transport}` : `room-${transport}`;
      if (kind === 'channel') await openConversation(bob.page, 'channel', conversation);
      await openConversation(alice.page, kind, conversation);

      await alice.page.setInputFiles('#files', IMAGE);
      await alice.page.waitForSelector('#transfers li[data-state="done"]');
      await alice.page.waitForSelector('#messages li[data-type="IMAGE"]');

      const received = bob.page.locator('#messages li[data-type="IMAGE"]');
      await received.waitFor();
      expect(await received.locator('.dims').textContent()).toBe('200 × 120');
      expect(await received.locator('.from').textContent()).toBe(kind === 'peer' ? `alice-${transport} → you` : `alice-${transport} → #${conversation}`);
      const thumbnail = received.getByRole('img', { name: `Thumbnail of ${IMAGE_NAME}` });
      await thumbnail.waitFor();
      const size = await thumbnail.evaluate(async (img: HTMLImageElement) => {
        await img.decode();
        return [img.naturalWidth, img.naturalHeight];
      });
      expect(size).toEqual([200, 120]); // within the first attempt's 240 px, so kept at full size

      const [download] = await Promise.all([bob.page.waitForEvent('download'), received.getByRole('button', { name: `Save ${IMAGE_NAME}` }).click()]);
      expect(download.suggestedFilename()).toBe(IMAGE_NAME);
      const saved = await readFile(await download.path());
      expect(Buffer.compare(saved, await readFile(IMAGE))).toBe(0);
      await bob.page.waitForSelector('#transfers li[data-state="done"]');

      if (process.env.FERRY_SCREENSHOT && transport === 'ws') await sideBySide(alice, bob, process.env.FERRY_SCREENSHOT);
      expect(alice.errors).toEqual([]);
      expect(bob.errors).toEqual([]);
    });
  }

  it('shows a dot for each peer\'s presence, keeps a file for an offline peer, and marks it as kept when it arrives', async () => {
    const [aliceId, bobId] = ['alice-away', 'bob-away'];
    const alice = await open(aliceId, 'ws');
    await openConversation(alice.page, 'peer', bobId);
    const bobDot = alice.page.locator(`#peers li[data-peer="${bobId}"] .presence`);
    await presenceShown(alice.page, bobId, 'OFFLINE');
    expect(await bobDot.getAttribute('title')).toBe(`${bobId} is offline: files sent now are kept for their next sign-in`);
    expect(await colourOf(bobDot)).toBe(GREY);

    // Sent while bob is offline: the server keeps it, and alice's row says for whom.
    await alice.page.setInputFiles('#files', IMAGE);
    const kept = alice.page.locator('#messages li[data-delivery="kept"]');
    await kept.waitFor();
    expect(await kept.locator('.note').textContent()).toBe(`kept for ${bobId}`);
    expect(await kept.locator('.from').textContent()).toBe(`you → ${bobId}`);

    // bob signs in (through a proxy that can cut his link): the image arrives marked, and alice's dot for
    // him turns green.
    const proxy = await cuttableProxy(server.url);
    const bob = await signedInPage(browser, proxy.url, bobId, 'http');
    pages.push(bob);
    const arrived = bob.page.locator('#messages li[data-delivery="offline"]');
    await arrived.waitFor();
    expect(await arrived.locator('.from').textContent()).toBe(`${aliceId} → you`);
    expect(await arrived.locator('.note').textContent()).toMatch(/^sent while you were offline · \d{1,2}:\d\d/);
    expect(await arrived.locator('.dims').textContent()).toBe('200 × 120');
    await presenceShown(alice.page, bobId, 'ONLINE');
    expect(await bobDot.getAttribute('title')).toBe(`${bobId} is online`);
    expect(await colourOf(bobDot)).toBe(GREEN);
    // bob lists alice, who sent it, and sees her online; his copy of the image is the one she sent.
    await presenceShown(bob.page, aliceId, 'ONLINE');
    const [download] = await Promise.all([bob.page.waitForEvent('download'), arrived.getByRole('button', { name: `Save ${IMAGE_NAME}` }).click()]);
    expect(Buffer.compare(await readFile(await download.path()), await readFile(IMAGE))).toBe(0);

    // Sent while bob is online: received at once, not kept, not marked on his side.
    await alice.page.setInputFiles('#files', IMAGE);
    await alice.page.locator('#messages li[data-delivery="received"]').waitFor();
    expect(await alice.page.locator('#messages li[data-delivery="received"] .note').textContent()).toBe(`received by ${bobId}`);
    await eventually('the second image at bob', async () => (await bob.page.locator('#messages li[data-type="IMAGE"]').count()) === 2);
    expect(await bob.page.locator('#messages li[data-delivery="offline"]').count()).toBe(1);
    if (process.env.FERRY_PRESENCE_SCREENSHOT) await sideBySide(alice, bob, process.env.FERRY_PRESENCE_SCREENSHOT, true);

    // bob's link drops: amber while his session waits out its grace, green when he is back.
    proxy.cut();
    await presenceShown(alice.page, bobId, 'UNREACHABLE');
    expect(await bobDot.getAttribute('title')).toBe(`${bobId} is unreachable: their connection dropped; messages reach them when it is back`);
    expect(await colourOf(bobDot)).toBe(AMBER);
    proxy.mend();
    await presenceShown(alice.page, bobId, 'ONLINE');

    // bob signs out: grey again.
    await bob.page.getByRole('button', { name: 'Sign out' }).click();
    await presenceShown(alice.page, bobId, 'OFFLINE');
    expect(await colourOf(bobDot)).toBe(GREY);
    await proxy.close();
    expect(alice.errors).toEqual([]);
    // The cut requests are logged by chromium itself; the page logged nothing and showed no error.
    expect(bob.errors.filter((error) => !error.startsWith('Failed to load resource: net::'))).toEqual([]);
    expect(await alice.page.locator('#error').textContent()).toBe('');
    expect(await bob.page.locator('#error').textContent()).toBe('');
  });

  for (const transport of ['http', 'ws'] as const) {
    it(`cancels a 20 MiB upload in the page over ${transport} and leaves nothing on the server`, async () => {
      const alice = await open(`carol-${transport}`, transport);
      await openConversation(alice.page, 'peer', 'nobody');
      const before = await storedFiles(dataDir);
      // Throttled so that the cancel lands mid-upload, not after it.
      const cdp = await alice.context.newCDPSession(alice.page);
      await cdp.send('Network.enable');
      await cdp.send('Network.emulateNetworkConditions', { offline: false, latency: 0, downloadThroughput: -1, uploadThroughput: 2 * 1024 * 1024 });

      // Made in the page and dropped on the drop zone (handing 20 MiB to setInputFiles takes seconds).
      await alice.page.evaluate(() => {
        const data = new DataTransfer();
        data.items.add(new File([new Uint8Array(20 * 1024 * 1024).fill(7)], 'big.bin', { type: 'application/octet-stream' }));
        document.getElementById('drop')?.dispatchEvent(new DragEvent('drop', { dataTransfer: data, bubbles: true, cancelable: true }));
      });
      const row = alice.page.locator('#transfers li[data-state="transferring"]');
      await row.waitFor();
      await alice.page.waitForFunction(() => Number(document.querySelector<HTMLProgressElement>('#transfers progress')?.value) > 0);
      await eventually('a partial upload on the server', async () => (await storedFiles(dataDir)).some((file) => file.startsWith('parts/')));
      await row.getByRole('button', { name: 'Cancel ↑ big.bin' }).click();
      await alice.page.waitForSelector('#transfers li[data-state="cancelled"]');

      await eventually('the partial upload to be removed', async () => JSON.stringify(await storedFiles(dataDir)) === JSON.stringify(before));
      expect(await alice.page.locator('#messages li').count()).toBe(0);
      expect(await alice.page.locator('#error').textContent()).toBe('');
      expect(alice.errors).toEqual([]);
    });
  }
});

/** The dot colours of `web/app.css`, as computed. */
const GREEN = 'rgb(22, 163, 74)';
const AMBER = 'rgb(217, 119, 6)';
const GREY = 'rgb(156, 163, 175)';

/** Waits until `page` shows `peerId`'s dot in `state`. */
const presenceShown = (page: Page, peerId: string, state: string): Promise<unknown> =>
  page.waitForSelector(`#peers li[data-peer="${peerId}"][data-presence="${state}"]`, { timeout: 20_000 });

/** The background colour a dot is drawn with. */
const colourOf = (dot: ReturnType<Page['locator']>): Promise<string> => dot.evaluate((node) => getComputedStyle(node).backgroundColor);

/**
 * alice's and bob's pages side by side in one picture (a third page shows both screenshots): what each
 * viewport shows, or with `fullPage` each whole page.
 */
const sideBySide = async (alice: DemoPage, bob: DemoPage, path: string, fullPage = false): Promise<void> => {
  const [left, right] = await Promise.all([alice.page.screenshot({ fullPage }), bob.page.screenshot({ fullPage })]);
  const page = await alice.context.newPage();
  await page.setViewportSize({ width: 1816, height: 776 });
  await page.setContent(
    `<body style="margin:0;display:flex;gap:16px;background:#e5e7eb;padding:8px">${[left, right]
      .map((png) => `<img style="border:1px solid #9ca3af" src="data:image/png;base64,${png.toString('base64')}">`)
      .join('')}</body>`,
  );
  await page.screenshot({ path, fullPage });
  await page.close();
};
