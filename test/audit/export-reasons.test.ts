import t from 'tap';
import { csvCells, csvWholeRows } from '../../src/modules/audit/audit.export-reasons.js';
import { buildTestApp } from '../helpers/app.js';
import { createClinic, loginAs } from '../helpers/auth.js';
import { makeClient } from '../helpers/clients.js';

/**
 * Issue #15: a break-glass reason is stored sealed under the client's data key. The auditor's
 * CSV and NDJSON exports used to carry it as "sealed:…"; they now show the text, as the JSON
 * routes do, while the client exists, and nothing once the client is erased.
 */
t.test('exports open sealed reasons while the client exists, and not after erasure', async (t) => {
  const { app } = await buildTestApp(t);
  const clinic = await createClinic(app);
  const client = await makeClient(app, { clinicId: clinic });
  const outsider = await loginAs(app, {
    role: 'practitioner',
    clinicIds: [await createClinic(app)],
  });
  const auditor = await loginAs(app, { role: 'auditor' });
  const admin = await loginAs(app, { role: 'admin' });
  // A comma and a double quote: the CSV cell must come back quoted as RFC 4180 says.
  const reason = 'Emergency: "Kanarie-BG-7Q", collapsed, at our clinic';
  const read = await app.inject({
    method: 'GET',
    url: `/v1/clients/${client.id}/journal`,
    headers: { ...outsider.headers, 'x-break-glass-reason': reason },
  });
  t.equal(read.statusCode, 200, read.body);
  type Exported = { actorId: string | null; breakGlass: boolean; reason: string | null };
  const byOutsider = (event: Exported) => event.breakGlass && event.actorId === outsider.id;

  const exported = async (format: 'csv' | 'ndjson') => {
    const response = await app.inject({
      method: 'GET',
      url: `/v1/audit-events/export?format=${format}`,
      headers: auditor.headers,
    });
    t.equal(response.statusCode, 200, response.body);
    return response.body;
  };

  const ndjson = (await exported('ndjson'))
    .trim()
    .split('\n')
    .map((line) => JSON.parse(line) as Exported);
  const glass = ndjson.filter(byOutsider);
  t.ok(glass.length >= 1, 'the break-glass read is exported');
  t.same(
    glass.map((event) => event.reason),
    glass.map(() => reason),
    'ndjson: the reason as typed',
  );

  const csv = await exported('csv');
  const [header, ...rows] = csv.split('\r\n').filter(Boolean);
  const columns = csvCells(header!);
  const at = (name: string) => columns.indexOf(name);
  const glassRows = rows
    .map(csvCells)
    .filter((cells) => cells[at('breakGlass')] === 'true' && cells[at('actorId')] === outsider.id);
  t.ok(glassRows.length >= 1);
  t.same(
    glassRows.map((cells) => cells[at('reason')]),
    glassRows.map(() => reason),
    'csv: the reason as typed',
  );
  t.ok(csv.includes('"Emergency: ""Kanarie-BG-7Q"", collapsed, at our clinic"'), 'quoted');
  t.notOk(csv.includes('sealed:'), 'no sealed form left in the csv');

  const erased = await app.inject({
    method: 'DELETE',
    url: `/v1/clients/${client.id}`,
    headers: admin.headers,
    payload: { reason: 'Data-subject request' },
  });
  t.equal(erased.statusCode, 204, erased.body);
  const after = (await exported('ndjson'))
    .trim()
    .split('\n')
    .map((line) => JSON.parse(line) as Exported)
    .filter(byOutsider);
  t.same(
    after.map((event) => event.reason),
    after.map(() => null),
    'after erasure: no reason',
  );
  const csvAfter = await exported('csv');
  t.notOk(csvAfter.includes('Kanarie-BG-7Q'), 'nor in the csv');
  t.notOk(csvAfter.includes('sealed:'));
});

t.test('csvWholeRows cuts at row ends outside quotes, wherever the chunks break', async (t) => {
  const text = 'a,"x\ny",b\nc,"""q"",\n",d\ne,f,g\n';
  for (let size = 1; size <= text.length; size += 1) {
    const rows = csvWholeRows();
    const out: string[] = [];
    for (let i = 0; i < text.length; i += size) {
      const chunk = rows.push(Buffer.from(text.slice(i, i + size)));
      const piece = chunk.toString();
      if (piece) t.ok(piece.endsWith('\n'), `size ${size}: a whole row`);
      out.push(piece);
    }
    out.push(rows.end().toString());
    t.equal(out.join(''), text, `size ${size}: nothing lost`);
  }
  t.same(csvCells('a,"x\ny",b'), ['a', 'x\ny', 'b']);
  t.same(csvCells('c,"""q"",\n",d,'), ['c', '"q",\n', 'd', '']);
  t.throws(() => csvCells('"open'), /unterminated/);
});
