import type { LightMyRequestResponse } from 'fastify';
import t from 'tap';
import { buildTestApp } from '../helpers/app.js';
import { createClinic, fakeClock, loginAs, type SignedIn } from '../helpers/auth.js';
import { makeClient } from '../helpers/clients.js';
import { signConsent } from '../helpers/consents.js';
import { writeEntry } from '../helpers/journal.js';
import { publishTemplate } from '../helpers/templates.js';

const HOUR = 3_600_000;

t.test('recall by batch number: exactly the treated clients of the caller’s clinics', async (t) => {
  const clock = fakeClock();
  const { app, db } = await buildTestApp(t, { build: { now: clock.now } });
  const clinicA = await createClinic(app);
  const clinicB = await createClinic(app);
  const admin = await loginAs(app, { role: 'admin', clinicIds: [] });
  const template = (
    await publishTemplate(app, admin.headers, { key: 'filler', treatmentTypes: ['filler'] })
  ).id;
  const at = (ms: number) => new Date(clock.now().getTime() - ms).toISOString();

  async function treated(clinicId: string, name: string, batches: string[][]) {
    const staff: SignedIn = await loginAs(app, {
      role: 'practitioner',
      clinicIds: [clinicId],
    });
    const { id: client } = await makeClient(app, {
      clinicId,
      headers: staff.headers,
      firstName: name,
      lastName: 'Recall',
      dateOfBirth: '1980-02-02',
      email: `${name.toLowerCase()}@example.dk`,
      phone: '12345678',
    });
    await signConsent(app, {
      clientId: client,
      templateId: template,
      headers: staff.headers,
      signerName: name,
      signedAt: at(10 * HOUR),
    });
    const entries: string[] = [];
    for (const [i, products] of batches.entries()) {
      const entry = await writeEntry(app, {
        clientId: client,
        headers: staff.headers,
        treatmentType: 'filler',
        performedAt: at((5 - i) * HOUR),
        notes: 'Filler',
        products: products.map((batchNumber) => ({ name: 'Filler 1ml', batchNumber })),
      });
      entries.push(entry.id);
    }
    return { client, entries };
  }

  const anna = await treated(clinicA, 'Anna', [['AB 12-3'], ['zz-9'], ['ab12-3', 'AB12-3']]);
  const bo = await treated(clinicA, 'Bo', [['ab 12-3']]);
  await treated(clinicA, 'Carl', [['AB12-4']]);
  await treated(clinicB, 'Dora', [['AB12-3']]);

  const practitioner = await loginAs(app, { role: 'practitioner', clinicIds: [clinicA] });
  const recall = await app.inject({
    method: 'GET',
    url: `/v1/recalls?batchNumber=${encodeURIComponent(' ab12-3 ')}`,
    headers: practitioner.headers,
  });
  t.equal(recall.statusCode, 200, recall.body);
  const items = recall.json<{
    items: { clientId: string; firstName: string; entries: { entryId: string }[] }[];
  }>().items;
  t.same(
    items.map((item) => item.firstName).sort(),
    ['Anna', 'Bo'],
    'exactly the clients treated with the batch, none of another clinic',
  );
  const annaItem = items.find((item) => item.clientId === anna.client)!;
  t.same(
    annaItem.entries.map((entry) => entry.entryId),
    [anna.entries[0], anna.entries[2]],
    'each entry once, oldest first',
  );
  t.match(annaItem, { lastName: 'Recall', email: 'anna@example.dk', phone: '+4512345678' });
  t.equal(items.find((item) => item.clientId === bo.client)?.entries.length, 1);

  const events = await db.pool.query<{ client_id: string }>(
    "SELECT client_id FROM audit_events WHERE action = 'recall.read' AND actor_id = $1",
    [practitioner.id],
  );
  t.same(
    events.rows.map((row) => row.client_id).sort(),
    [anna.client, bo.client].sort(),
    'one audit event per client returned',
  );

  const byAdmin = await app.inject({
    method: 'GET',
    url: '/v1/recalls?batchNumber=AB12-3',
    headers: admin.headers,
  });
  t.equal(byAdmin.statusCode, 200);
  t.same(
    byAdmin
      .json<{ items: { firstName: string }[] }>()
      .items.map((item) => item.firstName)
      .sort(),
    ['Anna', 'Bo', 'Dora'],
    'an admin recalls across every clinic (organisation-wide)',
  );

  // Paged by client: two pages of one, then the last.
  const seen: string[] = [];
  let cursor: string | null = null;
  let pages = 0;
  do {
    const page: LightMyRequestResponse = await app.inject({
      method: 'GET',
      url: `/v1/recalls?batchNumber=AB12-3&limit=1${cursor ? `&cursor=${cursor}` : ''}`,
      headers: admin.headers,
    });
    t.equal(page.statusCode, 200, page.body);
    const json = page.json<{
      items: { clientId: string; entries: unknown[] }[];
      nextCursor: string | null;
    }>();
    t.equal(json.items.length, 1, 'one client a page');
    seen.push(...json.items.map((item) => item.clientId));
    cursor = json.nextCursor;
    pages += 1;
  } while (cursor && pages < 10);
  t.equal(pages, 3, 'three pages, the last with nextCursor null');
  t.equal(new Set(seen).size, 3, 'every client once');
  t.same([...seen].sort(), seen, 'in client id order');
  t.equal(
    (
      await app.inject({
        method: 'GET',
        url: '/v1/recalls?batchNumber=AB12-3&cursor=bogus',
        headers: admin.headers,
      })
    ).statusCode,
    400,
    'a cursor this list never returned',
  );
  const reception = await loginAs(app, { role: 'reception', clinicIds: [clinicA] });
  t.equal(
    (
      await app.inject({
        method: 'GET',
        url: '/v1/recalls?batchNumber=AB12-3',
        headers: reception.headers,
      })
    ).statusCode,
    403,
  );
  t.equal(
    (await app.inject({ method: 'GET', url: '/v1/recalls', headers: admin.headers })).statusCode,
    400,
  );
  const none = await app.inject({
    method: 'GET',
    url: '/v1/recalls?batchNumber=NOPE-1',
    headers: admin.headers,
  });
  t.same(none.json(), { items: [], nextCursor: null });
});
