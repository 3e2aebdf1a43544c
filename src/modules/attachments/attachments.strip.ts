/**
 * Streaming, lossless metadata strippers for JPEG and PNG. They read the file's structure
 * (JPEG segments, PNG chunks) as it arrives and hand on what is needed to display the image,
 * byte for byte, dropping the rest; nothing is decoded or encoded, and no more than one source
 * chunk plus one metadata segment (at most 64 KiB) is held at a time.
 *
 * JPEG keeps: SOI, JFIF APP0, ICC profile APP2, Adobe APP14, tables (DQT, DHT, DRI, DAC),
 * frame and scan headers with their entropy-coded data, EOI. Dropped: EXIF APP1 (GPS, make,
 * model, serials, maker notes, thumbnail), XMP and every other APPn, comments, anything after
 * EOI (MPF secondary images).
 * PNG keeps: IHDR, PLTE, IDAT, IEND and the rendering chunks (tRNS, gAMA, cHRM, sRGB, iCCP,
 * sBIT, bKGD, pHYs, cICP, mDCV, cLLI). Dropped: text (tEXt, zTXt, iTXt), eXIf, tIME,
 * animation and every chunk not named here. Each kept chunk's CRC is checked.
 * Orientation: an EXIF orientation other than 1 is kept as a minimal EXIF holding only that
 * tag (APP1 / eXIf), so the picture is shown as taken; the dimensions reported are the
 * displayed ones (swapped for a quarter turn).
 */
import { crc32 } from 'node:zlib';
import { PayloadTooLarge } from '../../errors.js';
import { ByteReader, unreadable } from './attachments.bytes.js';

/** Image bounds: an image this large is refused whatever its size in bytes. */
export const MAX_IMAGE_SIDE = 16_384;
export const MAX_IMAGE_PIXELS = 100_000_000;

export interface ImageInfo {
  width: number | null;
  height: number | null;
}

/** 413 for an image too large to be displayed safely (a "decompression bomb"). */
export function checkBounds(width: number, height: number): void {
  if (width > MAX_IMAGE_SIDE || height > MAX_IMAGE_SIDE || width * height > MAX_IMAGE_PIXELS) {
    throw new PayloadTooLarge(
      `Images may be at most ${MAX_IMAGE_SIDE} pixels a side and ${MAX_IMAGE_PIXELS / 1_000_000} megapixels.`,
    );
  }
}

/** The Orientation (0x0112) of IFD0 in a TIFF structure, 1 when absent or unreadable. */
export function tiffOrientation(tiff: Buffer): number {
  if (tiff.length < 8) return 1;
  const order = tiff.toString('latin1', 0, 2);
  if (order !== 'II' && order !== 'MM') return 1;
  const le = order === 'II';
  const u16 = (at: number) => (le ? tiff.readUInt16LE(at) : tiff.readUInt16BE(at));
  const u32 = (at: number) => (le ? tiff.readUInt32LE(at) : tiff.readUInt32BE(at));
  const ifd = u32(4);
  if (ifd + 2 > tiff.length) return 1;
  const count = u16(ifd);
  for (let i = 0; i < count; i++) {
    const at = ifd + 2 + i * 12;
    if (at + 12 > tiff.length) return 1;
    if (u16(at) === 0x0112 && u16(at + 2) === 3) {
      const value = u16(at + 8);
      return value >= 1 && value <= 8 ? value : 1;
    }
  }
  return 1;
}

/** A big-endian TIFF structure with one IFD0 entry: Orientation. */
function orientationTiff(orientation: number): Buffer {
  const tiff = Buffer.alloc(26);
  tiff.write('MM', 0, 'latin1');
  tiff.writeUInt16BE(42, 2);
  tiff.writeUInt32BE(8, 4);
  tiff.writeUInt16BE(1, 8);
  tiff.writeUInt16BE(0x0112, 10);
  tiff.writeUInt16BE(3, 12);
  tiff.writeUInt32BE(1, 14);
  tiff.writeUInt16BE(orientation, 18);
  return tiff; // next IFD offset (bytes 22–25) is 0
}

function displayed(info: ImageInfo, orientation: number): void {
  if (orientation >= 5 && info.width !== null) {
    [info.width, info.height] = [info.height, info.width];
  }
}

const EXIF_ID = Buffer.from('Exif\0\0', 'latin1');
const APP0_JFIF = Buffer.from('JFIF\0', 'latin1');
const APP2_ICC = Buffer.from('ICC_PROFILE\0', 'latin1');
const APP14_ADOBE = Buffer.from('Adobe', 'latin1');
/** SOF0–SOF15 but DHT (C4), JPG (C8) and DAC (CC). */
const isFrame = (m: number) => m >= 0xc0 && m <= 0xcf && m !== 0xc4 && m !== 0xc8 && m !== 0xcc;

function segment(marker: number, payload: Buffer): Buffer {
  const head = Buffer.from([0xff, marker, 0, 0]);
  head.writeUInt16BE(payload.length + 2, 2);
  return Buffer.concat([head, payload]);
}

/** Which APPn/COM segments are kept: those needed to display the picture right. */
function keepApp(marker: number, payload: Buffer): boolean {
  const starts = (id: Buffer) => payload.subarray(0, id.length).equals(id);
  if (marker === 0xe0) return starts(APP0_JFIF);
  if (marker === 0xe2) return starts(APP2_ICC);
  if (marker === 0xee) return starts(APP14_ADOBE);
  return false;
}

export async function* stripJpeg(source: AsyncIterable<Buffer>, info: ImageInfo) {
  const bytes = new ByteReader(source[Symbol.asyncIterator]());
  const soi = await bytes.take(2);
  if (soi[0] !== 0xff || soi[1] !== 0xd8) throw unreadable();
  yield Buffer.from(soi);
  let orientation = 1;
  let framed = false;
  let scanned = false;
  for (;;) {
    if ((await bytes.need(2))[0] !== 0xff) throw unreadable();
    while ((await bytes.need(2))[1] === 0xff) await bytes.take(1); // fill bytes
    const marker = bytes.view[1]!;
    await bytes.take(2);
    if (marker === 0xd9) {
      if (!scanned) throw unreadable();
      yield Buffer.from([0xff, 0xd9]);
      break;
    }
    if (marker === 0x01 || (marker >= 0xd0 && marker <= 0xd8)) throw unreadable();
    const length = (await bytes.take(2)).readUInt16BE(0);
    if (length < 2) throw unreadable();
    if ((marker >= 0xe0 && marker <= 0xef) || marker === 0xfe) {
      const payload = Buffer.from(await bytes.take(length - 2));
      if (keepApp(marker, payload)) yield segment(marker, payload);
      else if (marker === 0xe1 && !scanned && payload.subarray(0, 6).equals(EXIF_ID)) {
        orientation = tiffOrientation(payload.subarray(6));
        if (orientation !== 1) {
          yield segment(0xe1, Buffer.concat([EXIF_ID, orientationTiff(orientation)]));
        }
      }
      continue;
    }
    if (isFrame(marker)) {
      const payload = Buffer.from(await bytes.take(length - 2));
      if (framed || payload.length < 6) throw unreadable();
      const [height, width] = [payload.readUInt16BE(1), payload.readUInt16BE(3)];
      if (width === 0 || height === 0) throw unreadable();
      checkBounds(width, height);
      [info.width, info.height] = [width, height];
      framed = true;
      yield segment(marker, payload);
      continue;
    }
    yield Buffer.from([0xff, marker, length >> 8, length & 0xff]);
    yield* bytes.pass(length - 2);
    if (marker === 0xda) {
      if (!framed) throw unreadable();
      scanned = true;
      yield* bytes.scan();
    }
  }
  displayed(info, orientation);
  await bytes.drain();
}

const PNG_SIGNATURE = Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]);
const PNG_KEPT = new Set([
  ...['IHDR', 'PLTE', 'IDAT', 'IEND', 'tRNS', 'gAMA', 'cHRM', 'sRGB', 'iCCP'],
  ...['sBIT', 'bKGD', 'pHYs', 'cICP', 'mDCV', 'cLLI'],
]);
/** An eXIf longer than this is dropped unread (its orientation too). */
const MAX_EXIF_READ = 65_536;

function pngChunk(type: string, data: Buffer): Buffer {
  const head = Buffer.alloc(8);
  head.writeUInt32BE(data.length, 0);
  head.write(type, 4, 'latin1');
  const crc = Buffer.alloc(4);
  crc.writeUInt32BE(crc32(data, crc32(head.subarray(4))), 0);
  return Buffer.concat([head, data, crc]);
}

export async function* stripPng(source: AsyncIterable<Buffer>, info: ImageInfo) {
  const bytes = new ByteReader(source[Symbol.asyncIterator]());
  if (!(await bytes.take(8)).equals(PNG_SIGNATURE)) throw unreadable();
  yield Buffer.from(PNG_SIGNATURE);
  let orientation = 1;
  let first = true;
  let pixels = false;
  for (;;) {
    const head = Buffer.from(await bytes.take(8));
    const length = head.readUInt32BE(0);
    const type = head.toString('latin1', 4, 8);
    if (length > 0x7fffffff || !/^[A-Za-z]{4}$/.test(type)) throw unreadable();
    if (first !== (type === 'IHDR')) throw unreadable();
    first = false;
    if (type === 'IHDR') {
      const data = await bytes.need(length + 4);
      if (length !== 13) throw unreadable();
      const [width, height] = [data.readUInt32BE(0), data.readUInt32BE(4)];
      if (width === 0 || height === 0) throw unreadable();
      checkBounds(width, height);
      [info.width, info.height] = [width, height];
    }
    if (type === 'eXIf' && !pixels && length <= MAX_EXIF_READ) {
      const data = Buffer.from(await bytes.take(length));
      await bytes.take(4); // its CRC: the chunk is not kept
      orientation = tiffOrientation(data);
      if (orientation !== 1) yield pngChunk('eXIf', orientationTiff(orientation));
      continue;
    }
    if (!PNG_KEPT.has(type)) {
      await bytes.skip(length + 4);
      continue;
    }
    if (type === 'IDAT') pixels = true;
    yield head;
    let crc = crc32(head.subarray(4));
    for await (const piece of bytes.pass(length)) {
      crc = crc32(piece, crc);
      yield piece;
    }
    const stored = Buffer.from(await bytes.take(4));
    if (stored.readUInt32BE(0) !== crc) throw unreadable();
    yield stored;
    if (type === 'IEND') break;
  }
  if (!pixels) throw unreadable();
  displayed(info, orientation);
  await bytes.drain();
}
