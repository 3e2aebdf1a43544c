import { randomUUID } from 'node:crypto';
import t from 'tap';
import { CSV_HEADER, crlfRows, csvLine } from '../../src/modules/audit/audit.csv.js';
import { copyAuditExport } from '../../src/modules/audit/audit.export.js';
import { ndjsonFromCopy } from '../../src/modules/audit/audit.ndjson.js';
import { streamAuditEvents, type AuditFilter } from '../../src/modules/audit/audit.queries.js';
import type { AuditEvent } from '../../src/modules/audit/audit.schemas.js';
import { buildTestApp } from '../helpers/app.js';
import type { TestDatabase } from '../helpers/db.js';

/**
 * The export is PostgreSQL's COPY output: ndjson lines rendered from its text format, CSV rows
 * as COPY's CSV quotes them. Byte for byte, they must be what JSON.stringify and csvLine make
 * of the same events (as the query route reads them), for any text an event can hold.
 */
const awkward = [
  'plain',
  'quote " backslash \\ slash / and \\" \\n \\\\ spelled out',
  'controls \u0001\u0002\u0008\u0009\u000a\u000c\u000d\u001f and DEL \u007f',
  'unicode æøå, ✓, 😀, line separator \u2028 paragraph \u2029',
  '<script>&amp;</script>',
  '',
  '\\.',
  '=HYPERLINK("http://evil")',
  '+1, comma',
  '-minus',
  '@sum',
  '\ttab first',
  '\rcarriage return first',
  'line\nbreak',
  'crlf\r\nin the middle',
  '"',
  '""',
  ',',
  "'already quoted",
];

async function seed(db: TestDatabase) {
  for (const [index, text] of awkward.entries()) {
    await db.pool.query(
      `INSERT INTO audit_events (id, at, actor_id, actor_role, action, outcome, resource_type,
         resource_id, client_id, request_id, ip, user_agent, break_glass, reason, purpose_of_use)
       VALUES ($1, $2, $3, $11, 'journal.read', 'success', 'client', $4, $5, $6,
         $7, $7, $8, $9, $10)`,
      [
        randomUUID(),
        new Date(Date.UTC(2031, 0, 1, 0, 0, index, 123)).toISOString(),
        index % 2 ? null : randomUUID(),
        index % 4 ? `res-${index}` : `-res-${index}`,
        index % 2 ? randomUUID() : null,
        index % 3 ? text : `req-${index}`,
        text,
        index % 2 === 0,
        index % 5 ? text : null,
        index % 3 ? null : 'treatment',
        index % 2 ? 'practitioner' : null,
      ],
    );
  }
}

/** The export's bytes as the service sends them, COPY's output fed in pieces of `size` bytes. */
async function copied(
  db: TestDatabase,
  filter: AuditFilter,
  format: 'ndjson' | 'csv',
  size = Infinity,
) {
  const raw: Buffer[] = [];
  for await (const chunk of copyAuditExport(db.pool, filter, format)) raw.push(chunk);
  const bytes = Buffer.concat(raw);
  const render = format === 'csv' ? crlfRows() : ndjsonFromCopy();
  const out: Buffer[] = [];
  for (let at = 0; at < bytes.length; at += size) {
    const piece = render(bytes.subarray(at, Math.min(bytes.length, at + size)));
    out.push(typeof piece === 'string' ? Buffer.from(piece) : piece);
  }
  return Buffer.concat(out).toString('utf8');
}

async function events(db: TestDatabase, filter: AuditFilter) {
  const all: AuditEvent[] = [];
  for await (const event of streamAuditEvents(db.pool, filter, 2)) all.push(event);
  return all;
}

t.test('the COPY export renders each event exactly as JSON.stringify and csvLine do', async (t) => {
  const { db } = await buildTestApp(t);
  await seed(db);
  const filter = { from: '2031-01-01T00:00:00Z' };
  const expected = await events(db, filter);
  t.equal(expected.length, awkward.length);

  const ndjson = await copied(db, filter, 'ndjson');
  t.equal(ndjson, expected.map((event) => `${JSON.stringify(event)}\n`).join(''), 'ndjson');
  // Rows and multi-byte characters cut anywhere between chunks.
  for (const size of [1, 2, 3, 7, 100]) {
    t.equal(await copied(db, filter, 'ndjson', size), ndjson, `ndjson in pieces of ${size}`);
    t.equal(await copied(db, filter, 'csv', size), await copied(db, filter, 'csv'), `csv, ${size}`);
  }
  for (const line of ndjson.trimEnd().split('\n'))
    t.doesNotThrow(() => {
      JSON.parse(line);
    });

  const csv = await copied(db, filter, 'csv');
  t.equal(csv, CSV_HEADER + expected.map(csvLine).join(''), 'csv');
});

t.test('a row whose escapes outgrow the rendering buffer is rendered whole', async (t) => {
  const { db } = await buildTestApp(t);
  // Every byte of these fields grows when escaped for JSON: control characters six times,
  // quotes and backslashes twice, far past the room kept for a row's keys.
  await db.pool.query(
    `INSERT INTO audit_events (id, at, action, outcome, request_id, user_agent, reason)
     VALUES ($1, '2032-01-01T00:00:00Z', 'journal.read', 'success', $2, $3, $4)`,
    [randomUUID(), '\\'.repeat(128), '\u0001'.repeat(256), '"'.repeat(500)],
  );
  const filter = { from: '2032-01-01T00:00:00Z' };
  const expected = (await events(db, filter)).map((event) => `${JSON.stringify(event)}\n`);
  t.equal(expected.length, 1);
  t.ok(expected[0]!.length > 2500, 'the line is much longer than the COPY row');
  t.equal(await copied(db, filter, 'ndjson'), expected.join(''));
  t.equal(await copied(db, filter, 'ndjson', 13), expected.join(''), 'in pieces too');
});

t.test('filters are inlined as quoted literals, not as given', async (t) => {
  const { db } = await buildTestApp(t);
  await seed(db);
  const all = await events(db, { from: '2031-01-01T00:00:00Z' });
  const from = new Date(Date.UTC(2031, 0, 1, 0, 0, 3)).toISOString();
  const to = '2031-01-01T01:00:05+01:00';
  const window = await copied(db, { from, to }, 'ndjson');
  t.same(
    window.trimEnd().split('\n'),
    all.slice(3, 5).map((event) => JSON.stringify(event)),
  );
  // A value that is not what the schema lets through is still only ever a literal.
  const hostile = await copied(db, { action: "journal.read' OR '1'='1" }, 'ndjson');
  t.equal(hostile, '');
  const backslash = await copied(db, { action: "x\\' OR true --" }, 'ndjson');
  t.equal(backslash, '');
});

t.test('crlfRows ends rows in CRLF across any chunk boundary, not newlines in cells', (t) => {
  const text = 'a,b\n"x\ny","q""\n"\nlast,"\n"\n';
  const want = 'a,b\r\n"x\ny","q""\n"\r\nlast,"\n"\r\n';
  const bytes = Buffer.from(text);
  for (const size of [1, 2, 3, 5, bytes.length]) {
    const crlf = crlfRows();
    const out: Buffer[] = [];
    for (let at = 0; at < bytes.length; at += size) out.push(crlf(bytes.subarray(at, at + size)));
    t.equal(Buffer.concat(out).toString(), want, `chunks of ${size}`);
  }
  t.end();
});
