import { fileTypeFromBuffer } from 'file-type';
import t, { type Test } from 'tap';
import { HeicUnreadable } from '../../src/modules/attachments/attachments.heic.js';
import {
  heicDimensions,
  stripHeic,
} from '../../src/modules/attachments/attachments.heic.stream.js';
import { dimensionsOf, stripImage } from '../../src/modules/attachments/attachments.content.js';
import { box, fullBox, heic } from './heic-fixture.js';

const MARKER = 'KANARIE-HEIC-Gps7';
/** The HTTP status of what `run` throws (or rejects with). */
async function statusOf(run: () => unknown): Promise<unknown> {
  try {
    await run();
  } catch (error) {
    return (error as { status?: unknown }).status;
  }
  return 'did not throw';
}
const has = (bytes: Buffer, text: string) => bytes.includes(Buffer.from(text));

/** Every byte outside the given ranges is unchanged; inside them, every byte is zero. */
function onlyZeroed(t: Test, before: Buffer, after: Buffer, ranges: Array<[number, number]>) {
  t.equal(after.length, before.length, 'same length: every offset stays valid');
  const inside = (i: number) => ranges.some(([s, e]) => i >= s && i < e);
  let changedOutside = 0;
  let nonZeroInside = 0;
  for (let i = 0; i < before.length; i++) {
    if (inside(i)) nonZeroInside += after[i] === 0 ? 0 : 1;
    else changedOutside += after[i] === before[i] ? 0 : 1;
  }
  t.equal(changedOutside, 0, 'nothing outside the metadata changed');
  t.equal(nonZeroInside, 0, 'the metadata payloads are zeros');
}

/** A minimal HEIC whose meta is built from these children (no mdat). */
function withMeta(...children: Buffer[]): Buffer {
  return Buffer.concat([
    box('ftyp', Buffer.from('heic'), Buffer.alloc(4), Buffer.from('mif1')),
    fullBox('meta', 0, 0, ...children),
  ]);
}
const hdlr = fullBox('hdlr', 0, 0, Buffer.alloc(4), Buffer.from('pict'), Buffer.alloc(13));
const iinf = (...entries: Buffer[]) =>
  fullBox('iinf', 0, 0, Buffer.from([0, entries.length]), ...entries);
const infe = (id: number, type: string) =>
  fullBox('infe', 2, 0, Buffer.from([0, id, 0, 0]), Buffer.from(type), Buffer.from([0]));
/** iloc version 1, one item, one extent: 4-byte offset and length. */
const iloc = (id: number, method: number, offset: number, length: number, dataRef = 0) => {
  const body = Buffer.alloc(20);
  body.writeUInt16BE(0x4400, 0);
  body.writeUInt16BE(1, 2);
  body.writeUInt16BE(id, 4);
  body.writeUInt16BE(method, 6);
  body.writeUInt16BE(dataRef, 8);
  body.writeUInt16BE(1, 10);
  body.writeUInt32BE(offset, 12);
  body.writeUInt32BE(length, 16);
  return fullBox('iloc', 1, 0, body);
};

t.test('the fixture is a HEIC with the marker in its Exif and XMP', async (t) => {
  const fixture = heic();
  t.same(await fileTypeFromBuffer(fixture.bytes), { ext: 'heic', mime: 'image/heic' });
  t.ok(has(fixture.bytes.subarray(...fixture.exifAt), MARKER), 'in Exif');
  t.ok(has(fixture.bytes.subarray(...fixture.xmpAt), MARKER), 'in XMP');
  t.ok(has(fixture.bytes, 'GPSLatitude'));
});

t.test('Exif and XMP items are zeroed in place; the picture and its properties stay', async (t) => {
  const fixture = heic();
  const { content, width, height } = stripHeic(fixture.bytes);
  t.notOk(has(content, MARKER), 'the marker is gone');
  t.notOk(has(content, 'GPSLatitude'), 'GPS is gone');
  t.notOk(has(content, 'KanarieCam'), 'the make is gone');
  onlyZeroed(t, fixture.bytes, content, [fixture.exifAt, fixture.xmpAt]);
  const at = fixture.pictureAt;
  t.ok(content.subarray(at, at + fixture.picture.length).equals(fixture.picture), 'picture');
  t.ok(has(content, 'colr') && has(content, 'ispe'), 'colour and size properties kept');
  t.same([width, height], [640, 480], 'dimensions from ispe');
  t.ok(has(fixture.bytes, MARKER), 'the input is not changed (a copy is stripped)');
  t.same(heicDimensions(fixture.bytes), { width: 640, height: 480 });
  t.ok(stripHeic(content).content.equals(content), 'stripping twice changes nothing more');
});

t.test('an Exif item in meta/idat (construction method 1) is zeroed too', async (t) => {
  const fixture = heic({ exifInIdat: true });
  const { content } = stripHeic(fixture.bytes);
  t.notOk(has(content, MARKER));
  onlyZeroed(t, fixture.bytes, content, [fixture.exifAt, fixture.xmpAt]);
});

t.test('irot: a quarter turn swaps the displayed dimensions, and stays', async (t) => {
  const fixture = heic({ width: 300, height: 100, rotate: 1 });
  const { content, width, height } = stripHeic(fixture.bytes);
  t.same([width, height], [100, 300]);
  t.ok(has(content, 'irot'));
  t.same(heicDimensions(heic({ width: 300, height: 100, rotate: 2 }).bytes), {
    width: 300,
    height: 100,
  });
});

t.test(
  'top-level uuid boxes (XMP by some writers) are zeroed; unknown boxes refused',
  async (t) => {
    const uuid = box('uuid', Buffer.alloc(16, 7), Buffer.from(`<x:xmpmeta>${MARKER}</x:xmpmeta>`));
    const withUuid = heic({ trailer: uuid });
    const { content } = stripHeic(withUuid.bytes);
    t.notOk(has(content, MARKER));
    const at = withUuid.bytes.length - uuid.length;
    t.ok(content.subarray(at, at + 24).equals(uuid.subarray(0, 24)), 'its header stays');
    t.throws(
      () => stripHeic(heic({ trailer: box('moov', Buffer.alloc(8)) }).bytes),
      HeicUnreadable,
    );
  },
);

t.test('other places of metadata: udes text, xml boxes, a version 0 XMP entry', async (t) => {
  const xml = fullBox('xml ', 0, 0, Buffer.from(`<meta>${MARKER}</meta>\0`));
  for (const [what, options] of Object.entries({
    udes: { udes: `Lip filler ${MARKER}` },
    'xml box in meta': { metaExtra: [xml] },
    'infe version 0': { xmpInfeV0: true },
    '64-bit mdat size': { largeMdat: true },
  })) {
    const fixture = heic(options);
    t.ok(has(fixture.bytes, MARKER), `${what}: the fixture has the marker`);
    const { content, width } = stripHeic(fixture.bytes);
    t.notOk(has(content, MARKER), `${what}: gone`);
    t.equal(width, 640, `${what}: still parses`);
    const at = fixture.pictureAt;
    t.ok(content.subarray(at, at + fixture.picture.length).equals(fixture.picture), what);
  }
});

t.test('boxes that do not parse are refused', async (t) => {
  const good = heic().bytes;
  const cases: Record<string, Buffer> = {
    truncated: good.subarray(0, good.length - 10),
    'cut inside a box header': good.subarray(0, 30),
    'no ftyp first': Buffer.concat([box('free'), good]),
    'no meta': Buffer.concat([good.subarray(0, 24), box('mdat', Buffer.alloc(10))]),
    'a box larger than the file': (() => {
      const copy = Buffer.from(good);
      copy.writeUInt32BE(0xffffff, 24);
      return copy;
    })(),
    empty: Buffer.alloc(0),
    'a 64-bit size beyond 2^53': Buffer.concat([
      good.subarray(0, 24),
      Buffer.from([0, 0, 0, 1]),
      Buffer.from('mdat'),
      Buffer.alloc(8, 0xff),
    ]),
    'a string without its terminator': withMeta(
      hdlr,
      iinf(fullBox('infe', 0, 0, Buffer.from([0, 1, 0, 0]), Buffer.from('name'))),
      iloc(1, 0, 0, 4),
    ),
  };
  for (const [what, bytes] of Object.entries(cases)) {
    t.throws(() => stripHeic(bytes), HeicUnreadable, what);
  }
});

t.test('metadata that cannot be located exactly is refused', async (t) => {
  const exif = iinf(infe(2, 'Exif'));
  const cases: Record<string, Buffer> = {
    'construction method 2': withMeta(hdlr, exif, iloc(2, 2, 0, 4)),
    'an external data reference': withMeta(hdlr, exif, iloc(2, 0, 0, 4, 1)),
    'zero length': withMeta(hdlr, exif, iloc(2, 0, 0, 0)),
    'past the end of the file': withMeta(hdlr, exif, iloc(2, 0, 10, 100_000)),
    'in an idat that is not there': withMeta(hdlr, exif, iloc(2, 1, 0, 4)),
    'no iinf': withMeta(hdlr, iloc(2, 0, 0, 4)),
    'no iloc': withMeta(hdlr, exif),
    'two iloc': withMeta(hdlr, exif, iloc(2, 0, 0, 4), iloc(2, 0, 0, 4)),
    'no primary item': withMeta(hdlr, exif, iloc(2, 0, 0, 4)),
    'iloc version 3': withMeta(hdlr, exif, fullBox('iloc', 3, 0, Buffer.alloc(8))),
  };
  for (const [what, bytes] of Object.entries(cases)) {
    t.throws(() => stripHeic(bytes), HeicUnreadable, what);
  }
});

t.test('metadata overlapping the picture is refused (zeroing would damage it)', async (t) => {
  const fixture = heic();
  const bytes = Buffer.from(fixture.bytes);
  // Point the XMP item's extent (item 3, the last in iloc) at the picture.
  const iloc = bytes.indexOf(Buffer.from('iloc'));
  const xmpOffsetAt = iloc + 4 + 4 + 2 + 2 + 2 * 16 + 8;
  t.equal(bytes.readUInt32BE(xmpOffsetAt), fixture.xmpAt[0], 'found the XMP extent offset');
  bytes.writeUInt32BE(fixture.pictureAt, xmpOffsetAt);
  t.throws(() => stripHeic(bytes), HeicUnreadable);
});

t.test('the content door: 415 for a HEIC that does not parse, stripped otherwise', async (t) => {
  const fixture = heic({ width: 20_000, height: 10 });
  t.equal(await statusOf(() => dimensionsOf('image/heic', fixture.bytes)), 413, 'bounded sides');
  const small = heic();
  t.same(dimensionsOf('image/heic', small.bytes), { width: 640, height: 480 });
  t.notOk(has(await stripImage('image/heic', small.bytes), MARKER));
  const broken = small.bytes.subarray(0, 100);
  t.equal(await statusOf(() => dimensionsOf('image/heic', broken)), 415);
  t.equal(await statusOf(() => stripImage('image/heic', broken)), 415);
});
