/**
 * The demo page, a small chat client, in headless chromium: served by `startServer({ dev: true })` and
 * driven as two people use it, each in a browser context of their own. Set FERRY_SCREENSHOTS=<folder> to
 * save the pictures (`demo.png`: alice and bob side by side, `demo-chat.png`, `demo-narrow.png`,
 * `demo-presence.png`, `demo-errors.png`, committed to `docs/`; `demo-lightbox.png`, `demo-sending.png`,
 * `demo-takeover.png`, to look at). The README shows `docs/demo.png`.
 */
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Browser, Locator, Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type FerryServer, startServer } from '../../src/server/server.js';
import { browserSpecsRun, cuttableProxy, type DemoPage, eventually, launchChromium, openConversation, send, signedInPage, signIn, storedFiles, watched } from './support.js';

const IMAGE = 'spec/fixtures/images/jpeg-exif-thumbnail.jpg'; // 200 × 120
const IMAGE_NAME = 'jpeg-exif-thumbnail.jpg';
const SHOTS = process.env.FERRY_SCREENSHOTS;

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

  const open = async (userId: string, transport: 'http' | 'ws', viewport?: { width: number; height: number }): Promise<DemoPage> => {
    const demo = await signedInPage(browser, server.url, userId, transport, viewport);
    pages.push(demo);
    return demo;
  };

  /** What every test ends with: no console error, no uncaught exception, no request aborted or failed. */
  const clean = (...demos: DemoPage[]): void => {
    for (const demo of demos) {
      expect(demo.errors).toEqual([]);
      expect(demo.failedRequests).toEqual([]);
    }
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
    it(`lets alice and bob chat over ${transport} (${kind}): texts both ways, an image with a caption opened full size, a file saved with its bytes`, async () => {
      const [aliceId, bobId] = [`alice-${transport}`, `bob-${transport}`];
      const alice = await open(aliceId, transport);
      const bob = await open(bobId, transport);
      const room = `boats-${transport}`;
      if (kind === 'channel') await openConversation(bob.page, 'channel', room);
      await openConversation(alice.page, kind, kind === 'peer' ? bobId : room);
      const aliceKey = kind === 'peer' ? `peer:${aliceId}` : `channel:${room}`;

      // alice writes; her bubble is on the right at once, then says how it went.
      await send(alice.page, `Hi ${bobId}! Sending you the photos from Sunday.`);
      const hello = ownBubbles(alice.page).last();
      await expect.poll(() => hello.getAttribute('data-state')).toBe('sent');
      expect(await hello.locator('.note').textContent()).toBe(kind === 'peer' ? `received by ${bobId}` : 'sent');
      expect(await sideOf(hello)).toBe('right');

      // bob has it: for a peer a new conversation, unread until he opens it; in the channel, at once.
      const bobRow = bob.page.locator(`#conversations li[data-conversation="${aliceKey}"]`);
      await bobRow.waitFor();
      if (kind === 'peer') {
        await expect.poll(() => bobRow.getAttribute('data-unread')).toBe('1');
        expect(await bobRow.locator('.unread').textContent()).toBe('1');
        expect(await bob.page.title()).toBe('(1) ferry chat');
        await bobRow.getByRole('button').click();
        await expect.poll(() => bobRow.getAttribute('data-unread')).toBe('0');
      }
      const received = theirBubbles(bob.page).last();
      await received.waitFor();
      expect(await received.locator('.from').textContent()).toBe(aliceId);
      expect(await received.locator('.text').textContent()).toBe(`Hi ${bobId}! Sending you the photos from Sunday.`);
      expect(await received.locator('time').textContent()).toMatch(/^\d{1,2}:\d\d/);
      expect(await sideOf(received)).toBe('left');

      // bob answers.
      await send(bob.page, 'Great, thanks!');
      await expect.poll(async () => theirBubbles(alice.page).locator('.text').allTextContents()).toEqual(['Great, thanks!']);
      expect(await theirBubbles(alice.page).last().locator('.from').textContent()).toBe(bobId);

      // An image with a caption: one message, shown inline from its thumbnail, opened full size on click.
      const picture = await drawnPicture(alice.page);
      await alice.page.setInputFiles('#files', { name: 'harbour.png', mimeType: 'image/png', buffer: picture });
      expect(await alice.page.locator('#chips li').textContent()).toContain('harbour.png');
      await send(alice.page, 'The harbour at dawn');
      const sentImage = ownBubbles(alice.page).and(alice.page.locator('[data-type="IMAGE"]'));
      await expect.poll(() => sentImage.getAttribute('data-state')).toBe('sent');
      const image = theirBubbles(bob.page).and(bob.page.locator('[data-type="IMAGE"]'));
      await image.waitFor();
      expect(await image.locator('.caption').textContent()).toBe('The harbour at dawn');
      expect(await image.locator('.dims').textContent()).toBe('960 × 640');
      const thumbnail = image.getByRole('img', { name: 'harbour.png' });
      expect(await naturalSize(thumbnail)).toEqual([240, 160]); // the canvas thumbnail, not the image
      await image.getByRole('button', { name: 'Open harbour.png full size' }).click();
      const lightbox = bob.page.locator('#lightbox[data-state="shown"]');
      await lightbox.waitFor();
      expect(await naturalSize(lightbox.locator('img'))).toEqual([960, 640]);
      expect(await samePixels(lightbox.locator('img'), picture)).toBe(true);
      expect(await lightbox.locator('figcaption').textContent()).toBe('The harbour at dawn');
      if (SHOTS && transport === 'http') await shoot(bob.page, join(SHOTS, 'demo-lightbox.png'));
      await bob.page.keyboard.press('Escape');
      await bob.page.locator('#lightbox[data-state="closed"]').waitFor({ state: 'attached' });

      // The small JPEG too, saved through its Save button: the very bytes sent.
      await alice.page.setInputFiles('#files', IMAGE);
      await send(alice.page, '');
      const jpeg = theirBubbles(bob.page).filter({ has: bob.page.getByRole('img', { name: IMAGE_NAME }) });
      await jpeg.waitFor();
      expect(await jpeg.locator('.dims').textContent()).toBe('200 × 120');
      expect(await naturalSize(jpeg.getByRole('img', { name: IMAGE_NAME }))).toEqual([200, 120]); // within 240 px: kept whole
      expect(await saved(bob.page, jpeg, IMAGE_NAME)).toEqual(await readFile(IMAGE));

      // A file: a card with its name, size and Save; saved with the right bytes, SHA-256 verified.
      const report = Buffer.from(Array.from({ length: 300 * 1024 }, (_, at) => (at * 31) % 251));
      await alice.page.setInputFiles('#files', { name: 'route-plan.pdf', mimeType: 'application/pdf', buffer: report });
      await send(alice.page, 'and the route plan');
      const card = theirBubbles(bob.page).and(bob.page.locator('[data-type="FILE"]'));
      await card.waitFor();
      expect(await card.locator('.file-name').textContent()).toBe('route-plan.pdf');
      expect(await card.locator('.size').textContent()).toBe('300.0 KiB');
      expect(await card.locator('.file-icon').textContent()).toBe('PDF');
      expect(await card.locator('.caption').textContent()).toBe('and the route plan');
      expect(await saved(bob.page, card, 'route-plan.pdf')).toEqual(report);
      expect(await card.locator('.told').textContent()).toBe('Saved · SHA-256 verified');

      // Every bubble on each side, in order.
      expect(await bubbleTypes(alice.page)).toEqual(['own TEXT', 'theirs TEXT', 'own IMAGE', 'own IMAGE', 'own FILE']);
      expect(await bubbleTypes(bob.page)).toEqual(['theirs TEXT', 'own TEXT', 'theirs IMAGE', 'theirs IMAGE', 'theirs FILE']);
      expect(await bob.page.locator('#conversations li').first().locator('.preview').textContent()).toBe(
        kind === 'peer' ? 'File · and the route plan' : `${aliceId}: File · and the route plan`,
      );

      if (SHOTS && transport === 'http') {
        await sideBySide(alice, bob, join(SHOTS, 'demo.png'));
        await shoot(bob.page, join(SHOTS, 'demo-chat.png'));
      }
      clean(alice, bob);
    });
  }

  it('fits a phone: the list, then one conversation with a Back button', async () => {
    const phone = { width: 390, height: 780 };
    const alice = await open('alice-phone', 'ws', phone);
    const bob = await open('bob-phone', 'ws', phone);
    await openConversation(alice.page, 'peer', 'bob-phone');
    await send(alice.page, 'Are you on the boat?');
    const row = bob.page.locator('#conversations li[data-peer="alice-phone"]');
    await row.waitFor();
    expect(await bob.page.locator('#drop').isVisible()).toBe(false); // the list, alone
    await row.getByRole('button').click();
    expect(await bob.page.locator('.sidebar').isVisible()).toBe(false); // the thread, alone
    await send(bob.page, 'Yes! Sending a picture.');
    await bob.page.setInputFiles('#files', IMAGE);
    await send(bob.page, 'From the deck');
    await theirBubbles(alice.page).and(alice.page.locator('[data-type="IMAGE"]')).waitFor();
    await expect.poll(() => ownBubbles(bob.page).last().getAttribute('data-state')).toBe('sent');
    const width = await bob.page.evaluate(() => document.documentElement.scrollWidth);
    expect(width).toBeLessThanOrEqual(phone.width); // nothing runs off the side
    if (SHOTS) await shoot(bob.page, join(SHOTS, 'demo-narrow.png'));
    await bob.page.getByRole('button', { name: 'Back to the conversations' }).click();
    expect(await bob.page.locator('.sidebar').isVisible()).toBe(true);
    clean(alice, bob);
  });

  it("shows each peer's presence as a dot, keeps a message for an offline peer, and marks it as kept when it arrives", async () => {
    const [aliceId, bobId] = ['alice-away', 'bob-away'];
    const alice = await open(aliceId, 'ws');
    await openConversation(alice.page, 'peer', bobId);
    const bobDot = alice.page.locator(`#conversations li[data-peer="${bobId}"] .presence`);
    await presenceShown(alice.page, bobId, 'OFFLINE');
    expect(await bobDot.getAttribute('title')).toBe(`${bobId} is offline: files sent now are kept for their next sign-in`);
    expect(await colourOf(bobDot)).toBe(GREY);
    expect(await alice.page.locator('#conversation-presence').textContent()).toBe('offline: messages are kept for them');

    // Sent while bob is offline: the server keeps it, and alice's bubble says for whom.
    await alice.page.setInputFiles('#files', IMAGE);
    await send(alice.page, 'For when you are back');
    const kept = alice.page.locator('.bubble.own[data-type="IMAGE"]');
    await expect.poll(() => kept.locator('.note').textContent()).toBe(`kept for ${bobId}`);

    // bob signs in (through a proxy that can cut his link): the image arrives marked, and alice's dot for
    // him turns green.
    const proxy = await cuttableProxy(server.url);
    const bob = await signedInPage(browser, proxy.url, bobId, 'http');
    pages.push(bob);
    const arrived = bob.page.locator('.bubble[data-delivery="offline"]');
    await arrived.waitFor({ state: 'attached' });
    expect(await arrived.locator('.from').textContent()).toBe(aliceId);
    expect(await arrived.locator('.note').textContent()).toMatch(/^sent while you were offline · \d{1,2}:\d\d/);
    expect(await arrived.locator('.dims').textContent()).toBe('200 × 120');
    expect(await arrived.locator('.caption').textContent()).toBe('For when you are back');
    await presenceShown(alice.page, bobId, 'ONLINE');
    expect(await bobDot.getAttribute('title')).toBe(`${bobId} is online`);
    expect(await colourOf(bobDot)).toBe(GREEN);
    expect(await alice.page.locator('#conversation-presence').textContent()).toBe('online');
    // bob lists alice, who sent it, and sees her online; his copy of the image is the one she sent.
    await presenceShown(bob.page, aliceId, 'ONLINE');
    await bob.page.locator(`#conversations li[data-peer="${aliceId}"] button`).click();
    expect(await saved(bob.page, arrived, IMAGE_NAME)).toEqual(await readFile(IMAGE));

    // Sent while bob is online: received at once, not kept, not marked on his side.
    await send(alice.page, 'Welcome back!');
    await expect.poll(() => alice.page.locator('.bubble.own').last().locator('.note').textContent()).toBe(`received by ${bobId}`);
    await eventually('the text at bob', async () => (await theirBubbles(bob.page).count()) === 2);
    expect(await bob.page.locator('.bubble[data-delivery="offline"]').count()).toBe(1);
    if (SHOTS) await sideBySide(alice, bob, join(SHOTS, 'demo-presence.png'));

    // bob's link drops: amber while his session waits out its grace, green when he is back.
    proxy.cut();
    await presenceShown(alice.page, bobId, 'UNREACHABLE');
    expect(await bobDot.getAttribute('title')).toBe(`${bobId} is unreachable: their connection dropped; messages reach them when it is back`);
    expect(await colourOf(bobDot)).toBe(AMBER);
    await bob.page.waitForSelector('#status[data-state="RECONNECTING"]');
    expect(await bob.page.locator('#status').textContent()).toBe(`${bobId} · HTTP · Reconnecting: the connection dropped; messages wait until it is back (INTERRUPTED)`);
    proxy.mend();
    await presenceShown(alice.page, bobId, 'ONLINE');
    await bob.page.waitForSelector('#status[data-state="CONNECTED"]');

    // bob signs out: grey again.
    await bob.page.getByRole('button', { name: 'Sign out' }).click();
    await presenceShown(alice.page, bobId, 'OFFLINE');
    expect(await colourOf(bobDot)).toBe(GREY);
    await proxy.close();
    clean(alice);
    // The cut requests are logged by chromium itself; the page logged nothing and showed no error.
    expect(bob.errors.filter((error) => !error.startsWith('Failed to load resource: net::'))).toEqual([]);
    expect(await alice.page.locator('#notice').textContent()).toBe('');
    expect(await bob.page.locator('#notice').textContent()).toBe('');
  });

  for (const transport of ['http', 'ws'] as const) {
    it(`cancels a 20 MiB upload from its bubble over ${transport}, says so there, and leaves nothing on the server`, async () => {
      const alice = await open(`carol-${transport}`, transport);
      await openConversation(alice.page, 'peer', 'nobody');
      const before = await storedFiles(dataDir);
      // Throttled so that the cancel lands mid-upload, not after it: 256 KiB/s leaves over a minute for the
      // click (at 2 MiB/s a loaded CI machine once clicked after the upload had ended).
      const cdp = await alice.context.newCDPSession(alice.page);
      await cdp.send('Network.enable');
      await cdp.send('Network.emulateNetworkConditions', { offline: false, latency: 0, downloadThroughput: -1, uploadThroughput: 256 * 1024 });

      await dropFile(alice.page, 'big.bin', 20 * 1024 * 1024);
      await send(alice.page, 'the whole log');
      const bubble = alice.page.locator('.bubble.own[data-type="FILE"]');
      await bubble.waitFor();
      expect(await bubble.getAttribute('data-state')).toBe('sending'); // at once, before a byte is sent
      expect(await bubble.locator('.caption').textContent()).toBe('the whole log');
      const ring = bubble.getByRole('progressbar', { name: 'Sending big.bin' });
      await expect.poll(async () => Number(await ring.getAttribute('aria-valuenow')), { timeout: 20_000 }).toBeGreaterThan(0);
      await eventually('a partial upload on the server', async () => (await storedFiles(dataDir)).some((file) => file.startsWith('parts/')));
      if (SHOTS && transport === 'http') await shoot(alice.page, join(SHOTS, 'demo-sending.png'));
      await bubble.getByRole('button', { name: 'Cancel sending big.bin' }).click();
      await expect.poll(() => bubble.getAttribute('data-state')).toBe('cancelled');
      expect(await bubble.locator('.state').textContent()).toBe('cancelled: not sent');
      expect(await bubble.getByRole('progressbar').count()).toBe(0);

      await eventually('the partial upload to be removed', async () => JSON.stringify(await storedFiles(dataDir)) === JSON.stringify(before));
      expect(await alice.page.locator('#notice').textContent()).toBe('');
      await cdp.send('Network.emulateNetworkConditions', { offline: false, latency: 0, downloadThroughput: -1, uploadThroughput: -1 });
      // The next message goes as usual.
      await send(alice.page, 'never mind');
      await expect.poll(() => alice.page.locator('.bubble.own').last().locator('.note').textContent()).toBe('kept for nobody');
      // Over HTTP a cancel that lands while a PATCH is on its way aborts that PATCH (seen in CI): the abort is
      // the cancel itself, not a failure. At most that one; nothing else may fail.
      const cancelled = alice.failedRequests.filter((failed) => /^PATCH \/v1\/uploads\/[^/]+: net::ERR_ABORTED$/.test(failed));
      expect(cancelled.length).toBeLessThanOrEqual(transport === 'http' ? 1 : 0);
      expect(alice.failedRequests.filter((failed) => !cancelled.includes(failed))).toEqual([]);
      expect(alice.errors).toEqual([]);
    });
  }

  it('tells a refusal on the bubble it belongs to, in words and with its code, and the other bubbles go on', async () => {
    const dora = await open('dora', 'http');
    const eve = await open('eve', 'http');
    await openConversation(dora.page, 'peer', 'eve');
    await dropFile(dora.page, 'too-big.bin', 31 * 1024 * 1024);
    await send(dora.page, 'the raw footage');
    await send(dora.page, 'Too big? Then just this.');
    const refused = dora.page.locator('.bubble.own[data-type="FILE"]');
    await expect.poll(() => refused.getAttribute('data-state')).toBe('failed');
    expect(await refused.locator('.problem').textContent()).toBe('Not sent: 31.0 MiB is over the 30.0 MiB limit (upload code 4 SIZE_OVERFLOW)');
    expect(await refused.locator('.state').textContent()).toBe('not sent');
    const text = dora.page.locator('.bubble.own[data-type="TEXT"]');
    await expect.poll(() => text.getAttribute('data-state')).toBe('sent');
    expect(await text.locator('.problem').count()).toBe(0);
    expect(await dora.page.locator('#notice').textContent()).toBe('');
    // eve gets the text only: a refused message was never sent.
    await eve.page.locator('#conversations li[data-peer="dora"] button').click();
    await theirBubbles(eve.page).first().waitFor();
    expect(await bubbleTypes(eve.page)).toEqual(['theirs TEXT']);
    if (SHOTS) await shoot(dora.page, join(SHOTS, 'demo-errors.png'));
    clean(dora, eve);
  });

  for (const transport of ['http', 'ws'] as const) {
    it(`says in words why a tab was signed out when the same user signs in on another tab (${transport})`, async () => {
      const first = await open(`frank-${transport}`, transport);
      await openConversation(first.page, 'peer', 'grace');
      const second = watched(await first.context.newPage(), first.context);
      await second.page.goto(server.url);
      await second.page.waitForSelector('body[data-ready]');
      await signIn(second.page, `frank-${transport}`, transport);

      const label = transport === 'ws' ? 'WebSocket' : 'HTTP';
      await first.page.waitForSelector('#status[data-state="ABORTED"]', { timeout: 20_000 });
      expect(await first.page.locator('#status').textContent()).toBe(`frank-${transport} · ${label} · Signed out: you signed in on another tab or device (REMOTE_LOGIN)`);
      expect(await first.page.locator('#status').getAttribute('data-reason')).toBe('REMOTE_LOGIN');
      expect(await first.page.getByLabel('Message', { exact: true }).isDisabled()).toBe(true);
      expect(await first.page.getByRole('button', { name: 'Sign in' }).isEnabled()).toBe(true);
      expect(await second.page.locator('#status').getAttribute('data-state')).toBe('CONNECTED');
      if (SHOTS && transport === 'ws') await shoot(first.page, join(SHOTS, 'demo-takeover.png'));
      // The ended session's event stream (HTTP's long GET) is closed by the transport: that abort is the
      // session ending, not a failure; nothing else may fail.
      const ended = first.failedRequests.filter((failed) => !/^GET \/v1\/sessions\/[^/]+\/events: net::ERR_ABORTED$/.test(failed));
      expect(ended).toEqual([]);
      expect(first.errors).toEqual([]);
      clean(second);
    });
  }
});

/** The dot colours of `web/app.css`, as computed. */
const GREEN = 'rgb(22, 163, 74)';
const AMBER = 'rgb(217, 119, 6)';
const GREY = 'rgb(156, 163, 175)';

const ownBubbles = (page: Page): Locator => page.locator('.thread:not([hidden]) .bubble.own');
const theirBubbles = (page: Page): Locator => page.locator('.thread:not([hidden]) .bubble.theirs');

/** `own TEXT`, `theirs IMAGE`, … of the open thread, in order. */
const bubbleTypes = (page: Page): Promise<string[]> =>
  page.locator('.thread:not([hidden]) .bubble').evaluateAll((bubbles) => bubbles.map((bubble) => `${bubble.classList.contains('own') ? 'own' : 'theirs'} ${(bubble as HTMLElement).dataset['type']}`));

/** Which side of its thread a bubble sits on. */
const sideOf = (bubble: Locator): Promise<'left' | 'right'> =>
  bubble.evaluate((node) => {
    const box = node.getBoundingClientRect();
    const thread = (node.parentElement as HTMLElement).getBoundingClientRect();
    return box.left - thread.left < thread.right - box.right ? 'left' : 'right';
  });

const naturalSize = (img: Locator): Promise<number[]> =>
  img.evaluate(async (node: HTMLImageElement) => {
    await node.decode();
    return [node.naturalWidth, node.naturalHeight];
  });

/**
 * Whether an `<img>` shows the very pixels of the PNG `bytes` (the page's policy lets it read neither
 * `blob:` URLs back with `fetch` nor the file: both pictures are drawn on a canvas and compared).
 */
const samePixels = (img: Locator, bytes: Buffer): Promise<boolean> =>
  img.evaluate(async (node: HTMLImageElement, base64) => {
    const original = new Image();
    original.src = `data:image/png;base64,${base64}`;
    await Promise.all([original.decode(), node.decode()]);
    const pixels = (picture: HTMLImageElement): Uint8ClampedArray => {
      const canvas = document.createElement('canvas');
      canvas.width = picture.naturalWidth;
      canvas.height = picture.naturalHeight;
      const draw = canvas.getContext('2d') as CanvasRenderingContext2D;
      draw.drawImage(picture, 0, 0);
      return draw.getImageData(0, 0, canvas.width, canvas.height).data;
    };
    const [shown, sent] = [pixels(node), pixels(original)];
    return shown.length === sent.length && shown.every((value, at) => value === sent[at]);
  }, bytes.toString('base64'));

/** Clicks a bubble's Save and reads the file the browser saved. */
const saved = async (page: Page, bubble: Locator, name: string): Promise<Buffer> => {
  const [download] = await Promise.all([page.waitForEvent('download'), bubble.getByRole('button', { name: `Save ${name}` }).click()]);
  expect(download.suggestedFilename()).toBe(name);
  return readFile(await download.path());
};

/** A 960 × 640 picture drawn in the page (a harbour at dawn, roughly), as PNG bytes. */
const drawnPicture = async (page: Page): Promise<Buffer> => {
  const base64 = await page.evaluate(async () => {
    const canvas = document.createElement('canvas');
    canvas.width = 960;
    canvas.height = 640;
    const draw = canvas.getContext('2d') as CanvasRenderingContext2D;
    const sky = draw.createLinearGradient(0, 0, 0, 400);
    sky.addColorStop(0, '#1e3a8a');
    sky.addColorStop(0.6, '#f472b6');
    sky.addColorStop(1, '#fde68a');
    draw.fillStyle = sky;
    draw.fillRect(0, 0, 960, 400);
    draw.fillStyle = '#fef3c7';
    draw.beginPath();
    draw.arc(640, 400, 70, Math.PI, 0);
    draw.fill();
    const sea = draw.createLinearGradient(0, 400, 0, 640);
    sea.addColorStop(0, '#0e7490');
    sea.addColorStop(1, '#164e63');
    draw.fillStyle = sea;
    draw.fillRect(0, 400, 960, 240);
    draw.fillStyle = '#0f172a';
    draw.beginPath();
    draw.moveTo(250, 430);
    draw.lineTo(470, 430);
    draw.lineTo(440, 465);
    draw.lineTo(280, 465);
    draw.fill();
    draw.fillRect(355, 250, 6, 180);
    draw.fillStyle = '#f8fafc';
    draw.beginPath();
    draw.moveTo(363, 255);
    draw.lineTo(363, 420);
    draw.lineTo(450, 420);
    draw.fill();
    draw.beginPath();
    draw.moveTo(352, 275);
    draw.lineTo(352, 420);
    draw.lineTo(285, 420);
    draw.fill();
    const blob = await new Promise<Blob>((resolve) => canvas.toBlob((made) => resolve(made as Blob), 'image/png'));
    const bytes = new Uint8Array(await blob.arrayBuffer());
    let text = '';
    for (const byte of bytes) text += String.fromCharCode(byte);
    return btoa(text);
  });
  return Buffer.from(base64, 'base64');
};

/** Makes a file of `size` bytes in the page and drops it on the thread (handing MiBs to setInputFiles takes seconds). */
const dropFile = (page: Page, name: string, size: number): Promise<void> =>
  page.evaluate(
    ([fileName, bytes]) => {
      const data = new DataTransfer();
      data.items.add(new File([new Uint8Array(bytes).fill(7)], fileName, { type: 'application/octet-stream' }));
      document.getElementById('drop')?.dispatchEvent(new DragEvent('drop', { dataTransfer: data, bubbles: true, cancelable: true }));
    },
    [name, size] as const,
  );

/** Waits until `page` shows `peerId`'s dot in `state`. */
const presenceShown = (page: Page, peerId: string, state: string): Promise<unknown> =>
  page.waitForSelector(`#conversations li[data-peer="${peerId}"][data-presence="${state}"]`, { timeout: 20_000, state: 'attached' });

/** The background colour a dot is drawn with. */
const colourOf = (dot: Locator): Promise<string> => dot.evaluate((node) => getComputedStyle(node).backgroundColor);

/** Scrolls every thread to its end (a line added under the last bubble may have pushed it), then takes the picture. */
const shoot = async (page: Page, path?: string): Promise<Buffer> => {
  await page.evaluate(() => document.querySelectorAll('.threads').forEach((threads) => threads.scrollTo(0, threads.scrollHeight)));
  return page.screenshot(path === undefined ? {} : { path });
};

/** alice's and bob's pages side by side in one picture (a third page shows both screenshots). */
const sideBySide = async (alice: DemoPage, bob: DemoPage, path: string): Promise<void> => {
  const [left, right] = await Promise.all([shoot(alice.page), shoot(bob.page)]);
  const { width, height } = alice.page.viewportSize() ?? { width: 1280, height: 800 };
  const page = await alice.context.newPage();
  await page.setViewportSize({ width: width * 2 + 34, height: height + 18 });
  await page.setContent(
    `<body style="margin:0;display:flex;gap:16px;background:#cbd5e1;padding:8px">${[left, right]
      .map((png) => `<img style="border:1px solid #94a3b8" src="data:image/png;base64,${png.toString('base64')}">`)
      .join('')}</body>`,
  );
  await page.screenshot({ path });
  await page.close();
};
