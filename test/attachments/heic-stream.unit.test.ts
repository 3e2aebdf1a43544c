import t from 'tap';
import { HeicUnreadable } from '../../src/modules/attachments/attachments.heic.js';
import { HeicStripper, LATE_META } from '../../src/modules/attachments/attachments.heic.stream.js';
import { box, heic } from './heic-fixture.js';
import * as legacy from './heic-legacy.js';

/** The file fed to the streaming stripper `size` bytes at a time; the most it ever held. */
function streamed(bytes: Buffer, size: number) {
  const stripper = new HeicStripper();
  const out: Buffer[] = [];
  let pushed = 0;
  let handedOn = 0;
  let maxAhead = 0;
  for (let at = 0; at < bytes.length; at += size) {
    const piece = bytes.subarray(at, at + size);
    pushed += piece.length;
    for (const part of stripper.push(piece)) {
      out.push(part);
      handedOn += part.length;
    }
    maxAhead = Math.max(maxAhead, pushed - handedOn);
  }
  for (const part of stripper.end()) out.push(part);
  return { content: Buffer.concat(out), plan: stripper.plan!, maxAhead };
}

const FIXTURES = {
  plain: heic(),
  rotated: heic({ rotate: 1 }),
  exifInIdat: heic({ exifInIdat: true }),
  udes: heic({ udes: 'KANARIE-HEIC-udes' }),
  xmpInfeV0: heic({ xmpInfeV0: true }),
  largeMdat: heic({ largeMdat: true }),
};

t.test(
  "the streamed output is the whole-file stripper's, byte for byte, however it is cut",
  async (t) => {
    for (const [name, fixture] of Object.entries(FIXTURES)) {
      const expected = legacy.stripHeic(fixture.bytes);
      for (const size of [1, 7, 4096, fixture.bytes.length]) {
        const got = streamed(fixture.bytes, size);
        t.ok(got.content.equals(expected.content), `${name}, ${size} bytes at a time`);
      }
    }
  },
);

t.test('after meta, only a box header is held: the picture streams through', async (t) => {
  const fixture = heic();
  const metaEnd = fixture.bytes.indexOf('mdat') - 4;
  const got = streamed(fixture.bytes, 1);
  // Held before meta ends: the prefix itself (ftyp + meta); after it, at most 32 bytes.
  t.ok(got.maxAhead <= metaEnd, `held at most the prefix (${got.maxAhead} <= ${metaEnd})`);
  const stripper = new HeicStripper();
  stripper.push(fixture.bytes.subarray(0, metaEnd + 64));
  t.ok(stripper.plan, 'the plan (dimensions) is known once meta has arrived');
  const tail = stripper.push(fixture.bytes.subarray(metaEnd + 64, metaEnd + 64 + 100));
  t.equal(
    tail.reduce((n, part) => n + part.length, 0),
    100,
    'every byte after meta is handed on at once',
  );
});

t.test('image data before meta: 415 with a clear reason', async (t) => {
  const fixture = heic();
  const ftypEnd = fixture.bytes.readUInt32BE(0);
  const lateMeta = Buffer.concat([
    fixture.bytes.subarray(0, ftypEnd),
    box('mdat', Buffer.from('coded picture')),
    fixture.bytes.subarray(ftypEnd),
  ]);
  try {
    new HeicStripper().push(lateMeta);
    t.fail('accepted');
  } catch (error) {
    t.ok(error instanceof HeicUnreadable);
    t.equal((error as HeicUnreadable).detail, LATE_META);
  }
});
