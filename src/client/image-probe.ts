/**
 * Reads the pixel dimensions of a JPEG, PNG, BMP, GIF or WebP image from the first bytes of its file,
 * so an image message can carry `width`/`height` without decoding the image (`docs/contract.md` §3, rules).
 *
 * Written here rather than taken from `image-size` (docs/decisions.md): that package misreads
 * BITMAPCOREHEADER bitmaps, rejects JPEG fill bytes, can report 1×1 for a truncated VP8L header and reads
 * past the end of a subarray into its backing buffer.
 *
 * Every read is bounds-checked against `head.length`; running out of bytes yields `undefined`, never a
 * guess, so a caller can hand over whatever prefix it has.
 *
 * @module
 */

/**
 * How many leading bytes of a file {@link probeImage} needs to see: 128 KiB (131,072).
 *
 * PNG, GIF, BMP and WebP keep their size within the first 30 bytes; only JPEG needs more, because its
 * frame header (SOF) follows the APPn metadata segments. One segment holds at most 65,537 bytes, and
 * camera files put an EXIF APP1 segment (often near that limit, with an embedded thumbnail) next to JFIF
 * and ICC-profile segments, so 64 KiB can stop just short of the SOF. 128 KiB covers a maximal APP1 plus
 * the usual company while staying a cheap read next to the 30 MiB file limit. A JPEG whose SOF lies
 * further out is reported as unknown (size 0), never guessed.
 *
 * @example
 * ```ts
 * const head = await readHead(path, IMAGE_PROBE_BYTES);
 * const info = probeImage(head); // { format: 'jpeg', width: 4032, height: 3024 } | undefined
 * ```
 */
export const IMAGE_PROBE_BYTES: number = 128 * 1024;

/** The image formats whose dimensions {@link probeImage} recognises. */
export type ImageFormat = 'jpeg' | 'png' | 'bmp' | 'gif' | 'webp';

/**
 * What {@link probeImage} found: the format named by the file's magic bytes, and the stored pixel size.
 *
 * `width` and `height` are positive integers as encoded in the file; JPEG EXIF orientation is not applied,
 * so a photo taken in portrait may report its landscape sensor size.
 */
export interface ImageInfo {
  /** The format detected from the file's content, never from its name. */
  readonly format: ImageFormat;
  /** Width in pixels, at least 1. */
  readonly width: number;
  /** Height in pixels, at least 1; a top-down BMP's negative height is reported as its absolute value. */
  readonly height: number;
}

/**
 * Detects the format and pixel size of an image from the leading bytes of its file.
 *
 * Pure and synchronous; never throws and never reads outside `head` (a subarray is safe). It decides from
 * magic bytes only, so a PNG named `photo.jpg` is a PNG.
 *
 * @param head - The file's first bytes; {@link IMAGE_PROBE_BYTES} of them are enough, the whole file also works.
 * @returns The format and size, or `undefined` when the bytes are not a recognised format, are cut off
 *   before the size, or are corrupt.
 *
 * @example
 * ```ts
 * probeImage(readFileSync('cat.png'));     // { format: 'png', width: 640, height: 480 }
 * probeImage(new Uint8Array([1, 2, 3]));   // undefined
 * ```
 */
export function probeImage(head: Uint8Array): ImageInfo | undefined {
  if (startsWith(head, 0, PNG_SIGNATURE)) return probePng(head);
  if (startsWith(head, 0, JPEG_SOI)) return probeJpeg(head);
  if (startsWith(head, 0, GIF87A) || startsWith(head, 0, GIF89A)) return probeGif(head);
  if (startsWith(head, 0, RIFF) && startsWith(head, 8, WEBP)) return probeWebp(head);
  if (startsWith(head, 0, BMP_MAGIC)) return probeBmp(head);
  return undefined;
}

const PNG_SIGNATURE = [0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a];
const JPEG_SOI = [0xff, 0xd8];
const GIF87A = ascii('GIF87a');
const GIF89A = ascii('GIF89a');
const RIFF = ascii('RIFF');
const WEBP = ascii('WEBP');
const BMP_MAGIC = ascii('BM');
const IHDR = ascii('IHDR');
const PNG_MAX_DIMENSION = 0x7fff_ffff;

function probePng(b: Uint8Array): ImageInfo | undefined {
  // The PNG spec requires IHDR (13 bytes of data) as the very first chunk.
  if (b.length < 24 || u32be(b, 8) !== 13 || !startsWith(b, 12, IHDR)) return undefined;
  const width = u32be(b, 16);
  const height = u32be(b, 20);
  // PNG limits both to 2^31-1, so a larger value is corruption rather than a huge image.
  if (width > PNG_MAX_DIMENSION || height > PNG_MAX_DIMENSION) return undefined;
  return sized('png', width, height);
}

function probeGif(b: Uint8Array): ImageInfo | undefined {
  // The logical screen, not the first frame: frames may be smaller and offset within it.
  if (b.length < 10) return undefined;
  return sized('gif', u16le(b, 6), u16le(b, 8));
}

function probeBmp(b: Uint8Array): ImageInfo | undefined {
  // "BM" alone is two printable letters; the DIB header size and the planes field (always 1) make
  // a text file that starts with "BM" fail instead of yielding a nonsense size.
  if (b.length < 18) return undefined;
  const dibSize = u32le(b, 14);
  if (dibSize === 12) {
    // BITMAPCOREHEADER (OS/2 1.x): unsigned 16-bit fields, so no top-down variant.
    if (b.length < 24 || u16le(b, 22) !== 1) return undefined;
    return sized('bmp', u16le(b, 18), u16le(b, 20));
  }
  if (!INFO_HEADER_SIZES.has(dibSize) || b.length < 28 || u16le(b, 26) !== 1) return undefined;
  const width = i32le(b, 18);
  // A negative height marks rows stored top-down; the image is no less tall for it.
  return sized('bmp', width, Math.abs(i32le(b, 22)));
}

/** BITMAPINFOHEADER, its successors V2–V5, and OS/2 2.x (64, or 16 when shortened): signed 32-bit size fields. */
const INFO_HEADER_SIZES: ReadonlySet<number> = new Set([16, 40, 52, 56, 64, 108, 124]);

function probeWebp(b: Uint8Array): ImageInfo | undefined {
  // The first chunk after "WEBP" decides the layout; its payload starts at offset 20.
  const chunk = String.fromCharCode(...b.subarray(12, 16));
  if (chunk === 'VP8 ') {
    // Frame tag (3 bytes, bit 0 clear on a key frame, the only kind a still image has), start code
    // 9D 01 2A, then 14-bit sizes whose top 2 bits are upscaling hints rather than size.
    if (b.length < 30 || ((b[20] ?? 1) & 1) !== 0) return undefined;
    if (b[23] !== 0x9d || b[24] !== 0x01 || b[25] !== 0x2a) return undefined;
    return sized('webp', u16le(b, 26) & 0x3fff, u16le(b, 28) & 0x3fff);
  }
  if (chunk === 'VP8L') {
    // Signature 0x2F, then a little-endian bit stream: width-1 (14 bits), height-1 (14), alpha (1), version (3).
    if (b.length < 25 || b[20] !== 0x2f) return undefined;
    const bits = u32le(b, 21);
    if (bits >>> 29 !== 0) return undefined;
    return sized('webp', (bits & 0x3fff) + 1, ((bits >>> 14) & 0x3fff) + 1);
  }
  if (chunk === 'VP8X') {
    // Flags (1 byte), reserved (3), then the canvas size as 24-bit width-1 and height-1.
    if (b.length < 30) return undefined;
    return sized('webp', u24le(b, 24) + 1, u24le(b, 27) + 1);
  }
  return undefined;
}

function probeJpeg(b: Uint8Array): ImageInfo | undefined {
  // Walk the marker segments after SOI, jumping over each whole segment by its length: an APP1 EXIF
  // segment can embed a thumbnail JPEG with its own SOF, which must never be mistaken for the main one.
  let i = 2;
  // `i` grows by at least 2 on every pass, so the loop ends.
  while (i < b.length) {
    if (b[i] !== 0xff) return undefined;
    // Any marker may be preceded by any number of 0xFF fill bytes (ITU T.81 B.1.1.2).
    while (b[i] === 0xff) i += 1;
    const marker = b[i];
    if (marker === undefined) return undefined;
    i += 1;
    if (isStandalone(marker)) continue;
    // A scan, the end of the image, a second SOI or a stuffed 0x00 before any SOF: not a valid header.
    if (marker === 0xda || marker === 0xd9 || marker === 0xd8 || marker === 0x00) return undefined;
    if (i + 2 > b.length) return undefined;
    const length = u16be(b, i);
    if (length < 2) return undefined;
    if (isStartOfFrame(marker)) {
      // Length (2), sample precision (1), number of lines (2), samples per line (2).
      if (length < 8 || i + 7 > b.length) return undefined;
      // A height of 0 defers it to a DNL marker after the first scan, out of reach of a header probe.
      return sized('jpeg', u16be(b, i + 5), u16be(b, i + 3));
    }
    i += length;
  }
  return undefined;
}

/** TEM and RST0–RST7 carry no length field. */
function isStandalone(marker: number): boolean {
  return marker === 0x01 || (marker >= 0xd0 && marker <= 0xd7);
}

/** SOF0–SOF15 except C4 (DHT), C8 (JPG extension) and CC (DAC), which share the range. */
function isStartOfFrame(marker: number): boolean {
  return marker >= 0xc0 && marker <= 0xcf && marker !== 0xc4 && marker !== 0xc8 && marker !== 0xcc;
}

function sized(format: ImageFormat, width: number, height: number): ImageInfo | undefined {
  // A zero or negative dimension is a corrupt (or deferred) header, not an image of no pixels.
  return width >= 1 && height >= 1 ? { format, width, height } : undefined;
}

function startsWith(b: Uint8Array, offset: number, bytes: readonly number[]): boolean {
  return b.length >= offset + bytes.length && bytes.every((byte, k) => b[offset + k] === byte);
}

function ascii(text: string): readonly number[] {
  return Array.from(text, (c) => c.charCodeAt(0));
}

// Readers below assume the caller checked the length; `?? 0` only satisfies noUncheckedIndexedAccess.
function u16be(b: Uint8Array, o: number): number {
  return ((b[o] ?? 0) << 8) | (b[o + 1] ?? 0);
}

function u16le(b: Uint8Array, o: number): number {
  return (b[o] ?? 0) | ((b[o + 1] ?? 0) << 8);
}

function u24le(b: Uint8Array, o: number): number {
  return u16le(b, o) | ((b[o + 2] ?? 0) << 16);
}

function i32le(b: Uint8Array, o: number): number {
  return u24le(b, o) | ((b[o + 3] ?? 0) << 24);
}

function u32le(b: Uint8Array, o: number): number {
  return i32le(b, o) >>> 0;
}

function u32be(b: Uint8Array, o: number): number {
  return (((b[o] ?? 0) << 24) | ((b[o + 1] ?? 0) << 16) | ((b[o + 2] ?? 0) << 8) | (b[o + 3] ?? 0)) >>> 0;
}
