import { readFileSync } from 'node:fs';
import fc from 'fast-check';
import { beforeAll, describe, expect, it } from 'vitest';
import { IMAGE_PROBE_BYTES, probeImage, type ImageFormat, type ImageInfo } from '../src/client/image-probe.js';

const SEED = 424242;

interface Fixture {
  readonly file: string;
  readonly format: ImageFormat;
  readonly width: number;
  readonly height: number;
}

// True sizes as reported by ImageMagick's identify; see fixtures/images/README.md.
const FIXTURES: readonly Fixture[] = [
  { file: 'jpeg-baseline.jpg', format: 'jpeg', width: 300, height: 20 },
  { file: 'jpeg-progressive.jpg', format: 'jpeg', width: 41, height: 260 },
  { file: 'jpeg-cmyk.jpg', format: 'jpeg', width: 29, height: 47 },
  { file: 'jpeg-exif-thumbnail.jpg', format: 'jpeg', width: 200, height: 120 },
  { file: 'jpeg-fill-bytes.jpg', format: 'jpeg', width: 23, height: 310 },
  { file: 'png-8bit.png', format: 'png', width: 33, height: 270 },
  { file: 'png-16bit.png', format: 'png', width: 280, height: 31 },
  { file: 'png-interlaced.png', format: 'png', width: 45, height: 13 },
  { file: 'bmp-bottom-up.bmp', format: 'bmp', width: 261, height: 5 },
  { file: 'bmp-top-down.bmp', format: 'bmp', width: 6, height: 290 },
  { file: 'bmp-core-header.bmp', format: 'bmp', width: 15, height: 22 },
  { file: 'gif-87a.gif', format: 'gif', width: 17, height: 300 },
  { file: 'gif-89a.gif', format: 'gif', width: 270, height: 9 },
  { file: 'webp-lossy.webp', format: 'webp', width: 300, height: 33 },
  { file: 'webp-lossless.webp', format: 'webp', width: 23, height: 390 },
  { file: 'webp-extended.webp', format: 'webp', width: 350, height: 18 },
];

function fixture(file: string): Uint8Array {
  return new Uint8Array(readFileSync(new URL(`./fixtures/images/${file}`, import.meta.url)));
}

function expected({ format, width, height }: Fixture): ImageInfo {
  return { format, width, height };
}

function concat(...parts: readonly (Uint8Array | readonly number[])[]): Uint8Array {
  return Uint8Array.from(parts.flatMap((part) => Array.from(part)));
}

/** An APPn segment of the largest size a 16-bit length allows: 2 marker bytes + 65,535. */
function maximalAppSegment(marker: number): Uint8Array {
  const segment = new Uint8Array(2 + 0xffff);
  segment.set([0xff, marker, 0xff, 0xff]);
  return segment;
}

/** Offsets of every FF C0 (baseline SOF) byte pair, wherever it sits, with the size it would claim. */
function rawBaselineSofs(bytes: Uint8Array): { offset: number; width: number; height: number }[] {
  const found: { offset: number; width: number; height: number }[] = [];
  for (let i = 0; i + 9 <= bytes.length; i += 1) {
    if (bytes[i] === 0xff && bytes[i + 1] === 0xc0) {
      const at = (k: number): number => bytes[i + k] ?? 0;
      found.push({ offset: i, height: (at(5) << 8) | at(6), width: (at(7) << 8) | at(8) });
    }
  }
  return found;
}

describe('probeImage', () => {
  beforeAll(() => {
    console.log(`image-probe properties use fast-check seed ${SEED}`);
  });

  it.each(FIXTURES)('reads $file as $format $width×$height from its first IMAGE_PROBE_BYTES bytes', (f) => {
    expect(probeImage(fixture(f.file).subarray(0, IMAGE_PROBE_BYTES))).toEqual(expected(f));
  });

  it.each(FIXTURES)('reads $file as $format $width×$height from the whole file', (f) => {
    expect(probeImage(fixture(f.file))).toEqual(expected(f));
  });

  it('reports the main size of a JPEG whose EXIF segment embeds a thumbnail with its own frame header', () => {
    const bytes = fixture('jpeg-exif-thumbnail.jpg');
    const sofs = rawBaselineSofs(bytes);
    // The trap must really be there: the thumbnail's 40×64 SOF comes first, inside APP1.
    expect(sofs.map(({ width, height }) => [width, height])).toEqual([[40, 64], [200, 120]]);
    expect(probeImage(bytes)).toEqual({ format: 'jpeg', width: 200, height: 120 });
  });

  it('skips 0xFF fill bytes and standalone TEM and RST markers between JPEG segments', () => {
    const bytes = fixture('jpeg-fill-bytes.jpg');
    const hex = Buffer.from(bytes).toString('hex');
    expect(hex).toContain('ff01ffd0ffffffffdb');
    expect(hex).toContain('ffffffffffc0');
    expect(probeImage(bytes)).toEqual({ format: 'jpeg', width: 23, height: 310 });
  });

  it('finds a JPEG frame header that sits behind a maximal EXIF segment within IMAGE_PROBE_BYTES', () => {
    const baseline = fixture('jpeg-baseline.jpg');
    const bytes = concat([0xff, 0xd8], maximalAppSegment(0xe1), baseline.subarray(2));
    expect(probeImage(bytes.subarray(0, IMAGE_PROBE_BYTES))).toEqual({ format: 'jpeg', width: 300, height: 20 });
  });

  it('reports an unknown size when the JPEG frame header lies beyond the probed head', () => {
    const baseline = fixture('jpeg-baseline.jpg');
    const padding = Array.from({ length: Math.ceil(IMAGE_PROBE_BYTES / 0x10001) }, () => maximalAppSegment(0xe2));
    const bytes = concat([0xff, 0xd8], ...padding, baseline.subarray(2));
    expect(probeImage(bytes.subarray(0, IMAGE_PROBE_BYTES))).toBeUndefined();
    expect(probeImage(bytes)).toEqual({ format: 'jpeg', width: 300, height: 20 });
  });

  it('decides from content, so PNG bytes saved under a .jpg name are still a PNG', () => {
    const photoJpg = fixture('png-8bit.png');
    expect(probeImage(photoJpg)).toEqual({ format: 'png', width: 33, height: 270 });
  });

  it.each(FIXTURES)('returns undefined or the true size for every prefix of $file, never reading past it', (f) => {
    const bytes = fixture(f.file);
    let firstKnown = bytes.length;
    for (let n = 0; n <= bytes.length; n += 1) {
      // Garbage after the prefix in the same buffer: a probe that reads past its view sees it and misreports.
      const buffer = new Uint8Array(bytes.length + 64).fill(0x5a);
      buffer.set(bytes.subarray(0, n));
      const info = probeImage(buffer.subarray(0, n));
      if (info === undefined) {
        expect(n, `prefix of ${n} bytes after a known one`).toBeLessThan(firstKnown);
      } else {
        expect(info, `prefix of ${n} bytes`).toEqual(expected(f));
        firstKnown = Math.min(firstKnown, n);
      }
    }
  });

  const text = (s: string): number[] => Array.from(Buffer.from(s, 'latin1'));
  const sof0At9x9 = [0xff, 0xc0, 0, 17, 8, 0, 9, 0, 9, 3];
  it.each([
    { name: 'empty input', bytes: [] },
    { name: 'a text file that starts with "BM"', bytes: text('BMW owners manual, chapter one: the engine') },
    { name: 'a RIFF WAVE file', bytes: text('RIFF\x24\x00\x00\x00WAVEfmt \x10\x00\x00\x00') },
    { name: 'a GIF with a zero width', bytes: text('GIF89a\x00\x00\x09\x00') },
    {
      name: 'a PNG whose first chunk is not IHDR',
      bytes: [...fixture('png-8bit.png').subarray(0, 12), ...text('IDAT'), 0, 0, 0, 1, 0, 0, 0, 1],
    },
    {
      name: 'a JPEG whose scan starts before any frame header',
      bytes: [0xff, 0xd8, 0xff, 0xda, 0, 8, 1, 1, 0, 0, 0x3f, 0, ...sof0At9x9],
    },
    { name: 'a JPEG with garbage where a marker should be', bytes: [0xff, 0xd8, 0x00, ...sof0At9x9] },
  ])('returns undefined for $name', ({ bytes }) => {
    expect(probeImage(Uint8Array.from(bytes))).toBeUndefined();
  });

  it('never throws on random bytes, and whatever it reports is a known format with a positive integer size', () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 512 }), (bytes) => {
        expectPlausible(probeImage(bytes));
      }),
      { seed: SEED, numRuns: 1000 },
    );
  });

  it('never throws on random bytes behind each format signature', () => {
    const signatures = [
      [0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a, 0, 0, 0, 13, 0x49, 0x48, 0x44, 0x52],
      [0xff, 0xd8, 0xff],
      Array.from(Buffer.from('GIF89a')),
      Array.from(Buffer.from('BM')),
      ...['VP8 ', 'VP8L', 'VP8X'].map((chunk) => Array.from(Buffer.from(`RIFF\0\0\0\0WEBP${chunk}`))),
    ];
    fc.assert(
      fc.property(fc.constantFrom(...signatures), fc.uint8Array({ maxLength: 64 }), (signature, tail) => {
        expectPlausible(probeImage(concat(signature, tail)));
      }),
      { seed: SEED, numRuns: 1000 },
    );
  });
});

describe('the image fixtures', () => {
  const at = (file: string, offset: number): number => fixture(file)[offset] ?? -1;

  it('include a progressive JPEG (SOF2) and a four-component CMYK JPEG with an Adobe segment', () => {
    expect(Buffer.from(fixture('jpeg-progressive.jpg')).includes(Buffer.from([0xff, 0xc2]))).toBe(true);
    const cmyk = Buffer.from(fixture('jpeg-cmyk.jpg'));
    expect(cmyk.includes(Buffer.from('Adobe'))).toBe(true);
    const sof = cmyk.indexOf(Buffer.from([0xff, 0xc0]));
    expect(cmyk[sof + 9]).toBe(4);
  });

  it('include a 16-bit PNG and an Adam7-interlaced PNG', () => {
    expect(at('png-16bit.png', 24)).toBe(16);
    expect(at('png-interlaced.png', 28)).toBe(1);
  });

  it('include a bottom-up and a top-down BITMAPINFOHEADER BMP and a BITMAPCOREHEADER BMP', () => {
    const view = (file: string): DataView => new DataView(fixture(file).buffer);
    expect(view('bmp-bottom-up.bmp').getUint32(14, true)).toBe(40);
    expect(view('bmp-bottom-up.bmp').getInt32(22, true)).toBeGreaterThan(0);
    expect(view('bmp-top-down.bmp').getInt32(22, true)).toBe(-290);
    expect(view('bmp-core-header.bmp').getUint32(14, true)).toBe(12);
  });

  it('include WebP files whose first chunks are VP8, VP8L and VP8X', () => {
    const chunk = (file: string): string => Buffer.from(fixture(file).subarray(12, 16)).toString('latin1');
    const files = ['webp-lossy.webp', 'webp-lossless.webp', 'webp-extended.webp'];
    expect(files.map(chunk)).toEqual(['VP8 ', 'VP8L', 'VP8X']);
  });
});

function expectPlausible(info: ImageInfo | undefined): void {
  if (info === undefined) return;
  expect(['jpeg', 'png', 'bmp', 'gif', 'webp']).toContain(info.format);
  expect(Number.isInteger(info.width) && info.width >= 1).toBe(true);
  expect(Number.isInteger(info.height) && info.height >= 1).toBe(true);
}
