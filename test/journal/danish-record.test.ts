import t, { type Test } from 'tap';
import { journalRetention } from '../../src/modules/journal/journal.retention.js';
import { buildTestApp } from '../helpers/app.js';
import { createClinic, fakeClock, loginAs } from '../helpers/auth.js';
import { makeClient } from '../helpers/clients.js';
import { signConsent, signConsentResponse } from '../helpers/consents.js';
import { writeEntry, writeEntryResponse, type EntryFields } from '../helpers/journal.js';
import { expectStatus } from '../helpers/responses.js';
import { publishTemplate } from '../helpers/templates.js';

type Json = Record<string, unknown>;
const MINUTE = 60_000;
const HOUR = 60 * MINUTE;
const DAY = 24 * HOUR;

/** Issue #18: who performed, who was responsible, what the client was told, what was used. */
async function setup(t: Test, env: Record<string, string> = {}) {
  const clock = fakeClock();
  const { app, db } = await buildTestApp(t, { build: { now: clock.now }, env });
  const clinic = await createClinic(app);
  const otherClinic = await createClinic(app);
  const admin = await loginAs(app, { role: 'admin', clinicIds: [clinic] });
  const reception = await loginAs(app, { role: 'reception', clinicIds: [clinic] });
  const doctor = await loginAs(app, {
    role: 'practitioner',
    clinicIds: [clinic],
    authorisationId: '0013Q',
    displayName: 'Dr. Holm',
  });
  const assistant = await loginAs(app, { role: 'practitioner', clinicIds: [clinic] });
  const outsider = await loginAs(app, {
    role: 'practitioner',
    clinicIds: [otherClinic],
    authorisationId: 'ZZ999',
  });
  const ago = (ms: number) => new Date(clock.now().getTime() - ms).toISOString();
  const publish = async (payload: Json) =>
    publishTemplate(app, admin.headers, {
      key: String(payload.key),
      treatmentTypes: payload.treatmentTypes as string[],
      ...payload,
    });
  const newClient = async () =>
    (await makeClient(app, { clinicId: clinic, headers: reception.headers, email: null })).id;
  const write = (clientId: string, fields: EntryFields, headers = assistant.headers) =>
    writeEntryResponse(app, { clientId, headers, ...fields });
  const post = (url: string, headers: Record<string, string>, payload?: Json) =>
    app.inject({ method: 'POST', url, headers, ...(payload && { payload }) });
  return {
    clock,
    app,
    db,
    clinic,
    admin,
    reception,
    doctor,
    assistant,
    outsider,
    ago,
    publish,
    newClient,
    write,
    post,
  };
}

function rule(
  t: Test,
  res: { statusCode: number; json: () => unknown; body: string },
  name: string,
) {
  t.equal(res.statusCode, 409, `${name}: ${res.body}`);
  t.match(res.json(), { rule: name });
}

t.test('consent templates carry the record rules, with their defaults', async (t) => {
  const s = await setup(t);
  const plain = await s.publish({ key: 'peel', treatmentTypes: ['peel'] });
  const read = await s.app.inject({
    method: 'GET',
    url: `/v1/consent-templates/${plain.id}`,
    headers: s.admin.headers,
  });
  t.match(read.json(), {
    requiresAuthorisation: false,
    inkRecordRequired: false,
    retentionYears: null,
    validForDays: null,
    reconsentRequired: false,
    photoScopes: [],
  });
  const full = await s.publish({
    key: 'pmu',
    treatmentTypes: ['pmu'],
    requiresAuthorisation: true,
    inkRecordRequired: true,
    retentionYears: 5,
    validForDays: 365,
    reconsentRequired: true,
    photoScopes: ['marketing', 'clinical'],
  });
  t.match(full, {
    requiresAuthorisation: true,
    inkRecordRequired: true,
    retentionYears: 5,
    validForDays: 365,
    reconsentRequired: true,
    photoScopes: ['clinical', 'marketing'],
  });
  for (const bad of [
    { photoScopes: ['selfies'] },
    { photoScopes: ['clinical', 'clinical'] },
    { retentionYears: 0 },
    { validForDays: 0 },
    { requiresAuthorisation: 'yes' },
  ]) {
    const res = await s.app.inject({
      method: 'POST',
      url: '/v1/consent-templates',
      headers: s.admin.headers,
      payload: { key: 'bad', title: 'T', body: 'B', language: 'da', treatmentTypes: ['x'], ...bad },
    });
    t.equal(res.statusCode, 400, JSON.stringify(bad));
  }
});

t.test('consents: informedBy, informedAt, photoScopes, expiresAt', async (t) => {
  const s = await setup(t);
  const client = await s.newClient();
  const filler = await s.publish({
    key: 'filler',
    treatmentTypes: ['filler'],
    requiresAuthorisation: true,
    validForDays: 180,
    photoScopes: ['clinical'],
  });
  const signedAt = s.ago(DAY);
  const consent = await signConsent(s.app, {
    clientId: client,
    templateId: filler.id,
    headers: s.reception.headers,
    signedAt,
    informedBy: s.doctor.id,
    informedAt: s.ago(3 * DAY),
    photoScopes: ['clinical'],
  });
  t.match(consent, {
    informedBy: s.doctor.id,
    informedAt: s.ago(3 * DAY),
    photoScopes: ['clinical'],
    expiresAt: new Date(new Date(signedAt).getTime() + 180 * DAY).toISOString(),
    status: 'active',
  });
  const read = await s.app.inject({
    method: 'GET',
    url: `/v1/clients/${client}/consents/${consent.id}`,
    headers: s.reception.headers,
  });
  t.match(read.json(), { informedBy: s.doctor.id, photoScopes: ['clinical'] });

  const refused = async (overrides: Json, path: string, message: string) => {
    const res = await signConsentResponse(s.app, {
      clientId: client,
      templateId: filler.id,
      headers: s.reception.headers,
      signedAt,
      ...overrides,
    });
    t.equal(res.statusCode, 400, `${message}: ${res.body}`);
    t.match(res.json(), { errors: [{ path }] }, message);
  };
  await refused({ informedBy: s.assistant.id }, 'body.informedBy', 'an unauthorised informer');
  await refused({ informedBy: s.outsider.id }, 'body.informedBy', 'another clinic');
  await refused({ informedBy: s.reception.id }, 'body.informedBy', 'not a practitioner');
  await refused({ informedAt: s.ago(HOUR) }, 'body.informedAt', 'informed after signing');
  await refused({ informedAt: s.ago(92 * DAY) }, 'body.informedAt', 'more than 90 days before');
  await refused({ photoScopes: ['marketing'] }, 'body.photoScopes.0', 'a scope not offered');

  const plain = await s.publish({ key: 'peel', treatmentTypes: ['peel'] });
  const open = await signConsent(s.app, {
    clientId: client,
    templateId: plain.id,
    headers: s.reception.headers,
    informedBy: s.assistant.id,
  });
  t.match(open, { informedBy: s.assistant.id, informedAt: null, photoScopes: [], expiresAt: null });
  await t.rejects(
    s.db.pool.query('UPDATE consents SET informed_by = NULL WHERE id = $1', [open.id]),
    'the evidence never changes',
  );
});

t.test('journal: expired, outdated and informed consents', async (t) => {
  const s = await setup(t);
  const client = await s.newClient();
  const daily = await s.publish({ key: 'laser', treatmentTypes: ['laser'], validForDays: 1 });
  await signConsent(s.app, {
    clientId: client,
    templateId: daily.id,
    headers: s.reception.headers,
    signedAt: s.ago(47 * HOUR),
  });
  t.equal(
    (await s.write(client, { treatmentType: 'laser', performedAt: s.ago(DAY) })).statusCode,
    201,
    'inside validForDays',
  );
  rule(
    t,
    await s.write(client, { treatmentType: 'laser', performedAt: s.ago(HOUR) }),
    'consent_expired',
  );

  const v1 = await s.publish({ key: 'peel', treatmentTypes: ['peel'] });
  await signConsent(s.app, {
    clientId: client,
    templateId: v1.id,
    headers: s.reception.headers,
    signedAt: s.ago(10 * DAY),
  });
  await s.publish({ key: 'peel', treatmentTypes: ['peel'], body: 'A new text' });
  t.equal(
    (await s.write(client, { treatmentType: 'peel' })).statusCode,
    201,
    'a new version without reconsentRequired still allows',
  );
  s.clock.advance(10 * MINUTE);
  await s.publish({ key: 'peel', treatmentTypes: ['peel'], reconsentRequired: true });
  t.equal(
    (await s.write(client, { treatmentType: 'peel', performedAt: s.ago(20 * MINUTE) })).statusCode,
    201,
    'a treatment before the new text was published is still allowed',
  );
  rule(
    t,
    await s.write(client, { treatmentType: 'peel', performedAt: s.ago(0) }),
    'consent_outdated',
  );

  const botox = await s.publish({ key: 'botox', treatmentTypes: ['botox'], coolingOffHours: 48 });
  await signConsent(s.app, {
    clientId: client,
    templateId: botox.id,
    headers: s.reception.headers,
    signedAt: s.ago(HOUR * 2),
    informedBy: s.doctor.id,
    informedAt: s.ago(3 * DAY),
  });
  t.equal(
    (await s.write(client, { treatmentType: 'botox', performedAt: s.ago(HOUR) })).statusCode,
    201,
    'cooling-off counts from informedAt',
  );
  rule(
    t,
    await s.write(client, { treatmentType: 'botox', performedAt: s.ago(2 * DAY) }),
    'consent_after_treatment',
  );
});

t.test(
  'journal: performer, responsible, authorisation, inks, supplier, late entries',
  async (t) => {
    const s = await setup(t, { LATE_ENTRY_HOURS: '2' });
    const client = await s.newClient();
    const botox = await s.publish({
      key: 'botox',
      treatmentTypes: ['botox'],
      requiresAuthorisation: true,
    });
    await signConsent(s.app, {
      clientId: client,
      templateId: botox.id,
      headers: s.reception.headers,
      signedAt: s.ago(2 * DAY),
    });
    rule(t, await s.write(client, { treatmentType: 'botox' }), 'authorisation_required');
    rule(
      t,
      await s.write(client, { treatmentType: 'botox', responsibleId: s.assistant.id }),
      'responsible_not_authorised',
    );
    rule(
      t,
      await s.write(client, { treatmentType: 'botox', responsibleId: s.outsider.id }),
      'responsible_not_authorised',
    );
    rule(
      t,
      await s.write(client, { treatmentType: 'botox', performedBy: s.outsider.id }),
      'performer_not_allowed',
    );
    rule(
      t,
      await s.write(client, { treatmentType: 'botox', performedBy: s.reception.id }),
      'performer_not_allowed',
    );
    const delegated = await writeEntry(s.app, {
      clientId: client,
      headers: s.assistant.headers,
      treatmentType: 'botox',
      responsibleId: s.doctor.id,
      performedAt: s.ago(3 * HOUR),
      products: [{ name: 'Botox 100 E', batchNumber: 'C3709C3', supplier: 'Allergan' }],
    });
    t.match(delegated, {
      authorId: s.assistant.id,
      performedBy: s.assistant.id,
      responsibleId: s.doctor.id,
      status: 'final',
      countersignedBy: null,
      countersignedAt: null,
      enteredInError: null,
      statements: [],
      recordedLate: true,
      products: [{ batchNumber: 'C3709C3', supplier: 'Allergan', quantity: null }],
    });
    const byDoctor = await writeEntry(s.app, {
      clientId: client,
      headers: s.assistant.headers,
      treatmentType: 'botox',
      performedBy: s.doctor.id,
      performedAt: s.ago(HOUR),
    });
    t.match(
      byDoctor,
      {
        authorId: s.assistant.id,
        performedBy: s.doctor.id,
        responsibleId: null,
        recordedLate: false,
      },
      'entered by the assistant, performed by the authorised doctor',
    );
    // The read (its own statement and row mapping, not the write's) answers each entry as its
    // write did, field for field: a performer and a responsible read back in each other's place
    // would differ here.
    for (const written of [delegated, byDoctor]) {
      const read = await s.app.inject({
        url: `/v1/clients/${client}/journal/${written.id}`,
        headers: s.assistant.headers,
      });
      t.same(read.json(), written, 'read back as written');
    }

    const pmu = await s.publish({ key: 'pmu', treatmentTypes: ['pmu'], inkRecordRequired: true });
    await signConsent(s.app, {
      clientId: client,
      templateId: pmu.id,
      headers: s.reception.headers,
      signedAt: s.ago(2 * DAY),
    });
    rule(t, await s.write(client, { treatmentType: 'pmu' }), 'ink_record_missing');
    rule(
      t,
      await s.write(client, {
        treatmentType: 'pmu',
        products: [
          { name: 'Brow ink', batchNumber: 'INK-1', supplier: 'Permablend' },
          { name: 'Lip ink', batchNumber: 'INK-2' },
        ],
      }),
      'ink_record_missing',
    );
    t.equal(
      (
        await s.write(client, {
          treatmentType: 'pmu',
          products: [{ name: 'Brow ink', batchNumber: 'INK-1', supplier: 'Permablend' }],
        })
      ).statusCode,
      201,
    );
  },
);

t.test('journal: countersign, entered-in-error, statements', async (t) => {
  const s = await setup(t);
  const client = await s.newClient();
  const botox = await s.publish({ key: 'botox', treatmentTypes: ['botox'] });
  await signConsent(s.app, {
    clientId: client,
    templateId: botox.id,
    headers: s.reception.headers,
    signedAt: s.ago(2 * DAY),
  });
  const entry = await writeEntry(s.app, {
    clientId: client,
    headers: s.assistant.headers,
    treatmentType: 'botox',
    responsibleId: s.doctor.id,
  });
  const url = `/v1/clients/${client}/journal/${entry.id}`;

  t.equal((await s.post(`${url}/countersign`, s.assistant.headers)).statusCode, 403, 'the author');
  t.equal((await s.post(`${url}/countersign`, s.outsider.headers)).statusCode, 404, 'other clinic');
  t.equal((await s.post(`${url}/countersign`, s.reception.headers)).statusCode, 403, 'reception');
  const signed = await s.post(`${url}/countersign`, s.doctor.headers);
  t.equal(signed.statusCode, 200, signed.body);
  t.match(signed.json(), {
    countersignedBy: s.doctor.id,
    countersignedAt: s.clock.now().toISOString(),
  });
  rule(t, await s.post(`${url}/countersign`, s.doctor.headers), 'already_countersigned');
  t.equal(
    (await s.post(`${url}/countersign`, s.assistant.headers)).statusCode,
    403,
    'anyone else 403 before any 409',
  );

  const statement = await s.post(`${url}/statements`, s.reception.headers, {
    text: 'Jeg blev ikke informeret om hævelsen.',
  });
  t.equal(statement.statusCode, 201, statement.body);
  t.match(statement.json(), {
    entryId: entry.id,
    text: 'Jeg blev ikke informeret om hævelsen.',
    recordedBy: s.reception.id,
  });
  t.equal(
    (await s.post(`${url}/statements`, s.doctor.headers, { text: 'Second statement' })).statusCode,
    201,
  );
  t.equal(
    (await s.post(`${url}/statements`, s.outsider.headers, { text: 'Not mine' })).statusCode,
    404,
  );
  t.equal((await s.post(`${url}/statements`, s.admin.headers, { text: 'Admin' })).statusCode, 403);
  t.equal((await s.post(`${url}/statements`, s.doctor.headers, { text: '' })).statusCode, 400);
  const read = await s.app.inject({ method: 'GET', url, headers: s.doctor.headers });
  t.match(read.json(), {
    countersignedBy: s.doctor.id,
    statements: [{ text: 'Jeg blev ikke informeret om hævelsen.' }, { text: 'Second statement' }],
  });

  const wrong = await writeEntry(s.app, {
    clientId: client,
    headers: s.assistant.headers,
    treatmentType: 'botox',
  });
  const wrongUrl = `/v1/clients/${client}/journal/${wrong.id}`;
  const reason = { reason: 'Written on the wrong client' };
  t.equal(
    (await s.post(`${wrongUrl}/entered-in-error`, s.doctor.headers, reason)).statusCode,
    403,
    'neither author nor responsible',
  );
  t.equal(
    (await s.post(`${wrongUrl}/entered-in-error`, s.outsider.headers, reason)).statusCode,
    404,
  );
  const marked = await s.post(`${wrongUrl}/entered-in-error`, s.assistant.headers, reason);
  t.equal(marked.statusCode, 200, marked.body);
  t.match(marked.json(), {
    status: 'entered-in-error',
    enteredInError: { by: s.assistant.id, at: String, reason: 'Written on the wrong client' },
  });
  rule(
    t,
    await s.post(`${wrongUrl}/entered-in-error`, s.assistant.headers, reason),
    'already_entered_in_error',
  );
  t.equal(
    (await s.post(`${url}/entered-in-error`, s.doctor.headers, reason)).statusCode,
    200,
    'the responsible practitioner may mark it too',
  );
  const list = (query = '') =>
    s.app.inject({
      method: 'GET',
      url: `/v1/clients/${client}/journal${query}`,
      headers: s.doctor.headers,
    });
  t.same(
    (await list()).json<{ items: Json[] }>().items.map((item) => item.id),
    [],
    'entered-in-error entries are left out of lists',
  );
  const all = (await list('?includeEnteredInError=true')).json<{ items: Json[] }>().items;
  t.same(
    all.map((item) => [item.id, item.status]),
    [
      [entry.id, 'entered-in-error'],
      [wrong.id, 'entered-in-error'],
    ],
  );
  t.equal((await list('?includeEnteredInError=maybe')).statusCode, 400);
  const kept = await s.app.inject({ method: 'GET', url: wrongUrl, headers: s.doctor.headers });
  t.equal(kept.statusCode, 200, 'still readable by id');

  for (const table of ['journal_statements', 'journal_countersignatures', 'journal_entry_errors']) {
    await t.rejects(s.db.pool.query(`DELETE FROM ${table}`), `${table} refuses DELETE`);
  }
  const { rows } = await s.db.pool.query<{ text: string }>(
    `SELECT row_to_json(x)::text AS text FROM journal_statements x
     UNION ALL SELECT row_to_json(y)::text FROM journal_entry_errors y`,
  );
  t.ok(rows.length >= 4);
  for (const row of rows) {
    t.notMatch(row.text, /hævelsen|Second statement|wrong client/, 'free text only sealed');
  }
  const events = await s.db.pool.query<{ action: string }>(
    `SELECT action FROM audit_events WHERE client_id = $1 AND outcome = 'success'`,
    [client],
  );
  const actions = events.rows.map((row) => row.action);
  for (const action of ['journal.countersign', 'journal.statement', 'journal.entered_in_error']) {
    t.ok(actions.includes(action), `${action} audited`);
  }
  expectStatus(kept, 200, 'read');
});

t.test('retention: the latest end of any entry under its template', async (t) => {
  const s = await setup(t);
  const pmu = await s.publish({ key: 'pmu', treatmentTypes: ['pmu'], retentionYears: 5 });
  const peel = await s.publish({ key: 'peel', treatmentTypes: ['peel'] });
  const inkOnly = await s.newClient();
  const mixed = await s.newClient();
  for (const client of [inkOnly, mixed]) {
    for (const template of [pmu, peel]) {
      await signConsent(s.app, {
        clientId: client,
        templateId: template.id,
        headers: s.reception.headers,
        signedAt: s.ago(10 * DAY),
      });
    }
  }
  const inkAt = s.ago(2 * DAY);
  await writeEntry(s.app, {
    clientId: inkOnly,
    headers: s.assistant.headers,
    treatmentType: 'pmu',
    performedAt: inkAt,
  });
  await writeEntry(s.app, {
    clientId: mixed,
    headers: s.assistant.headers,
    treatmentType: 'peel',
    performedAt: s.ago(3 * DAY),
  });
  await writeEntry(s.app, {
    clientId: mixed,
    headers: s.assistant.headers,
    treatmentType: 'pmu',
    performedAt: inkAt,
  });
  const plusYears = (iso: string, years: number) => {
    const date = new Date(iso);
    date.setUTCFullYear(date.getUTCFullYear() + years);
    return date.toISOString();
  };
  const erase = (id: string) =>
    s.app.inject({
      method: 'DELETE',
      url: `/v1/clients/${id}`,
      headers: s.admin.headers,
      payload: { reason: 'Requested by the client' },
    });
  const ink = await erase(inkOnly);
  t.equal(ink.statusCode, 409);
  t.match(ink.json(), { rule: 'retention', retainUntil: plusYears(inkAt, 5) }, '5 years for inks');
  const both = await erase(mixed);
  t.match(
    both.json(),
    { rule: 'retention', retainUntil: plusYears(s.ago(3 * DAY), 10) },
    'the latest end: the journal entry under RETENTION_YEARS',
  );
  const inSixYears = new Date(plusYears(s.clock.now().toISOString(), 6));
  t.same(
    await journalRetention.clientsPastRetention(s.app.db, inSixYears, 10),
    [inkOnly],
    'purge-expired uses the same rule',
  );
  t.same(await journalRetention.clientsPastRetention(s.app.db, s.clock.now(), 10), []);
});

t.test(
  'the data-subject export: statements, entered-in-error, consent evidence, named access log',
  async (t) => {
    const s = await setup(t);
    const client = await s.newClient();
    const botox = await s.publish({
      key: 'botox',
      treatmentTypes: ['botox'],
      photoScopes: ['clinical'],
    });
    await signConsent(s.app, {
      clientId: client,
      templateId: botox.id,
      headers: s.reception.headers,
      signedAt: s.ago(2 * DAY),
      informedBy: s.doctor.id,
      informedAt: s.ago(3 * DAY),
      photoScopes: ['clinical'],
    });
    const entry = await writeEntry(s.app, {
      clientId: client,
      headers: s.assistant.headers,
      treatmentType: 'botox',
      responsibleId: s.doctor.id,
    });
    const wrong = await writeEntry(s.app, {
      clientId: client,
      headers: s.assistant.headers,
      treatmentType: 'botox',
    });
    const base = `/v1/clients/${client}/journal`;
    await s.post(`${base}/${entry.id}/countersign`, s.doctor.headers);
    await s.post(`${base}/${entry.id}/statements`, s.reception.headers, {
      text: 'Min egen udtalelse',
    });
    await s.post(`${base}/${wrong.id}/entered-in-error`, s.assistant.headers, {
      reason: 'Wrong client',
    });
    const draft = await s.post(`/v1/clients/${client}/journal-drafts`, s.assistant.headers, {
      notes: 'A draft is not part of the record — Kq5',
    });
    t.equal(draft.statusCode, 201);

    const res = await s.app.inject({
      method: 'GET',
      url: `/v1/clients/${client}/export`,
      headers: s.admin.headers,
    });
    t.equal(res.statusCode, 200, res.body);
    const exported = res.json<{
      consents: Json[];
      journal: Json[];
      accessLog: {
        actorId: string | null;
        actorRole: string | null;
        actorDisplayName: string | null;
      }[];
    }>();
    t.match(exported.consents, [
      {
        informedBy: s.doctor.id,
        informedAt: s.ago(3 * DAY),
        photoScopes: ['clinical'],
        expiresAt: null,
      },
    ]);
    t.match(exported.journal, [
      {
        id: entry.id,
        status: 'final',
        performedBy: s.assistant.id,
        responsibleId: s.doctor.id,
        countersignedBy: s.doctor.id,
        statements: [{ text: 'Min egen udtalelse', recordedBy: s.reception.id }],
      },
      { id: wrong.id, status: 'entered-in-error', enteredInError: { reason: 'Wrong client' } },
    ]);
    t.notMatch(res.body, /Kq5/, 'drafts are not exported');
    const doctorEvents = exported.accessLog.filter((event) => event.actorId === s.doctor.id);
    t.ok(doctorEvents.length > 0);
    t.match(doctorEvents[0], { actorDisplayName: 'Dr. Holm', actorRole: 'practitioner' });
    t.ok(
      exported.accessLog.every(
        (event) => event.actorId === null || typeof event.actorDisplayName === 'string',
      ),
      'every acting user is named',
    );
  },
);
