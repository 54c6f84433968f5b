/**
 * DESIGN §3 "image size": `width`/`height` detected from content for JPEG, PNG, BMP, GIF and WebP; 0 when
 * unknown; values given by the caller win. Fixtures and their true sizes: spec/fixtures/images/README.md.
 */
import { copyFileSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, afterEach, describe, expect, it } from 'vitest';
import type { ImageMessage } from '../../src/index.js';
import { bytes, rejectsWith, tempFolder, world, type World } from './support.js';

const FIXTURES = [
  { file: 'jpeg-baseline.jpg', width: 300, height: 20 },
  { file: 'jpeg-progressive.jpg', width: 41, height: 260 },
  { file: 'jpeg-cmyk.jpg', width: 29, height: 47 },
  { file: 'jpeg-exif-thumbnail.jpg', width: 200, height: 120 },
  { file: 'jpeg-fill-bytes.jpg', width: 23, height: 310 },
  { file: 'png-8bit.png', width: 33, height: 270 },
  { file: 'png-16bit.png', width: 280, height: 31 },
  { file: 'png-interlaced.png', width: 45, height: 13 },
  { file: 'bmp-bottom-up.bmp', width: 261, height: 5 },
  { file: 'bmp-top-down.bmp', width: 6, height: 290 },
  { file: 'bmp-core-header.bmp', width: 15, height: 22 },
  { file: 'gif-87a.gif', width: 17, height: 300 },
  { file: 'gif-89a.gif', width: 270, height: 9 },
  { file: 'webp-lossy.webp', width: 300, height: 33 },
  { file: 'webp-lossless.webp', width: 23, height: 390 },
  { file: 'webp-extended.webp', width: 350, height: 18 },
] as const;

const fixturePath = (file: string): string => fileURLToPath(new URL(`../fixtures/images/${file}`, import.meta.url));
const fixture = (file: string): Uint8Array<ArrayBuffer> => Uint8Array.from(readFileSync(fixturePath(file)));

describe('image size', () => {
  let w: World;
  const folder = tempFolder();
  afterEach(() => w.hub.close());
  afterAll(() => folder.remove());

  describe.each(FIXTURES)('$file ($width × $height)', ({ file, width, height }) => {
    it('is detected when uploading from its path', async () => {
      w = world();
      const client = await w.loggedIn();
      const message = await client.createImageMessageByUploading(fixturePath(file)).result;
      expect(message).toMatchObject({ messageType: 'IMAGE', width, height, fileName: file, thumbnailWidth: 0, thumbnailHeight: 0 });
    });

    it('is detected when uploading its bytes', async () => {
      w = world();
      const client = await w.loggedIn();
      const message = await client.createImageMessageByUploading(fixture(file)).result;
      expect(message).toMatchObject({ width, height, size: fixture(file).length });
    });
  });

  it('is detected when uploading a named Blob (a File)', async () => {
    w = world();
    const client = await w.loggedIn();
    const image = new File([fixture('png-16bit.png')], 'wide.png', { type: 'image/png' });
    const message = await client.createImageMessageByUploading(image).result;
    expect(message).toMatchObject({ width: 280, height: 31, fileName: 'wide.png' });
  });

  describe('values given by the caller win', () => {
    it('width and height both given: neither is detected', async () => {
      w = world();
      const client = await w.loggedIn();
      const message = await client.createImageMessageByUploading(fixturePath('gif-89a.gif'), { width: 1024, height: 768 }).result;
      expect(message).toMatchObject({ width: 1024, height: 768 });
    });

    it('only width given: height is still detected', async () => {
      w = world();
      const client = await w.loggedIn();
      const message = await client.createImageMessageByUploading(fixture('jpeg-progressive.jpg'), { width: 82 }).result;
      expect(message).toMatchObject({ width: 82, height: 260 });
    });

    it('only height given: width is still detected', async () => {
      w = world();
      const client = await w.loggedIn();
      const message = await client.createImageMessageByUploading(fixture('webp-lossless.webp'), { height: 1 }).result;
      expect(message).toMatchObject({ width: 23, height: 1 });
    });

    it('an explicit 0 wins over detection', async () => {
      w = world();
      const client = await w.loggedIn();
      const message = await client.createImageMessageByUploading(fixture('png-8bit.png'), { width: 0, height: 0 }).result;
      expect(message).toMatchObject({ width: 0, height: 0 });
    });

    it('thumbnail dimensions are carried as given, and default to 0', async () => {
      w = world();
      const client = await w.loggedIn();
      const thumbnail = fixture('gif-87a.gif');
      const message = await client.createImageMessageByUploading(fixture('png-8bit.png'), { thumbnail, thumbnailWidth: 17, thumbnailHeight: 300 })
        .result;
      expect(message).toMatchObject({ width: 33, height: 270, thumbnailWidth: 17, thumbnailHeight: 300 });
      expect(message.thumbnail).toEqual(thumbnail);
    });
  });

  describe('unknown content is 0 × 0', () => {
    it('text bytes', async () => {
      w = world();
      const client = await w.loggedIn();
      const message = await client.createImageMessageByUploading(new TextEncoder().encode('definitely not an image')).result;
      expect(message).toMatchObject({ messageType: 'IMAGE', width: 0, height: 0 });
    });

    it('random bytes', async () => {
      w = world();
      const client = await w.loggedIn();
      expect(await client.createImageMessageByUploading(bytes(5000)).result).toMatchObject({ width: 0, height: 0 });
    });

    it('an image cut off before its size', async () => {
      w = world();
      const client = await w.loggedIn();
      const cut = fixture('jpeg-baseline.jpg').subarray(0, 20);
      expect(await client.createImageMessageByUploading(cut).result).toMatchObject({ width: 0, height: 0 });
    });
  });

  describe('content decides, not the file name', () => {
    it('a PNG saved as photo.jpg is measured as the PNG it is', async () => {
      w = world();
      const client = await w.loggedIn();
      const path = join(folder.path, 'photo.jpg');
      copyFileSync(fixturePath('png-interlaced.png'), path);
      expect(await client.createImageMessageByUploading(path).result).toMatchObject({ width: 45, height: 13, fileName: 'photo.jpg' });
    });

    it('text saved as cat.png is 0 × 0', async () => {
      w = world();
      const client = await w.loggedIn();
      const path = join(folder.path, 'cat.png');
      writeFileSync(path, 'meow');
      expect(await client.createImageMessageByUploading(path).result).toMatchObject({ width: 0, height: 0, fileName: 'cat.png' });
    });

    it('a JPEG uploaded with fileName "x.gif" is measured as a JPEG', async () => {
      w = world();
      const client = await w.loggedIn();
      const message = await client.createImageMessageByUploading(fixture('jpeg-cmyk.jpg'), { fileName: 'x.gif' }).result;
      expect(message).toMatchObject({ width: 29, height: 47, fileName: 'x.gif' });
    });

    it('a BMP in a File named .webp is measured as a BMP', async () => {
      w = world();
      const client = await w.loggedIn();
      const message = await client.createImageMessageByUploading(new File([fixture('bmp-core-header.bmp')], 'x.webp')).result;
      expect(message).toMatchObject({ width: 15, height: 22 });
    });
  });

  it('an image larger than the probe window is measured from its head', async () => {
    w = world();
    const client = await w.loggedIn();
    const head = fixture('png-16bit.png');
    const big = new Uint8Array(head.length + 300_000);
    big.set(head);
    expect(await client.createImageMessageByUploading(big).result).toMatchObject({ width: 280, height: 31, size: big.length });
  });

  it('a file message of an image carries no dimensions', async () => {
    w = world();
    const client = await w.loggedIn();
    const message = await client.createFileMessageByUploading(fixture('png-8bit.png')).result;
    expect(message.messageType).toBe('FILE');
    expect(message).not.toHaveProperty('width');
  });

  it('the receiver gets the dimensions in the message', async () => {
    w = world();
    const alice = await w.loggedIn('alice');
    const bob = await w.loggedIn('bob');
    const received: ImageMessage[] = [];
    bob.peerMessages$.subscribe((event) => {
      if (event.message.messageType === 'IMAGE') received.push(event.message);
    });
    const message = await alice.createImageMessageByUploading(fixturePath('webp-extended.webp')).result;
    await alice.sendMessageToPeer('bob', message);
    expect(received).toEqual([message]);
    expect(received[0]).toMatchObject({ width: 350, height: 18 });
  });

  it('a negative or fractional caller dimension is an invalid argument naming it', async () => {
    w = world();
    const client = await w.loggedIn();
    await rejectsWith(client.createImageMessageByUploading(fixture('png-8bit.png'), { width: -1 }).result, {
      name: 'UploadError',
      code: 2,
      mentions: /'width'/,
    });
    await rejectsWith(client.createImageMessageByUploading(fixture('png-8bit.png'), { thumbnailHeight: 1.5 }).result, {
      name: 'UploadError',
      code: 2,
      mentions: /'thumbnailHeight'/,
    });
  });
});
