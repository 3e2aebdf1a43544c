import t from 'tap';
import { buildTestApp } from '../helpers/app.js';
import { createClinic, fakeClock, loginAs } from '../helpers/auth.js';
import { makeClient } from '../helpers/clients.js';
import { signConsent, signConsentResponse } from '../helpers/consents.js';
import { writeEntry, writeEntryResponse } from '../helpers/journal.js';
import { publishTemplate } from '../helpers/templates.js';

type Json = Record<string, unknown>;
const HOUR = 3_600_000;

t.test('restriction of processing (GDPR Art. 18) and its effects', async (t) => {
  const clock = fakeClock();
  const { app, db } = await buildTestApp(t, { build: { now: clock.now } });
  const clinic = await createClinic(app);
  const admin = await loginAs(app, { role: 'admin', clinicIds: [clinic] });
  const reception = await loginAs(app, { role: 'reception', clinicIds: [clinic] });
  const practitioner = await loginAs(app, { role: 'practitioner', clinicIds: [clinic] });
  const otherAdmin = await loginAs(app, { role: 'admin', clinicIds: [await createClinic(app)] });
  const template = await publishTemplate(app, admin.headers, {
    key: 'filler',
    treatmentTypes: ['filler'],
  });
  const client = await makeClient(app, {
    clinicId: clinic,
    headers: reception.headers,
    email: 'restricted-kq9@example.dk',
    marketingOptIn: true,
  });
  const id = client.id;
  const consent = await signConsent(app, {
    clientId: id,
    templateId: template.id,
    headers: reception.headers,
    signedAt: new Date(clock.now().getTime() - 2 * HOUR).toISOString(),
  });
  const entry = await writeEntry(app, {
    clientId: id,
    headers: practitioner.headers,
    treatmentType: 'filler',
    products: [{ name: 'Filler', batchNumber: 'RX-1' }],
  });
  const draft = await app.inject({
    method: 'POST',
    url: `/v1/clients/${id}/journal-drafts`,
    headers: practitioner.headers,
    payload: {
      treatmentType: 'filler',
      performedAt: new Date(clock.now().getTime() - HOUR).toISOString(),
      notes: 'Drafted before the restriction',
    },
  });
  t.equal(draft.statusCode, 201);

  const restrict = (active: boolean, headers = admin.headers) =>
    app.inject({
      method: 'PUT',
      url: `/v1/clients/${id}/restriction`,
      headers,
      payload: { active, reason: 'The client disputes an entry — Kq9-reason' },
    });
  t.equal((await restrict(true, practitioner.headers)).statusCode, 403, 'admin only');
  t.equal(
    (await restrict(true, otherAdmin.headers)).statusCode,
    200,
    'an admin of another clinic too: admins are organisation-wide',
  );
  const on = await restrict(true);
  t.equal(on.statusCode, 200, on.body);
  t.same(on.json(), { clientId: id, restricted: true, changedAt: clock.now().toISOString() });

  const read = await app.inject({
    method: 'GET',
    url: `/v1/clients/${id}`,
    headers: reception.headers,
  });
  t.equal(read.statusCode, 200, 'reads by id still work');
  t.match(
    read.json(),
    { restricted: true, marketingOptIn: false },
    'no marketing while restricted',
  );
  const list = await app.inject({
    method: 'GET',
    url: `/v1/clients?clinicId=${clinic}`,
    headers: reception.headers,
  });
  t.notOk(
    list.json<{ items: Json[] }>().items.some((item) => item.id === id),
    'left out of lists',
  );
  const search = await app.inject({
    method: 'POST',
    url: '/v1/clients/search',
    headers: reception.headers,
    payload: { email: 'restricted-kq9@example.dk' },
  });
  t.same(search.json(), { items: [] }, 'left out of searches');
  const recall = await app.inject({
    method: 'GET',
    url: '/v1/recalls?batchNumber=RX-1',
    headers: practitioner.headers,
  });
  t.notMatch(recall.body, id, 'left out of recalls');

  const refused = (
    res: { statusCode: number; json: () => unknown; body: string },
    what: string,
  ) => {
    t.equal(res.statusCode, 409, `${what}: ${res.body}`);
    t.match(res.json(), { rule: 'processing_restricted' }, what);
  };
  refused(
    await app.inject({
      method: 'PATCH',
      url: `/v1/clients/${id}`,
      headers: reception.headers,
      payload: { marketingOptIn: true },
    }),
    'a client update (marketingOptIn cannot be set)',
  );
  refused(
    await signConsentResponse(app, {
      clientId: id,
      templateId: template.id,
      headers: reception.headers,
    }),
    'a new consent',
  );
  refused(
    await writeEntryResponse(app, {
      clientId: id,
      headers: practitioner.headers,
      treatmentType: 'filler',
    }),
    'a new journal entry',
  );
  refused(
    await app.inject({
      method: 'POST',
      url: `/v1/clients/${id}/journal-drafts/${draft.json<{ id: string }>().id}/sign`,
      headers: practitioner.headers,
    }),
    'a signed draft',
  );

  const entryUrl = `/v1/clients/${id}/journal/${entry.id}`;
  t.equal(
    (
      await app.inject({
        method: 'POST',
        url: `${entryUrl}/statements`,
        headers: reception.headers,
        payload: { text: 'I disagree with this entry.' },
      })
    ).statusCode,
    201,
    'statements are still allowed',
  );
  t.equal(
    (
      await app.inject({
        method: 'POST',
        url: `${entryUrl}/amendments`,
        headers: practitioner.headers,
        payload: { notes: 'Corrected', reason: 'Client statement' },
      })
    ).statusCode,
    201,
    'amendments are still allowed',
  );
  t.equal(
    (
      await app.inject({
        method: 'POST',
        url: `/v1/clients/${id}/consents/${consent.id}/withdraw`,
        headers: reception.headers,
        payload: { reason: 'Withdrawn' },
      })
    ).statusCode,
    200,
    'withdrawing a consent is still allowed',
  );
  t.equal(
    (await app.inject({ method: 'GET', url: `/v1/clients/${id}/export`, headers: admin.headers }))
      .statusCode,
    200,
    'the export is still allowed',
  );

  const { rows } = await db.pool.query<{ text: string }>(
    'SELECT row_to_json(c)::text AS text FROM clients c WHERE id = $1',
    [id],
  );
  t.notMatch(rows[0]!.text, /Kq9-reason/, 'the reason is sealed');
  const denied = await db.pool.query<{ action: string }>(
    `SELECT action FROM audit_events WHERE client_id = $1 AND outcome = 'denied'`,
    [id],
  );
  t.ok(
    denied.rows.some((row) => row.action === 'journal.create'),
    'a refused write is audited',
  );

  const off = await restrict(false);
  t.match(off.json(), { restricted: false });
  const after = await app.inject({
    method: 'GET',
    url: `/v1/clients/${id}`,
    headers: reception.headers,
  });
  t.match(after.json(), { restricted: false, marketingOptIn: true }, 'the preference returns');
});
