import { fileTypeFromBuffer } from 'file-type';
import { imageSize } from 'image-size';
import { PayloadTooLarge, UnsupportedMediaType } from '../../errors.js';
import type { ATTACHMENT_TYPES } from '../../db/schema/attachments.js';
import { HeicUnreadable } from './attachments.heic.js';
import { HeicStripper, heicDimensions, stripHeic } from './attachments.heic.stream.js';
import { checkBounds, stripJpeg, stripPng, type ImageInfo } from './attachments.strip.js';

export { MAX_IMAGE_PIXELS, MAX_IMAGE_SIDE } from './attachments.strip.js';

export type AttachmentType = (typeof ATTACHMENT_TYPES)[number];

/** file-type needs at most this many leading bytes to recognise the types we accept. */
export const SNIFF_BYTES = 4100;

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
  checkBounds(size.width, size.height);
  return { width: size.width, height: size.height };
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
      // A view, not a copy: the parser hands on fresh buffers and never reuses them.
      yield Buffer.from(next.value.buffer, next.value.byteOffset, next.value.byteLength);
    }
  }
  return { head, all: all() };
}

/**
 * Removes what is not needed to display an image (EXIF with GPS, make, model and serials; XMP;
 * IPTC; PNG text chunks), losslessly. JPEG and PNG stream through attachments.strip.ts: their
 * segments and chunks are read as they arrive and the metadata ones dropped, the picture kept
 * byte for byte (full resolution, no re-encoding; the ICC profile and the EXIF orientation are
 * kept). HEIC streams too: its `meta` (held, at most 1 MiB) gives the ranges of its metadata
 * items, which are zeroed in place as the rest of the file goes past (attachments.heic.stream.ts;
 * a HEIC whose `mdat` comes before its `meta` is refused, 415). A PDF passes untouched.
 * `info` receives the displayed width and height once the stream has ended.
 */
export function stripStream(
  type: AttachmentType,
  source: AsyncIterable<Buffer>,
  info: ImageInfo,
): AsyncIterable<Buffer> {
  if (type === 'application/pdf') return source;
  const strip = type === 'image/heic' ? heic : type === 'image/jpeg' ? stripJpeg : stripPng;
  return drainingOnError(strip, source, info);
}

/**
 * An image that does not parse is 415, but a file over ATTACHMENT_MAX_BYTES is 413 whatever it
 * holds (the size is checked before the rules, and the old whole-file read found it first): the
 * rest of a malformed image is read and dropped, so the size limit still has its say.
 */
async function* drainingOnError(
  strip: typeof stripJpeg,
  source: AsyncIterable<Buffer>,
  info: ImageInfo,
): AsyncGenerator<Buffer> {
  try {
    yield* strip(source, info);
  } catch (error) {
    if (error instanceof UnsupportedMediaType) for await (const piece of source) void piece;
    throw error;
  }
}

/** What a HEIC that does not parse answers: 415, with the reason when it is worth telling. */
function heicRefused(error: HeicUnreadable): UnsupportedMediaType {
  return new UnsupportedMediaType(error.detail ?? 'The image could not be read.');
}

/**
 * HEIC through HeicStripper, piece by piece; the dimension bound (413) is decided from meta's
 * `ispe` before any byte after meta (the coded picture) is handed on.
 */
async function* heic(source: AsyncIterable<Buffer>, info: ImageInfo): AsyncGenerator<Buffer> {
  const stripper = new HeicStripper();
  let bounded = false;
  const checked = (out: Buffer[]): Buffer[] => {
    const plan = stripper.plan;
    if (plan && !bounded) {
      checkBounds(plan.width, plan.height);
      bounded = true;
      [info.width, info.height] = [plan.width, plan.height];
    }
    return out;
  };
  try {
    for await (const piece of source) yield* checked(stripper.push(piece));
    yield* checked(stripper.end());
  } catch (error) {
    throw error instanceof HeicUnreadable ? heicRefused(error) : error;
  }
}

/** The same on a whole file (HEIC, PDF; JPEG and PNG through their streaming strippers). */
export async function stripImage(type: AttachmentType, content: Buffer): Promise<Buffer> {
  if (type === 'application/pdf') return content;
  if (type === 'image/heic') {
    try {
      return stripHeic(content).content;
    } catch (error) {
      throw error instanceof HeicUnreadable ? heicRefused(error) : error;
    }
  }
  const parts: Buffer[] = [];
  const info: ImageInfo = { width: null, height: null };
  async function* once(): AsyncGenerator<Buffer> {
    yield content;
  }
  for await (const piece of stripStream(type, once(), info)) parts.push(piece);
  return Buffer.concat(parts);
}
