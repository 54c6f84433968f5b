/**
 * Thumbnails without native dependencies. Making a real downscaled thumbnail needs an image decoder and
 * encoder, and the pure-JavaScript ones are not among ferry's dependencies, so the CLI does not resize.
 * What it can do without decoding: camera JPEGs usually carry a ready-made thumbnail (a small JPEG) in
 * their EXIF block, and that is reused when it fits the message budget. Other images are sent without a
 * thumbnail, which messages allow.
 * @module
 */
import { probeImage } from '../client/image-probe.js';

/** The largest embedded thumbnail reused: a quarter of the 32 KiB message budget. */
export const MAX_THUMBNAIL_BYTES = 8 * 1024;

/** A thumbnail and its pixel size. */
export interface Thumbnail {
  readonly bytes: Uint8Array;
  readonly width: number;
  readonly height: number;
}

/** The TIFF structure of an EXIF block: byte order and bounds-checked reads. */
const tiffReader = (tiff: Uint8Array) => {
  const view = new DataView(tiff.buffer, tiff.byteOffset, tiff.byteLength);
  const little = tiff[0] === 0x49 && tiff[1] === 0x49;
  const u16 = (at: number): number | undefined => (at >= 0 && at + 2 <= tiff.length ? view.getUint16(at, little) : undefined);
  const u32 = (at: number): number | undefined => (at >= 0 && at + 4 <= tiff.length ? view.getUint32(at, little) : undefined);
  return { u16, u32, valid: little || (tiff[0] === 0x4d && tiff[1] === 0x4d) };
};

/** The bytes of the EXIF thumbnail in a TIFF block (IFD1's JPEGInterchangeFormat and its length). */
const thumbnailInTiff = (tiff: Uint8Array): Uint8Array | undefined => {
  const { u16, u32, valid } = tiffReader(tiff);
  if (!valid || u16(2) !== 42) return undefined;
  const ifd0 = u32(4);
  const count0 = ifd0 === undefined ? undefined : u16(ifd0);
  if (ifd0 === undefined || count0 === undefined) return undefined;
  const ifd1 = u32(ifd0 + 2 + count0 * 12);
  const count1 = ifd1 ? u16(ifd1) : undefined;
  if (!ifd1 || count1 === undefined) return undefined;
  let offset: number | undefined;
  let length: number | undefined;
  for (let i = 0; i < count1; i++) {
    const entry = ifd1 + 2 + i * 12;
    const tag = u16(entry);
    if (tag === 0x0201) offset = u32(entry + 8);
    if (tag === 0x0202) length = u32(entry + 8);
  }
  if (offset === undefined || length === undefined || length === 0 || offset + length > tiff.length) return undefined;
  return tiff.subarray(offset, offset + length);
};

/**
 * The EXIF thumbnail of a JPEG, from its first bytes (the APP1 segment comes first, within the
 * 128 KiB the image probe reads), if it is a JPEG no larger than {@link MAX_THUMBNAIL_BYTES} whose size
 * can be read. Never throws.
 */
export const exifThumbnail = (head: Uint8Array): Thumbnail | undefined => {
  if (head[0] !== 0xff || head[1] !== 0xd8) return undefined;
  let at = 2;
  while (at + 4 <= head.length && head[at] === 0xff) {
    const marker = head[at + 1] as number;
    if (marker === 0xd9 || marker === 0xda) return undefined; // end of image, or the pixels start
    const length = ((head[at + 2] as number) << 8) | (head[at + 3] as number);
    const body = head.subarray(at + 4, at + 2 + length);
    const isExif = marker === 0xe1 && body.length > 6 && String.fromCharCode(...body.subarray(0, 4)) === 'Exif' && body[4] === 0 && body[5] === 0;
    if (isExif) {
      const bytes = thumbnailInTiff(body.subarray(6));
      const info = bytes ? probeImage(bytes) : undefined;
      if (!bytes || !info || info.format !== 'jpeg' || bytes.length > MAX_THUMBNAIL_BYTES) return undefined;
      return { bytes: bytes.slice(), width: info.width, height: info.height };
    }
    at += 2 + length;
  }
  return undefined;
};
