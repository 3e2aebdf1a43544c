import { fileTypeFromBuffer } from 'file-type';
import { imageSize } from 'image-size';
import sharp from 'sharp';
import { PayloadTooLarge, UnsupportedMediaType } from '../../errors.js';
import type { ATTACHMENT_TYPES } from '../../db/schema/attachments.js';
import { heicDimensions, stripHeic } from './attachments.heic.js';

export type AttachmentType = (typeof ATTACHMENT_TYPES)[number];

/** file-type needs at most this many leading bytes to recognise the types we accept. */
export const SNIFF_BYTES = 4100;
/** Image bounds: decoding a "decompression bomb" must not exhaust memory. */
export const MAX_IMAGE_SIDE = 16_384;
export const MAX_IMAGE_PIXELS = 100_000_000;

const ACCEPTED: Record<string, AttachmentType> = {
  'image/jpeg': 'image/jpeg',
  'image/png': 'image/png',
  'image/heic': 'image/heic',
  'application/pdf': 'application/pdf',
};

/** The type taken from the bytes (never the declared one), or 415. */
export async function sniffType(head: Buffer): Promise<AttachmentType> {
  const found = await fileTypeFromBuffer(head);
  const type = found ? ACCEPTED[found.mime] : undefined;
  if (!type) {
    throw new UnsupportedMediaType('Only JPEG, PNG, HEIC and PDF files are accepted.');
  }
  return type;
}

/** Width and height of an image (null for a PDF); an image too large to decode safely → 413. */
export function dimensionsOf(
  type: AttachmentType,
  content: Buffer,
): { width: number | null; height: number | null } {
  if (type === 'application/pdf') return { width: null, height: null };
  let size: { width: number; height: number };
  try {
    // HEIC: the primary item's ispe (attachments.heic.ts), the one parser that strips it too.
    size = type === 'image/heic' ? heicDimensions(content) : imageSize(content);
  } catch {
    throw new UnsupportedMediaType('The image could not be read.');
  }
  const { width, height } = size;
  if (width > MAX_IMAGE_SIDE || height > MAX_IMAGE_SIDE || width * height > MAX_IMAGE_PIXELS) {
    throw new PayloadTooLarge(
      `Images may be at most ${MAX_IMAGE_SIDE} pixels a side and ${MAX_IMAGE_PIXELS / 1_000_000} megapixels.`,
    );
  }
  return { width, height };
}

/**
 * Reads a byte stream into `head` (the first SNIFF_BYTES or all of it) and hands back an
 * iterable of everything, head first, counting bytes: more than `maxBytes` → 413 as soon as
 * the limit is passed (the rest is never read into memory).
 */
export async function peek(
  source: AsyncIterable<Uint8Array>,
  maxBytes: number,
): Promise<{ head: Buffer; all: AsyncIterable<Buffer> }> {
  const iterator = source[Symbol.asyncIterator]();
  const parts: Buffer[] = [];
  let length = 0;
  let done = false;
  while (length < SNIFF_BYTES) {
    const next = await iterator.next();
    if (next.done) {
      done = true;
      break;
    }
    const bytes = Buffer.from(next.value);
    parts.push(bytes);
    length += bytes.length;
  }
  const head = Buffer.concat(parts, length);
  const tooLarge = () =>
    new PayloadTooLarge(`Attachments may be at most ${maxBytes} bytes (ATTACHMENT_MAX_BYTES).`);
  async function* all(): AsyncGenerator<Buffer> {
    let total = head.length;
    if (total > maxBytes) throw tooLarge();
    if (head.length > 0) yield head;
    if (done) return;
    for (;;) {
      const next = await iterator.next();
      if (next.done) return;
      total += next.value.length;
      if (total > maxBytes) throw tooLarge();
      yield Buffer.from(next.value);
    }
  }
  return { head, all: all() };
}

/**
 * Removes what is not needed to display an image (EXIF with GPS, make, model and serials; XMP;
 * IPTC; PNG text chunks) by decoding it and writing the pixels again with sharp (libvips):
 * the orientation is applied to the pixels (so no EXIF orientation tag is needed), the ICC
 * colour profile is kept, and the resolution is unchanged. PNG is re-written losslessly;
 * JPEG is re-encoded at quality 95 without chroma subsampling (a lossless JPEG strip would
 * keep the bytes but sharp has none; 95/4:4:4 is visually lossless for clinical photos).
 * HEIC cannot be written again (the prebuilt libvips cannot encode HEVC): its metadata items
 * are zeroed in place instead, losslessly (attachments.heic.ts).
 */
export async function stripImage(type: AttachmentType, content: Buffer): Promise<Buffer> {
  if (type === 'application/pdf') return content;
  if (type === 'image/heic') {
    try {
      return stripHeic(content).content;
    } catch {
      throw new UnsupportedMediaType('The image could not be read.');
    }
  }
  const image = sharp(content, { limitInputPixels: MAX_IMAGE_PIXELS }).rotate().keepIccProfile();
  try {
    return await (
      type === 'image/jpeg'
        ? image.jpeg({ quality: 95, chromaSubsampling: '4:4:4' })
        : image.png({ compressionLevel: 9 })
    ).toBuffer();
  } catch {
    throw new UnsupportedMediaType('The image could not be read.');
  }
}
