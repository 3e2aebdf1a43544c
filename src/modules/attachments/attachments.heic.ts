/**
 * The box maths of the lossless HEIC stripper (ISO/IEC 23008-12, an ISOBMFF file; the stream
 * that applies them is attachments.heic.stream.ts). sharp's libvips cannot encode HEVC, so the
 * metadata is found in the box structure and overwritten with zeros in place: every offset
 * stays valid and the coded picture is untouched, byte for byte.
 *
 * Zeroed: the payload of every item of type `Exif` (GPS, make, model, serials), `mime` (XMP and
 * other MIME-typed metadata) and `uri ` (through `meta/iinf` and `meta/iloc`, in the file or in
 * `meta/idat`); `udes` texts; `xml `/`bxml` boxes in `meta`; top-level `uuid` payloads. Kept:
 * the coded items and their properties (`irot`, `imir`, `colr` with the ICC profile).
 *
 * Refused (HeicUnreadable): boxes that do not parse or overrun their parent, an unknown
 * top-level box (it could hold metadata), a metadata item not located exactly (another
 * construction method, an external data reference, a zero length), metadata overlapping a
 * picture, no primary item or no `ispe` for it.
 */

import { boxesIn, fail, Reader, type Box, type Range } from './attachments.heic.boxes.js';

export { boxHeader, fail, HeicUnreadable, TOP_LEVEL } from './attachments.heic.boxes.js';
export type { Box, Range } from './attachments.heic.boxes.js';

const METADATA_ITEMS = new Set(['Exif', 'mime', 'uri ']);

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

/**
 * Where an extent lies in the file, or null when it cannot be located exactly. A method-0
 * extent is absolute in the file, whose size a stream only knows at its end: a zero length
 * (to the end of the file) is an open end, and `reach` is what the file must be long enough for.
 */
function rangeOf(extent: Extent, idat: Box | undefined): Range | null {
  if (extent.method === 0) {
    const end = extent.length === 0 ? Infinity : extent.offset + extent.length;
    return [extent.offset, end];
  }
  if (extent.method !== 1 || !idat) return null;
  const start = idat.body + extent.offset;
  const end = extent.length === 0 ? idat.end : start + extent.length;
  if (end > idat.end) fail('an item extends past its data');
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

/** Whether a range to zero overlaps a picture's (zeroing would damage the picture). */
export function overlapsPicture(plan: MetaPlan, [start, end]: Range): boolean {
  return plan.keep.some(([s, e]) => start < e && s < end);
}

export interface MetaPlan {
  /** Absolute ranges to zero (metadata items, xml boxes, udes texts, uuid payloads before meta). */
  zero: Range[];
  /** Absolute ranges of everything else the items locate (an open end: to the end of the file). */
  keep: Range[];
  /** The file must be at least this long (every extent with a length lies inside it). */
  reach: number;
  width: number;
  height: number;
}

/**
 * What `meta` (a box of buf, which holds the file from its first byte to the end of `meta`)
 * says: the ranges to zero and the displayed dimensions. `before` are ranges already known to
 * be zeroed (the payloads of uuid boxes before meta), checked against the pictures too.
 */
export function planMeta(buf: Buffer, meta: Box, before: Range[]): MetaPlan {
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

  const plan: MetaPlan = { zero: [...before], keep: [], reach: 0, width: 0, height: 0 };
  for (const [id, extents] of locations) {
    const metadata = METADATA_ITEMS.has(types.get(id) ?? '');
    for (const extent of extents) {
      if (metadata && extent.length === 0) fail('a metadata extent without a length');
      const range = rangeOf(extent, idat);
      if (range === null) {
        if (metadata) fail('a metadata item that cannot be located');
        continue;
      }
      if (extent.method === 0 && range[1] !== Infinity) plan.reach = Math.max(plan.reach, range[1]);
      (metadata ? plan.zero : plan.keep).push(range);
    }
  }
  for (const box of children) {
    if (box.type === 'xml ' || box.type === 'bxml') plan.zero.push(afterFullBox(box));
  }
  const iprp = one('iprp');
  const ipco = iprp && boxesIn(buf, iprp.body, iprp.end).find((box) => box.type === 'ipco');
  for (const box of ipco ? boxesIn(buf, ipco.body, ipco.end) : []) {
    if (box.type === 'udes') plan.zero.push(afterFullBox(box));
  }
  // A zeroed range ends inside the file (reach); a picture's open end is the file's end, so an
  // open end overlaps exactly when the range ends after the picture's start, as before.
  if (plan.zero.some((range) => overlapsPicture(plan, range))) fail('metadata overlaps a picture');
  plan.zero.sort((a, b) => a[0] - b[0]);
  return { ...plan, ...primaryDimensions(buf, children) };
}
