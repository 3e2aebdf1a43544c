import { crc32 } from 'node:zlib';
import sharp from 'sharp';
import t from 'tap';
import {
  stripJpeg,
  stripPng,
  tiffOrientation,
  type ImageInfo,
} from '../../src/modules/attachments/attachments.strip.js';
import { stripStream } from '../../src/modules/attachments/attachments.content.js';

const MARKER = 'KANARIE-STRIP-Xq9';
const EXIF = {
  IFD0: { ImageDescription: MARKER, Make: 'KanarieCam', Model: 'K-1' },
  IFD3: { GPSLatitudeRef: 'N', GPSLatitude: '55/1 40/1 0/1' },
};
const has = (bytes: Buffer, text: string) => bytes.includes(Buffer.from(text));

/** The file cut into pieces of `size` bytes, as a stream delivers it. */
async function* pieces(bytes: Buffer, size: number): AsyncGenerator<Buffer> {
  for (let at = 0; at < bytes.length; at += size) yield bytes.subarray(at, at + size);
}

async function run(
  strip: typeof stripJpeg,
  bytes: Buffer,
  size = 65_536,
): Promise<{ out: Buffer; info: ImageInfo }> {
  const info: ImageInfo = { width: null, height: null };
  const parts: Buffer[] = [];
  for await (const part of strip(pieces(bytes, size), info)) parts.push(part);
  return { out: Buffer.concat(parts), info };
}

async function statusOf(promise: Promise<unknown>): Promise<unknown> {
  try {
    await promise;
  } catch (error) {
    return (error as { status?: unknown }).status;
  }
  return 'did not throw';
}

const pixels = (bytes: Buffer) => sharp(bytes).raw().toBuffer();
const noise = (width: number, height: number) =>
  sharp({
    create: {
      width,
      height,
      channels: 3,
      noise: { type: 'gaussian', mean: 128, sigma: 40 },
      background: '#808080',
    },
  });

/** A JPEG segment: marker, length, payload. */
function segment(marker: number, payload: Buffer): Buffer {
  const head = Buffer.from([0xff, marker, 0, 0]);
  head.writeUInt16BE(payload.length + 2, 2);
  return Buffer.concat([head, payload]);
}

function pngChunk(type: string, data: Buffer): Buffer {
  const head = Buffer.alloc(8);
  head.writeUInt32BE(data.length, 0);
  head.write(type, 4, 'latin1');
  const crc = Buffer.alloc(4);
  crc.writeUInt32BE(crc32(data, crc32(head.subarray(4))), 0);
  return Buffer.concat([head, data, crc]);
}

t.test('JPEG: metadata gone, every pixel kept, whatever the piece size', async (t) => {
  const xmp = segment(
    0xe1,
    Buffer.from(`http://ns.adobe.com/xap/1.0/\0<x:xmpmeta>${MARKER}</x:xmpmeta>`),
  );
  const comment = segment(0xfe, Buffer.from(`comment ${MARKER}`));
  for (const progressive of [false, true]) {
    const made = await noise(96, 64)
      .withIccProfile('p3')
      .withExif(EXIF)
      .jpeg({ progressive })
      .toBuffer();
    // XMP, a comment and a trailing secondary picture (as MPF writers append) around it.
    const jpeg = Buffer.concat([made.subarray(0, 2), xmp, comment, made.subarray(2), made]);
    t.ok(has(jpeg, MARKER) && has(jpeg, 'KanarieCam'), 'the fixture carries the marker');
    const whole = await run(stripJpeg, jpeg, jpeg.length);
    for (const size of [1, 7, 4096]) {
      t.ok((await run(stripJpeg, jpeg, size)).out.equals(whole.out), `pieces of ${size}`);
    }
    t.notOk(has(whole.out, MARKER) || has(whole.out, 'KanarieCam'), 'no marker, no make');
    const meta = await sharp(whole.out).metadata();
    t.equal(meta.exif, undefined, 'no EXIF (GPS included)');
    t.equal(meta.xmp, undefined, 'no XMP');
    t.ok(meta.icc, 'the colour profile is kept');
    t.equal(meta.isProgressive, progressive);
    t.same(whole.info, { width: 96, height: 64 });
    t.ok((await pixels(whole.out)).equals(await pixels(made)), 'the same pixels (lossless)');
    t.ok(whole.out.length < made.length, 'the trailing picture and the EXIF are dropped');
  }
});

t.test('orientation: kept as a lone EXIF tag, dimensions as displayed', async (t) => {
  const jpeg = await noise(40, 30)
    .withExif(EXIF)
    .withMetadata({ orientation: 6 })
    .jpeg()
    .toBuffer();
  t.equal((await sharp(jpeg).metadata()).orientation, 6);
  const { out, info } = await run(stripJpeg, jpeg, 100);
  t.notOk(has(out, MARKER) || has(out, 'KanarieCam'));
  const meta = await sharp(out).metadata();
  t.equal(meta.orientation, 6, 'shown as taken');
  t.equal(meta.exif?.length, 6 + 26, 'an EXIF holding the orientation only');
  t.same(info, { width: 30, height: 40 }, 'a quarter turn: displayed width and height');
  const png = await noise(40, 30).withMetadata({ orientation: 8 }).png().toBuffer();
  const back = await run(stripPng, png, 33);
  t.same(back.info, { width: 30, height: 40 });
  t.equal(tiffOrientation(Buffer.alloc(3)), 1, 'no TIFF: no turn');
});

t.test('PNG: text and EXIF chunks gone, pixels and CRCs kept', async (t) => {
  const made = await noise(33, 17).withIccProfile('p3').withExif(EXIF).png().toBuffer();
  const text = pngChunk('tEXt', Buffer.from(`Comment\0${MARKER}`));
  const png = Buffer.concat([made.subarray(0, 33), text, made.subarray(33), text]);
  const whole = await run(stripPng, png, png.length);
  t.ok((await run(stripPng, png, 1)).out.equals(whole.out), 'pieces of 1 byte');
  t.notOk(has(whole.out, MARKER), 'no marker');
  t.notOk(has(whole.out, 'tEXt') || has(whole.out, 'zTXt') || has(whole.out, 'eXIf'));
  t.ok((await sharp(whole.out).metadata()).icc, 'iCCP kept');
  t.ok((await pixels(whole.out)).equals(await pixels(made)), 'the same pixels');
  t.same(whole.info, { width: 33, height: 17 });

  const flipped = Buffer.from(made);
  flipped[flipped.length - 20]! ^= 1; // inside the last IDAT
  t.equal(await statusOf(run(stripPng, flipped)), 415, 'a CRC that does not match');
  t.equal(await statusOf(run(stripPng, made.subarray(0, made.length - 12))), 415, 'no IEND');
  t.equal(await statusOf(run(stripPng, made.subarray(8))), 415, 'no signature');
  t.equal(await statusOf(run(stripPng, made.subarray(0, 200))), 415, 'cut inside the pixels');
});

t.test('malformed or too large: 415 and 413 before any pixel is handed on', async (t) => {
  const jpeg = await noise(20, 20).jpeg().toBuffer();
  t.equal(await statusOf(run(stripJpeg, jpeg.subarray(0, jpeg.length - 40))), 415, 'truncated');
  t.equal(await statusOf(run(stripJpeg, jpeg.subarray(1))), 415, 'no SOI');
  t.equal(await statusOf(run(stripJpeg, Buffer.from([0xff, 0xd8, 0xff, 0xd9]))), 415, 'no picture');
  const wide = await sharp({
    create: { width: 20_000, height: 10, channels: 3, background: '#000' },
  })
    .jpeg()
    .toBuffer();
  const info: ImageInfo = { width: null, height: null };
  const handed: Buffer[] = [];
  const strip = stripJpeg(pieces(wide, 16), info);
  const status = await statusOf(
    (async () => {
      for await (const part of strip) handed.push(part);
    })(),
  );
  t.equal(status, 413, 'too many pixels a side');
  t.notOk(Buffer.concat(handed).includes(Buffer.from([0xff, 0xda])), 'no scan was handed on');
  const tall = await sharp({
    create: { width: 10, height: 20_000, channels: 3, background: '#000' },
  })
    .png()
    .toBuffer();
  t.equal(await statusOf(run(stripPng, tall)), 413, 'PNG too tall');

  // The size limit still has its say over a malformed image (413 before 415, as before).
  async function* overLimit(): AsyncGenerator<Buffer> {
    yield Buffer.from([0xff, 0xd8, 0x00]);
    throw Object.assign(new Error('too large'), { status: 413 });
  }
  t.equal(await statusOf(collectAll(stripStream('image/jpeg', overLimit(), info))), 413);
});

async function collectAll(source: AsyncIterable<Buffer>): Promise<void> {
  for await (const part of source) void part;
}

t.test('streaming: what is held back stays under two pieces, whatever the size', async (t) => {
  const piece = 16_384;
  for (const [format, strip] of [
    ['jpeg', stripJpeg],
    ['png', stripPng],
  ] as const) {
    const image = await noise(1600, 1200).withExif(EXIF)[format]().toBuffer();
    t.ok(image.length > 40 * piece, `${format}: ${image.length} bytes`);
    let pulled = 0;
    let handed = 0;
    let ahead = 0;
    async function* source(): AsyncGenerator<Buffer> {
      for await (const part of pieces(image, piece)) {
        pulled += part.length;
        ahead = Math.max(ahead, pulled - handed);
        yield part;
      }
    }
    const info: ImageInfo = { width: null, height: null };
    for await (const part of strip(source(), info)) handed += part.length;
    t.ok(ahead <= 2 * piece, `${format}: at most ${ahead} bytes read ahead of what was handed on`);
    t.ok(handed > image.length * 0.9, `${format}: the picture was handed on`);
  }
});

t.test('malformed structures are refused, odd EXIF reads as no turn', async (t) => {
  const soi = Buffer.from([0xff, 0xd8]);
  const jpeg = await noise(16, 16).jpeg().toBuffer();
  const sof = jpeg.indexOf(Buffer.from([0xff, 0xc0]));
  const sofSegment = jpeg.subarray(sof, sof + 2 + jpeg.readUInt16BE(sof + 2));
  for (const [what, bytes] of [
    ['a restart marker outside a scan', Buffer.concat([soi, Buffer.from([0xff, 0xd0])])],
    ['a segment length under 2', Buffer.concat([soi, Buffer.from([0xff, 0xdb, 0, 1])])],
    ['no marker where one must be', Buffer.concat([soi, Buffer.from([0x12, 0x34])])],
    ['two frames', Buffer.concat([jpeg.subarray(0, sof), sofSegment, jpeg.subarray(sof)])],
    ['a scan before its frame', Buffer.concat([soi, segment(0xda, Buffer.alloc(8))])],
    ['a frame too short', Buffer.concat([soi, segment(0xc0, Buffer.alloc(3))])],
    ['an empty frame', Buffer.concat([soi, segment(0xc0, Buffer.alloc(6))])],
  ] as const) {
    t.equal(await statusOf(run(stripJpeg, bytes)), 415, what);
  }
  const filled = Buffer.concat([soi, Buffer.from([0xff, 0xff]), jpeg.subarray(2)]);
  t.same((await run(stripJpeg, filled)).info, { width: 16, height: 16 }, 'fill bytes');

  const png = await noise(4, 4).png().toBuffer();
  const signature = png.subarray(0, 8);
  const rest = png.subarray(8 + 25);
  for (const [what, bytes] of [
    [
      'IHDR not first',
      Buffer.concat([signature, pngChunk('gAMA', Buffer.alloc(4)), png.subarray(8)]),
    ],
    [
      'an IHDR of the wrong length',
      Buffer.concat([signature, pngChunk('IHDR', Buffer.alloc(12)), rest]),
    ],
    ['an empty IHDR', Buffer.concat([signature, pngChunk('IHDR', Buffer.alloc(13)), rest])],
    [
      'a chunk type that is not letters',
      Buffer.concat([png.subarray(0, 33), pngChunk('a1b2', Buffer.alloc(1)), rest]),
    ],
    ['no IDAT', Buffer.concat([png.subarray(0, 33), pngChunk('IEND', Buffer.alloc(0))])],
  ] as const) {
    t.equal(await statusOf(run(stripPng, bytes)), 415, what);
  }
  // A big eXIf is dropped unread; one after the pixels is dropped too.
  const exif = pngChunk('eXIf', Buffer.alloc(70_000));
  const late = Buffer.concat([
    png.subarray(0, png.length - 12),
    exif,
    png.subarray(png.length - 12),
  ]);
  const both = Buffer.concat([png.subarray(0, 33), exif, late.subarray(33)]);
  t.notOk((await run(stripPng, both)).out.includes(Buffer.from('eXIf')));

  const tiff = (order: string, entries: number, tag = 0x0112, value = 6) => {
    const le = order === 'II';
    const b = Buffer.alloc(8 + 2 + entries * 12);
    b.write(order, 0, 'latin1');
    const u16 = (v: number, at: number) => (le ? b.writeUInt16LE(v, at) : b.writeUInt16BE(v, at));
    const u32 = (v: number, at: number) => (le ? b.writeUInt32LE(v, at) : b.writeUInt32BE(v, at));
    u16(42, 2);
    u32(8, 4);
    u16(entries, 8);
    for (let i = 0; i < entries; i++) {
      u16(tag, 10 + i * 12);
      u16(3, 12 + i * 12);
      u32(1, 14 + i * 12);
      u16(value, 18 + i * 12);
    }
    return b;
  };
  t.equal(tiffOrientation(tiff('II', 1)), 6, 'little-endian');
  t.equal(tiffOrientation(tiff('MM', 1)), 6, 'big-endian');
  t.equal(tiffOrientation(tiff('XX', 1)), 1, 'no byte order');
  t.equal(tiffOrientation(tiff('II', 1, 0x010f)), 1, 'no orientation tag');
  t.equal(tiffOrientation(tiff('II', 1, 0x0112, 9)), 1, 'not an orientation');
  t.equal(tiffOrientation(tiff('II', 2).subarray(0, 20)), 1, 'entries cut short');
  const far = tiff('II', 1);
  far.writeUInt32LE(1000, 4);
  t.equal(tiffOrientation(far), 1, 'IFD0 past the end');
});
