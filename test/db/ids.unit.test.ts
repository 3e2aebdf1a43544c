import t from 'tap';
import { validate, version } from 'uuid';
import { uuidv7 } from '../../src/db/ids.js';
import { isUuid } from '../../src/schemas/uuid.js';

/** The 48-bit Unix-millisecond timestamp at the front of a UUIDv7. */
const millisecondsOf = (id: string) => parseInt(id.replace(/-/g, '').slice(0, 12), 16);

// The generator keeps per-process state (the last millisecond it used), so the tests below
// stamp ids with times that only move forward: each test starts later than the one before.

t.test('a valid RFC 9562 version 7 UUID, stamped with now or the given time', async (t) => {
  const before = Date.now();
  const current = uuidv7();
  t.ok(millisecondsOf(current) >= before && millisecondsOf(current) <= Date.now(), 'now');
  const at = Date.UTC(2100, 0, 15, 9, 0, 0, 123);
  const id = uuidv7(at);
  t.ok(validate(id), id);
  t.equal(version(id), 7);
  t.match(
    id,
    /^[0-9a-f]{8}-[0-9a-f]{4}-7[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/,
    'variant 10',
  );
  t.ok(isUuid(id), 'a UUID');
  t.equal(millisecondsOf(id), at);
});

t.test('ids sort in creation order, as text and as PostgreSQL uuid bytes', async (t) => {
  const start = Date.UTC(2101, 0, 1);
  const ids: string[] = [];
  // Many in one millisecond (a fake clock, a busy process), then later milliseconds.
  for (let i = 0; i < 5_000; i += 1) ids.push(uuidv7(start));
  for (let ms = 1; ms <= 50; ms += 1) ids.push(uuidv7(start + ms), uuidv7(start + ms));
  t.equal(new Set(ids).size, ids.length, 'all distinct');
  t.same([...ids].sort(), ids, 'lexicographic order is creation order');
  const bytes = ids.map((id) => Buffer.from(id.replace(/-/g, ''), 'hex'));
  t.ok(
    bytes.every((b, i) => i === 0 || Buffer.compare(bytes[i - 1]!, b) < 0),
    'byte order too',
  );
  t.same(
    ids.slice(4_999, 5_003).map(millisecondsOf),
    [start, start + 1, start + 1, start + 2],
    'each id carries its own millisecond',
  );
});

t.test('a clock that goes backwards never yields a smaller id', async (t) => {
  const now = Date.UTC(2102, 0, 1);
  const later = uuidv7(now);
  const earlier = uuidv7(now - 5_000);
  t.ok(earlier > later, 'still increasing');
  t.equal(millisecondsOf(earlier), now, 'the last millisecond is reused');
});

t.test('the random tail is fresh for every id, across refills of the random pool', async (t) => {
  const start = Date.UTC(2103, 0, 1);
  // 2 000 ids: the 4 KiB pool serves 256, so this draws it eight times over.
  const tails = Array.from({ length: 2_000 }, (_, i) =>
    uuidv7(start + (i % 2))
      .replace(/-/g, '')
      .slice(20),
  );
  t.equal(new Set(tails).size, tails.length, 'no two ids share their last 48 random bits');
  t.notOk(
    tails.some((tail) => tail === '000000000000'),
    'none is the zero-filled buffer',
  );
});
