/**
 * Image thumbnails made in the page with a canvas, sized so that the whole message (file name,
 * description and thumbnail) stays within the 32 KiB budget (`docs/contract.md` §3).
 * @module
 */
import { MAX_MESSAGE_SIZE } from '../src/index.js';

/** A JPEG thumbnail and its size, plus the size of the image it was made from. */
export interface Thumbnail {
  readonly bytes: Uint8Array;
  readonly width: number;
  readonly height: number;
  readonly sourceWidth: number;
  readonly sourceHeight: number;
}

/** Longest side of a first attempt, in CSS pixels; halved while even the lowest quality is too big. */
const FIRST_SIDE = 240;
const QUALITIES = [0.85, 0.7, 0.55, 0.4] as const;

const utf8Length = (text: string): number => new TextEncoder().encode(text).length;

/** Bytes left for a thumbnail in a message that carries `fileName` and `description`. */
export const thumbnailBudget = (fileName: string, description = ''): number =>
  MAX_MESSAGE_SIZE - utf8Length(fileName) - utf8Length(description);

const encode = (canvas: HTMLCanvasElement, quality: number): Promise<Blob> =>
  new Promise((resolve, reject) =>
    canvas.toBlob((blob) => (blob ? resolve(blob) : reject(new Error('the canvas could not encode a JPEG'))), 'image/jpeg', quality),
  );

/**
 * A JPEG thumbnail of `image` within `budget` bytes, or `undefined` if the browser cannot decode it
 * (not an image, or a format it does not know).
 * @example
 * const thumb = await makeThumbnail(file, thumbnailBudget(file.name));
 */
export const makeThumbnail = async (image: Blob, budget: number): Promise<Thumbnail | undefined> => {
  let bitmap: ImageBitmap;
  try {
    bitmap = await createImageBitmap(image);
  } catch {
    return undefined; // not decodable here: the message goes without a thumbnail, which is allowed
  }
  try {
    const { width: sourceWidth, height: sourceHeight } = bitmap;
    const canvas = document.createElement('canvas');
    for (let side = FIRST_SIDE; side >= 8; side = Math.floor(side / 2)) {
      const scale = Math.min(1, side / Math.max(sourceWidth, sourceHeight));
      canvas.width = Math.max(1, Math.round(sourceWidth * scale));
      canvas.height = Math.max(1, Math.round(sourceHeight * scale));
      const context = canvas.getContext('2d');
      if (!context) return undefined;
      context.fillStyle = '#fff'; // JPEG has no alpha: transparent pixels become white, not black
      context.fillRect(0, 0, canvas.width, canvas.height);
      context.drawImage(bitmap, 0, 0, canvas.width, canvas.height);
      for (const quality of QUALITIES) {
        const blob = await encode(canvas, quality);
        if (blob.size <= budget) {
          const bytes = new Uint8Array(await blob.arrayBuffer());
          return { bytes, width: canvas.width, height: canvas.height, sourceWidth, sourceHeight };
        }
      }
    }
    return undefined;
  } finally {
    bitmap.close();
  }
};
