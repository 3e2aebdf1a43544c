/**
 * The whole-buffer HEIC stripper as it was before uploads streamed (commit 9c68d6e,
 * src/modules/attachments/attachments.heic.ts), frozen here as the oracle: the streaming
 * stripper must hand on exactly these bytes for every HEIC this one accepts.
 */
/**
 * A lossless metadata stripper for HEIC (ISO/IEC 23008-12, an ISOBMFF file). The prebuilt
 * libvips that sharp ships cannot encode HEVC, so a HEIC cannot be decoded and written again
 * like a JPEG; instead the metadata is found in the box structure and overwritten with zeros
 * in place. Every offset in the file stays valid and the coded picture is untouched, byte for
 * byte.
 *
 * What is zeroed: the payload of every item of type `Exif` (EXIF: GPS, make, model, serials),
 * `mime` (XMP, `application/rdf+xml`, and any other MIME-typed metadata) and `uri ` (located
 * through `meta/iinf` and `meta/iloc`, in the file or in `meta/idat`); the text of `udes`
 * (user description) properties; `xml `/`bxml` boxes in `meta`; top-level `uuid` boxes (where
 * some writers put XMP). Kept: the coded image items, and their properties, orientation
 * (`irot`, `imir`) and colour (`colr`, the ICC profile) included.
 *
 * Refused (HeicUnreadable): boxes that do not parse or overrun their parent, a top-level box
 * this stripper does not know (it could hold metadata it would miss), a metadata item it
 * cannot locate exactly (another construction method, an external data reference, a
 * zero-length extent), a metadata range that overlaps a picture's, no primary item or no
 * `ispe` for it.
 */

export class HeicUnreadable extends Error {
  override name = 'HeicUnreadable';
}

interface Box {
  type: string;
  /** The first byte of the box, of its payload (after header, FullBox fields not included), one past its end. */
  start: number;
  body: number;
  end: number;
}

type Range = [start: number, end: number];

const TOP_LEVEL = new Set(['ftyp', 'meta', 'mdat', 'free', 'skip', 'wide', 'uuid']);
const METADATA_ITEMS = new Set(['Exif', 'mime', 'uri ']);

function fail(what: string): never {
  throw new HeicUnreadable(what);
}

/** A bounds-checked big-endian reader over buf[pos, end). */
class Reader {
  constructor(
    private readonly buf: Buffer,
    public pos: number,
    private readonly end: number,
  ) {}

  private need(n: number): number {
    if (this.pos + n > this.end) fail('a box ends inside a field');
    const at = this.pos;
    this.pos += n;
    return at;
  }

  uint(bytes: number): number {
    if (bytes === 0) return 0;
    const at = this.need(bytes);
    if (bytes === 1) return this.buf.readUInt8(at);
    if (bytes === 2) return this.buf.readUInt16BE(at);
    if (bytes === 4) return this.buf.readUInt32BE(at);
    if (bytes === 8) {
      const value = this.buf.readBigUInt64BE(at);
      if (value > BigInt(Number.MAX_SAFE_INTEGER)) fail('a 64-bit value is too large');
      return Number(value);
    }
    return fail(`a field of ${bytes} bytes`);
  }

  skip(n: number): void {
    this.need(n);
  }

  fourcc(): string {
    const at = this.need(4);
    return this.buf.toString('latin1', at, at + 4);
  }

  /** A null-terminated string (UTF-8). */
  string(): string {
    const zero = this.buf.indexOf(0, this.pos);
    if (zero < 0 || zero >= this.end) fail('a string is not terminated');
    const value = this.buf.toString('utf8', this.pos, zero);
    this.pos = zero + 1;
    return value;
  }

  /** FullBox version and flags. */
  full(): { version: number; flags: number } {
    const word = this.uint(4);
    return { version: word >>> 24, flags: word & 0xffffff };
  }
}

/** The boxes in buf[start, end), each checked to lie within it. */
function boxesIn(buf: Buffer, start: number, end: number): Box[] {
  const found: Box[] = [];
  let pos = start;
  while (pos < end) {
    const reader = new Reader(buf, pos, end);
    let size = reader.uint(4);
    const type = reader.fourcc();
    if (size === 1) size = reader.uint(8);
    else if (size === 0) size = end - pos;
    if (type === 'uuid') reader.skip(16);
    if (size < reader.pos - pos || pos + size > end) fail(`box ${JSON.stringify(type)} overruns`);
    found.push({ type, start: pos, body: reader.pos, end: pos + size });
    pos += size;
  }
  return found;
}

interface Extent {
  method: number;
  offset: number;
  length: number;
}

/** `iinf`: item id → item type (a `mime` type for version 0/1 entries with a content type). */
function itemTypes(buf: Buffer, iinf: Box): Map<number, string> {
  const reader = new Reader(buf, iinf.body, iinf.end);
  const { version } = reader.full();
  reader.uint(version === 0 ? 2 : 4);
  const types = new Map<number, string>();
  for (const infe of boxesIn(buf, reader.pos, iinf.end)) {
    if (infe.type !== 'infe') continue;
    const entry = new Reader(buf, infe.body, infe.end);
    const { version: v } = entry.full();
    if (v >= 2) {
      const id = entry.uint(v === 2 ? 2 : 4);
      entry.uint(2);
      types.set(id, entry.fourcc());
    } else {
      const id = entry.uint(2);
      entry.uint(2);
      entry.string();
      // Version 0/1 has no item type: an entry with a content type is a MIME item.
      types.set(id, entry.string() === '' ? 'unknown' : 'mime');
    }
  }
  return types;
}

/** `iloc`: item id → its extents (offsets made absolute to the data source, base included). */
function itemLocations(buf: Buffer, iloc: Box): Map<number, Extent[]> {
  const reader = new Reader(buf, iloc.body, iloc.end);
  const { version } = reader.full();
  if (version > 2) fail('iloc version');
  const sizes = reader.uint(2);
  const [offsetSize, lengthSize, baseSize, indexSize] = [
    sizes >> 12,
    (sizes >> 8) & 15,
    (sizes >> 4) & 15,
    version === 0 ? 0 : sizes & 15,
  ];
  const count = reader.uint(version < 2 ? 2 : 4);
  const locations = new Map<number, Extent[]>();
  for (let i = 0; i < count; i++) {
    const id = reader.uint(version < 2 ? 2 : 4);
    const method = version === 0 ? 0 : reader.uint(2) & 15;
    const dataReference = reader.uint(2);
    const base = reader.uint(baseSize);
    const extents: Extent[] = [];
    const extentCount = reader.uint(2);
    for (let e = 0; e < extentCount; e++) {
      reader.uint(indexSize);
      const offset = base + reader.uint(offsetSize);
      extents.push({
        method: dataReference === 0 ? method : -1,
        offset,
        length: reader.uint(lengthSize),
      });
    }
    locations.set(id, extents);
  }
  return locations;
}

/** Where an extent lies in the file, or null when it cannot be located exactly. */
function rangeOf(extent: Extent, size: number, idat: Box | undefined): Range | null {
  const source: Range | null =
    extent.method === 0 ? [0, size] : extent.method === 1 && idat ? [idat.body, idat.end] : null;
  if (source === null) return null;
  const start = source[0] + extent.offset;
  const end = extent.length === 0 ? source[1] : start + extent.length;
  if (end > source[1]) fail('an item extends past its data');
  return [start, end];
}

/** The primary item's displayed width and height: its `ispe`, turned by its `irot`. */
function primaryDimensions(buf: Buffer, children: Box[]): { width: number; height: number } {
  const pitm = children.find((box) => box.type === 'pitm') ?? fail('no primary item');
  const reader = new Reader(buf, pitm.body, pitm.end);
  const primary = reader.uint(reader.full().version === 0 ? 2 : 4);
  const iprp = children.find((box) => box.type === 'iprp') ?? fail('no item properties');
  const inside = boxesIn(buf, iprp.body, iprp.end);
  const ipco = inside.find((box) => box.type === 'ipco') ?? fail('no item properties');
  const properties = boxesIn(buf, ipco.body, ipco.end);
  const associated: Box[] = [];
  for (const ipma of inside.filter((box) => box.type === 'ipma')) {
    const entries = new Reader(buf, ipma.body, ipma.end);
    const { version, flags } = entries.full();
    const count = entries.uint(4);
    for (let i = 0; i < count; i++) {
      const id = entries.uint(version < 1 ? 2 : 4);
      const n = entries.uint(1);
      for (let a = 0; a < n; a++) {
        const index = flags & 1 ? entries.uint(2) & 0x7fff : entries.uint(1) & 0x7f;
        const property = properties[index - 1];
        if (id === primary && property) associated.push(property);
      }
    }
  }
  const ispe = associated.find((box) => box.type === 'ispe') ?? fail('no ispe for the primary');
  const size = new Reader(buf, ispe.body, ispe.end);
  size.full();
  const [width, height] = [size.uint(4), size.uint(4)];
  if (width === 0 || height === 0) fail('an empty picture');
  const irot = associated.find((box) => box.type === 'irot');
  const quarterTurn = irot !== undefined && new Reader(buf, irot.body, irot.end).uint(1) & 1;
  return quarterTurn ? { width: height, height: width } : { width, height };
}

/** A FullBox's payload after its version and flags. */
function afterFullBox(box: Box): Range {
  return [Math.min(box.body + 4, box.end), box.end];
}

/** What a HEIC holds: the ranges to zero and the displayed dimensions. */
function analyse(buf: Buffer): { zero: Range[]; width: number; height: number } {
  const top = boxesIn(buf, 0, buf.length);
  if (top[0]?.type !== 'ftyp') fail('no ftyp first');
  const unknown = top.find((box) => !TOP_LEVEL.has(box.type));
  if (unknown) fail(`top-level box ${JSON.stringify(unknown.type)}`);
  const metas = top.filter((box) => box.type === 'meta');
  if (metas.length !== 1) fail('not exactly one meta box');
  const meta = metas[0]!;
  new Reader(buf, meta.body, meta.end).full();
  const children = boxesIn(buf, meta.body + 4, meta.end);
  const one = (type: string) => {
    const found = children.filter((box) => box.type === type);
    if (found.length > 1) fail(`more than one ${type}`);
    return found[0];
  };
  const iinf = one('iinf') ?? fail('no iinf');
  const iloc = one('iloc') ?? fail('no iloc');
  const idat = one('idat');
  const types = itemTypes(buf, iinf);
  const locations = itemLocations(buf, iloc);

  const zero: Range[] = [];
  const keep: Range[] = [];
  for (const [id, extents] of locations) {
    const metadata = METADATA_ITEMS.has(types.get(id) ?? '');
    for (const extent of extents) {
      if (metadata && extent.length === 0) fail('a metadata extent without a length');
      const range = rangeOf(extent, buf.length, idat);
      if (range === null) {
        if (metadata) fail('a metadata item that cannot be located');
        continue;
      }
      (metadata ? zero : keep).push(range);
    }
  }
  for (const box of children) {
    if (box.type === 'xml ' || box.type === 'bxml') zero.push(afterFullBox(box));
  }
  for (const box of top) if (box.type === 'uuid') zero.push([box.body, box.end]);
  const iprp = one('iprp');
  const ipco = iprp && boxesIn(buf, iprp.body, iprp.end).find((box) => box.type === 'ipco');
  for (const box of ipco ? boxesIn(buf, ipco.body, ipco.end) : []) {
    if (box.type === 'udes') zero.push(afterFullBox(box));
  }
  for (const [start, end] of zero) {
    if (keep.some(([s, e]) => start < e && s < end)) fail('metadata overlaps a picture');
  }
  return { zero, ...primaryDimensions(buf, children) };
}

/** The HEIC without its metadata (a copy; same length, same offsets) and its dimensions. */
export function stripHeic(content: Buffer): { content: Buffer; width: number; height: number } {
  const { zero, width, height } = analyse(content);
  const stripped = Buffer.from(content);
  for (const [start, end] of zero) stripped.fill(0, start, end);
  return { content: stripped, width, height };
}

/** The displayed dimensions of a HEIC (its primary item's `ispe`, turned by `irot`). */
export function heicDimensions(content: Buffer): { width: number; height: number } {
  const { width, height } = analyse(content);
  return { width, height };
}
