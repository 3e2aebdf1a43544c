/**
 * A HEIC built by hand, box by box (ISO/IEC 23008-12): ftyp `heic`; meta with hdlr `pict`,
 * pitm, iinf (an `hvc1` picture, an `Exif` item, an XMP `mime` item), iloc, iprp (ispe,
 * colr, optionally irot) and optionally idat; mdat with the coded picture (random bytes: the
 * stripper never decodes it) and the metadata payloads. No HEVC encoder is needed.
 */
import { randomBytes } from 'node:crypto';

const u8 = (n: number) => Buffer.from([n]);
const u16 = (n: number) => {
  const b = Buffer.alloc(2);
  b.writeUInt16BE(n);
  return b;
};
const u32 = (n: number) => {
  const b = Buffer.alloc(4);
  b.writeUInt32BE(n);
  return b;
};
const cstr = (s: string) => Buffer.from(`${s}\0`);

export function box(type: string, ...payload: Buffer[]): Buffer {
  const body = Buffer.concat(payload);
  return Buffer.concat([u32(body.length + 8), Buffer.from(type, 'latin1'), body]);
}

export function fullBox(type: string, version: number, flags: number, ...payload: Buffer[]) {
  return box(type, u32((version << 24) | flags), ...payload);
}

function infe(id: number, type: string, contentType?: string): Buffer {
  const parts = [u16(id), u16(0), Buffer.from(type, 'latin1'), cstr('')];
  if (contentType !== undefined) parts.push(cstr(contentType));
  return fullBox('infe', 2, 0, ...parts);
}

export interface HeicFixture {
  bytes: Buffer;
  /** The coded picture's bytes, and where they are in the file. */
  picture: Buffer;
  pictureAt: number;
  /** Where the Exif and XMP payloads are in the file (start, end). */
  exifAt: [number, number];
  xmpAt: [number, number];
}

export interface HeicOptions {
  width?: number;
  height?: number;
  marker?: string;
  /** Rotation in quarter turns (an `irot` property). */
  rotate?: number;
  /** Put the Exif payload in meta/idat (construction method 1) instead of mdat. */
  exifInIdat?: boolean;
  /** Extra top-level box after mdat. */
  trailer?: Buffer;
  /** Extra meta children (e.g. an `xml ` box), after iprp. */
  metaExtra?: Buffer[];
  /** A `udes` (user description) property with this text. */
  udes?: string;
  /** The XMP item's infe in version 0 (no item type, a content type). */
  xmpInfeV0?: boolean;
  /** mdat with a 64-bit size (size field 1). */
  largeMdat?: boolean;
}

export function heic(options: HeicOptions = {}): HeicFixture {
  const { width = 640, height = 480, marker = 'KANARIE-HEIC-Gps7', rotate } = options;
  const picture = Buffer.concat([u32(64), randomBytes(200)]);
  const exif = Buffer.concat([
    u32(6),
    Buffer.from('Exif\0\0MM\0*\0\0\0\x08'),
    Buffer.from(`GPSLatitude 55/1 40/1 0/1 N; GPSLongitude 12/1 34/1 E; ${marker}; KanarieCam`),
  ]);
  const xmp = Buffer.from(
    `<x:xmpmeta xmlns:x="adobe:ns:meta/"><rdf:RDF><rdf:Description exif:GPSLatitude="55,40N" dc:description="${marker}"/></rdf:RDF></x:xmpmeta>`,
  );
  const ftyp = box('ftyp', Buffer.from('heic'), u32(0), Buffer.from('mif1heic'));
  const properties = [
    fullBox('ispe', 0, 0, u32(width), u32(height)),
    box('colr', Buffer.from('nclx'), u16(1), u16(13), u16(6), u8(0x80)),
  ];
  if (rotate !== undefined) properties.push(box('irot', u8(rotate & 3)));
  if (options.udes !== undefined) {
    const text = cstr(options.udes);
    properties.push(fullBox('udes', 0, 0, cstr('da'), text, text, cstr('')));
  }
  const associations = properties.map((_, i) => u8(i === 0 ? 0x80 | (i + 1) : i + 1));
  const iprp = box(
    'iprp',
    box('ipco', ...properties),
    fullBox('ipma', 0, 0, u32(1), u16(1), u8(associations.length), ...associations),
  );
  const idatBody = options.exifInIdat ? exif : Buffer.alloc(0);
  const meta = (offsets: { picture: number; exif: number; xmp: number }) => {
    // iloc version 1 (construction methods), 4-byte offsets and lengths, no base offset.
    const item = (id: number, method: number, offset: number, length: number) =>
      Buffer.concat([u16(id), u16(method), u16(0), u16(1), u32(offset), u32(length)]);
    const iloc = fullBox(
      'iloc',
      1,
      0,
      u16(0x4400),
      u16(3),
      item(1, 0, offsets.picture, picture.length),
      item(2, options.exifInIdat ? 1 : 0, offsets.exif, exif.length),
      item(3, 0, offsets.xmp, xmp.length),
    );
    return fullBox(
      'meta',
      0,
      0,
      fullBox('hdlr', 0, 0, u32(0), Buffer.from('pict'), Buffer.alloc(12), cstr('')),
      fullBox('pitm', 0, 0, u16(1)),
      fullBox(
        'iinf',
        0,
        0,
        u16(3),
        infe(1, 'hvc1'),
        infe(2, 'Exif'),
        options.xmpInfeV0
          ? fullBox('infe', 0, 0, u16(3), u16(0), cstr('xmp'), cstr('application/rdf+xml'))
          : infe(3, 'mime', 'application/rdf+xml'),
      ),
      iloc,
      iprp,
      ...(options.metaExtra ?? []),
      ...(options.exifInIdat ? [box('idat', idatBody)] : []),
    );
  };
  // The meta box's size does not depend on the offsets it holds: build it once to measure.
  const metaLength = meta({ picture: 0, exif: 0, xmp: 0 }).length;
  const mdatBody = Buffer.concat([picture, options.exifInIdat ? Buffer.alloc(0) : exif, xmp]);
  const mdatHeader = options.largeMdat ? 16 : 8;
  const pictureAt = ftyp.length + metaLength + mdatHeader;
  const exifAt = options.exifInIdat ? 0 : pictureAt + picture.length;
  const xmpAt = pictureAt + picture.length + (options.exifInIdat ? 0 : exif.length);
  const builtMeta = meta({ picture: pictureAt, exif: exifAt, xmp: xmpAt });
  const bytes = Buffer.concat([
    ftyp,
    builtMeta,
    options.largeMdat
      ? Buffer.concat([u32(1), Buffer.from('mdat'), u32(0), u32(mdatBody.length + 16), mdatBody])
      : box('mdat', mdatBody),
    ...(options.trailer ? [options.trailer] : []),
  ]);
  const idatStart = options.exifInIdat ? ftyp.length + builtMeta.length - exif.length : 0;
  const exifStart = options.exifInIdat ? idatStart : exifAt;
  return {
    bytes,
    picture,
    pictureAt,
    exifAt: [exifStart, exifStart + exif.length],
    xmpAt: [xmpAt, xmpAt + xmp.length],
  };
}
