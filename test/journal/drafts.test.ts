import t from 'tap';
import { buildTestApp } from '../helpers/app.js';
import { createClinic, fakeClock, loginAs } from '../helpers/auth.js';
import { makeClient } from '../helpers/clients.js';
import { signConsent } from '../helpers/consents.js';
import { publishTemplate } from '../helpers/templates.js';

type Json = Record<string, unknown>;
const HOUR = 3_600_000;

t.test('journal drafts: the tablet keeps a draft, the author signs it into an entry', async (t) => {
  const clock = fakeClock();
  const { app, db } = await buildTestApp(t, { build: { now: clock.now } });
  const clinic = await createClinic(app);
  const admin = await loginAs(app, { role: 'admin', clinicIds: [clinic] });
  const reception = await loginAs(app, { role: 'reception', clinicIds: [clinic] });
  const doctor = await loginAs(app, {
    role: 'practitioner',
    clinicIds: [clinic],
    authorisationId: '0013Q',
  });
  const assistant = await loginAs(app, { role: 'practitioner', clinicIds: [clinic] });
  const outsider = await loginAs(app, {
    role: 'practitioner',
    clinicIds: [await createClinic(app)],
  });
  const template = await publishTemplate(app, admin.headers, {
    key: 'botox',
    treatmentTypes: ['botox'],
    requiresAuthorisation: true,
  });
  const client = (await makeClient(app, { clinicId: clinic, headers: reception.headers })).id;
  await signConsent(app, {
    clientId: client,
    templateId: template.id,
    headers: reception.headers,
    signedAt: new Date(clock.now().getTime() - 48 * HOUR).toISOString(),
  });
  const base = `/v1/clients/${client}/journal-drafts`;
  const call = (
    method: 'GET' | 'POST' | 'PATCH' | 'DELETE',
    url: string,
    headers: Json,
    payload?: Json,
  ) =>
    app.inject({
      method,
      url,
      headers: headers as Record<string, string>,
      ...(payload && { payload }),
    });

  const created = await call('POST', base, assistant.headers, {
    treatmentType: 'botox',
    notes: 'Glabella: 10 E so far — Kq7-draft',
  });
  t.equal(created.statusCode, 201, created.body);
  const draft = created.json<Json & { id: string }>();
  t.match(draft, {
    clientId: client,
    authorId: assistant.id,
    treatmentType: 'botox',
    notes: 'Glabella: 10 E so far — Kq7-draft',
    createdAt: String,
    updatedAt: String,
  });
  const url = `${base}/${draft.id}`;
  t.equal((await call('GET', url, assistant.headers)).statusCode, 200);
  t.equal((await call('GET', url, doctor.headers)).statusCode, 404, 'another practitioner: 404');
  t.equal((await call('PATCH', url, doctor.headers, { notes: 'x' })).statusCode, 404);
  t.equal((await call('DELETE', url, doctor.headers)).statusCode, 404);
  t.equal((await call('POST', `${url}/sign`, doctor.headers)).statusCode, 404);
  t.equal((await call('GET', url, outsider.headers)).statusCode, 404, 'another clinic: 404');
  t.equal((await call('GET', url, reception.headers)).statusCode, 403);
  t.equal((await call('POST', base, assistant.headers, { role: 'admin' })).statusCode, 400);

  const incomplete = await call('POST', `${url}/sign`, assistant.headers);
  t.equal(incomplete.statusCode, 400, 'performedAt is missing');
  t.match(incomplete.json(), { errors: [{ path: 'draft.performedAt' }] });

  const performedAt = new Date(clock.now().getTime() - HOUR).toISOString();
  const patched = await call('PATCH', url, assistant.headers, {
    performedAt,
    notes: 'Glabella 20 E; no bruising — Kq7-draft',
    products: [{ name: 'Botox 100 E', batchNumber: 'C3709C3', quantity: 20, unit: 'E' }],
  });
  t.equal(patched.statusCode, 200, patched.body);
  t.match(patched.json(), { performedAt, products: [{ batchNumber: 'C3709C3', supplier: null }] });
  t.equal((await call('PATCH', url, assistant.headers, {})).statusCode, 400, 'an empty change');

  const list = await call('GET', '/v1/journal-drafts', assistant.headers);
  t.equal(list.statusCode, 200);
  t.same(
    list
      .json<{ items: Json[] }>()
      .items.map((item) => [item.id, item.clientId, item.treatmentType]),
    [[draft.id, client, 'botox']],
  );
  t.notMatch(list.body, /Kq7-draft|Glabella/, 'the work list holds no clinical text');
  t.same((await call('GET', '/v1/journal-drafts', doctor.headers)).json(), {
    items: [],
    nextCursor: null,
  });

  const { rows } = await db.pool.query<{ text: string }>(
    'SELECT row_to_json(d)::text AS text FROM journal_drafts d',
  );
  for (const row of rows) t.notMatch(row.text, /Kq7-draft|botox|C3709C3/, 'sealed');

  const refused = await call('POST', `${url}/sign`, assistant.headers);
  t.equal(refused.statusCode, 409, 'the same rules as a direct write');
  t.match(refused.json(), { rule: 'authorisation_required' });
  t.equal(
    (await call('PATCH', url, assistant.headers, { responsibleId: doctor.id })).statusCode,
    200,
  );
  const signed = await call('POST', `${url}/sign`, assistant.headers);
  t.equal(signed.statusCode, 201, signed.body);
  t.match(signed.json(), {
    authorId: assistant.id,
    performedBy: assistant.id,
    responsibleId: doctor.id,
    notes: 'Glabella 20 E; no bruising — Kq7-draft',
    status: 'final',
    products: [{ batchNumber: 'C3709C3', quantity: 20, unit: 'E' }],
  });
  t.equal((await call('GET', url, assistant.headers)).statusCode, 404, 'the draft is gone');
  t.equal((await call('POST', `${url}/sign`, assistant.headers)).statusCode, 404, 'signed once');

  const discard = await call('POST', base, assistant.headers, { notes: 'Wrong client' });
  const discardUrl = `${base}/${discard.json<{ id: string }>().id}`;
  t.equal((await call('DELETE', discardUrl, assistant.headers)).statusCode, 204);
  t.equal((await call('GET', discardUrl, assistant.headers)).statusCode, 404);

  const events = await db.pool.query<{ action: string }>(
    `SELECT action FROM audit_events WHERE client_id = $1 AND outcome = 'success'`,
    [client],
  );
  const actions = new Set(events.rows.map((row) => row.action));
  for (const action of [
    'journal_draft.create',
    'journal_draft.read',
    'journal_draft.update',
    'journal_draft.list',
    'journal_draft.sign',
    'journal_draft.delete',
    'journal.create',
  ]) {
    t.ok(actions.has(action), `${action} audited`);
  }
});

t.test('two signs of one draft at once: one entry, the other 404', async (t) => {
  const clock = fakeClock();
  const { app, db } = await buildTestApp(t, { build: { now: clock.now } });
  const clinic = await createClinic(app);
  const admin = await loginAs(app, { role: 'admin', clinicIds: [clinic] });
  const reception = await loginAs(app, { role: 'reception', clinicIds: [clinic] });
  const practitioner = await loginAs(app, { role: 'practitioner', clinicIds: [clinic] });
  const template = await publishTemplate(app, admin.headers, {
    key: 'filler',
    treatmentTypes: ['filler'],
  });
  const client = (await makeClient(app, { clinicId: clinic, headers: reception.headers })).id;
  await signConsent(app, {
    clientId: client,
    templateId: template.id,
    headers: reception.headers,
    signedAt: new Date(clock.now().getTime() - 48 * HOUR).toISOString(),
  });
  const created = await app.inject({
    method: 'POST',
    url: `/v1/clients/${client}/journal-drafts`,
    headers: practitioner.headers,
    payload: {
      treatmentType: 'filler',
      performedAt: new Date(clock.now().getTime() - HOUR).toISOString(),
      notes: 'Ready to sign',
    },
  });
  t.equal(created.statusCode, 201, created.body);
  const draftId = created.json<{ id: string }>().id;

  // Hold the draft row (as another session would) until both signs wait on it; then let go.
  const holder = await db.pool.connect();
  t.teardown(() => holder.release());
  await holder.query('BEGIN');
  await holder.query('SELECT 1 FROM journal_drafts WHERE id = $1 FOR SHARE', [draftId]);
  const sign = () =>
    app.inject({
      method: 'POST',
      url: `/v1/clients/${client}/journal-drafts/${draftId}/sign`,
      headers: practitioner.headers,
    });
  const racing = Promise.all([sign(), sign()]);
  const waiting = async () =>
    Number(
      (
        await db.pool.query<{ n: string }>(
          `SELECT count(*) AS n FROM pg_stat_activity
           WHERE datname = current_database() AND wait_event_type = 'Lock'`,
        )
      ).rows[0]!.n,
    );
  while ((await waiting()) < 2) await new Promise((resolve) => setImmediate(resolve));
  await holder.query('COMMIT');
  const answers = (await racing).map((res) => res.statusCode).sort();
  t.same(answers, [201, 404], 'one signs, the other finds the draft gone');
  const entries = await db.pool.query('SELECT 1 FROM journal_entries WHERE client_id = $1', [
    client,
  ]);
  t.equal(entries.rowCount, 1, 'one entry');
});
