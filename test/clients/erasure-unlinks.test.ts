import t from 'tap';
import { buildTestApp } from '../helpers/app.js';
import { bearer, createClinic, fakeClock, login, loginAs, type SignedIn } from '../helpers/auth.js';
import { makeClient } from '../helpers/clients.js';
import { signConsent } from '../helpers/consents.js';
import { writeEntry } from '../helpers/journal.js';
import { expectStatus } from '../helpers/responses.js';
import { publishTemplate } from '../helpers/templates.js';

const YEAR = 366 * 24 * 3_600_000;

/**
 * Finding 4 of issue #15: after erasure nothing stored links a row to the person. Every
 * free-text value carries a distinctive marker; after the erasure every column of every table
 * is read as the application role and searched for the markers, the consent's document hash
 * and every blind index a guess of the identity (or of the batch number) would produce.
 */
t.test('erasure leaves no marker, hash or index that links to the person', async (t) => {
  const clock = fakeClock();
  const { app, db } = await buildTestApp(t, {
    env: { RETENTION_YEARS: '1' },
    build: { now: clock.now },
  });
  const clinic = await createClinic(app);
  const admin = await loginAs(app, { role: 'admin', clinicIds: [clinic] });
  const reception = await loginAs(app, { role: 'reception', clinicIds: [clinic] });
  const practitioner = await loginAs(app, { role: 'practitioner', clinicIds: [clinic] });
  const outsider = await loginAs(app, {
    role: 'practitioner',
    clinicIds: [await createClinic(app)],
  });
  const auditor = await loginAs(app, { role: 'auditor', clinicIds: [clinic] });

  const identity = { email: 'zq.markerperson@example.dk', phone: '+4571741199' };
  const batch = 'MRKBATCH77';
  const client = await makeClient(app, {
    clinicId: clinic,
    headers: reception.headers,
    firstName: 'Zqmarkerfirst',
    lastName: 'Zqmarkerlast',
    ...identity,
  });
  const template = await publishTemplate(app, admin.headers, {
    key: 'botox',
    treatmentTypes: ['botox'],
  });
  const consent = await signConsent(app, {
    clientId: client.id,
    templateId: template.id,
    headers: reception.headers,
    signerName: 'Zqmarkersigner',
    signedAt: new Date(clock.now().getTime() - 2 * 3_600_000).toISOString(),
    answers: { note: 'Zqmarkeranswer' },
  });
  const entry = await writeEntry(app, {
    clientId: client.id,
    headers: practitioner.headers,
    treatmentType: 'botox',
    notes: 'Zqmarkernotes',
    products: [{ name: 'Zqmarkerproduct', batchNumber: batch, quantity: 20, unit: 'E' }],
  });
  const call = (
    who: SignedIn,
    method: 'GET' | 'POST' | 'PUT' | 'DELETE',
    url: string,
    payload?: object,
    extra: Record<string, string> = {},
  ) =>
    app.inject({ method, url, headers: { ...who.headers, ...extra }, ...(payload && { payload }) });
  expectStatus(
    await call(practitioner, 'POST', `/v1/clients/${client.id}/journal/${entry.id}/amendments`, {
      notes: 'Zqmarkeramendnotes',
      reason: 'Zqmarkeramendreason',
    }),
    201,
    'amending',
  );
  // A draft the practitioner never signed: not part of the record, but it names the client.
  expectStatus(
    await call(practitioner, 'POST', `/v1/clients/${client.id}/journal-drafts`, {
      notes: 'Zqmarkerdraftnotes',
    }),
    201,
    'a draft',
  );
  const breakGlass = 'Zqmarkerglass: Jensen collapsed, diabetic';
  expectStatus(
    await call(outsider, 'GET', `/v1/clients/${client.id}/journal/${entry.id}`, undefined, {
      'x-break-glass-reason': breakGlass,
    }),
    200,
    'break-glass read',
  );
  expectStatus(
    await call(admin, 'PUT', `/v1/clients/${client.id}/legal-hold`, {
      active: true,
      reason: 'Zqmarkerhold complaint',
    }),
    200,
    'legal hold on',
  );
  expectStatus(
    await call(admin, 'PUT', `/v1/clients/${client.id}/legal-hold`, {
      active: false,
      reason: 'Zqmarkerunhold settled',
    }),
    200,
    'legal hold off',
  );
  expectStatus(
    await call(reception, 'POST', `/v1/clients/${client.id}/consents/${consent.id}/withdraw`, {
      reason: 'Zqmarkerwithdraw',
    }),
    200,
    'withdrawing',
  );

  // While the client exists, the auditor reads the break-glass reason through the API, and
  // the table holds it only sealed.
  const before = await call(auditor, 'GET', `/v1/audit-events?clientId=${client.id}&limit=100`);
  t.equal(before.statusCode, 200, before.body);
  const glassEvents = before
    .json<{ items: { breakGlass: boolean; reason: string | null }[] }>()
    .items.filter((event) => event.breakGlass);
  t.ok(glassEvents.length > 0);
  t.ok(
    glassEvents.every((event) => event.reason === breakGlass),
    'the auditor reads the reason',
  );
  const stored = await db.pool.query<{ reason: string }>(
    'SELECT reason FROM audit_events WHERE break_glass',
  );
  t.ok(stored.rows.length > 0 && stored.rows.every((row) => row.reason.startsWith('sealed:')));

  // Everything a guess of the identity or the batch number would produce.
  const guesses = [
    consent.documentHash,
    ...(
      await Promise.all([
        app.keys.blindIndex('email', identity.email),
        app.keys.blindIndex('phone', identity.phone),
        app.keys.blindIndex('batchNumber', batch),
      ])
    ).map((index) => Buffer.from(index).toString('hex')),
  ];
  const linking = async () => {
    const tables = await db.pool.query<{ table_name: string }>(
      `SELECT table_name FROM information_schema.tables
        WHERE table_schema = 'public' AND table_type = 'BASE TABLE' ORDER BY 1`,
    );
    const found: string[] = [];
    for (const { table_name: table } of tables.rows) {
      const rows = await db.pool.query<{ row: string }>(
        `SELECT row_to_json(t)::text AS row FROM "${table}" t`,
      );
      for (const { row } of rows.rows) {
        const text = row.toLowerCase();
        if (text.includes('zqmarker')) found.push(`${table}: marker`);
        for (const guess of guesses)
          if (text.includes(guess)) found.push(`${table}: ${guess.slice(0, 8)}`);
      }
    }
    return found;
  };
  t.not(
    (await linking()).length,
    0,
    'before erasure the indexes and hash are there (the check sees them)',
  );

  // Past the retention period, the admin erases the client.
  clock.advance(2 * YEAR);
  const adminAgain = bearer(
    (await login(app, { username: admin.username, password: admin.password })).accessToken,
  );
  const erased = await app.inject({
    method: 'DELETE',
    url: `/v1/clients/${client.id}`,
    headers: adminAgain,
    payload: { reason: 'Zqmarkererase requested' },
  });
  t.equal(erased.statusCode, 204, erased.body);

  t.same(await linking(), [], 'no marker, document hash or blind index anywhere');
  const drafts = await db.pool.query('SELECT 1 FROM journal_drafts WHERE client_id = $1', [
    client.id,
  ]);
  t.equal(drafts.rowCount, 0, 'no draft row says this client was ever treated');
  const auditorAgain = bearer(
    (await login(app, { username: auditor.username, password: auditor.password })).accessToken,
  );
  const after = await app.inject({
    method: 'GET',
    url: `/v1/audit-events?clientId=${client.id}&limit=100`,
    headers: auditorAgain,
  });
  t.equal(after.statusCode, 200);
  const events = after.json<{
    items: { breakGlass: boolean; reason: string | null; action: string }[];
  }>().items;
  t.ok(
    events.some((event) => event.action === 'client.erase'),
    'the audit trail (ids) stays',
  );
  t.ok(
    events.filter((event) => event.breakGlass).every((event) => event.reason === null),
    'the break-glass reason is gone with the key',
  );
  const verify = await app.inject({
    method: 'GET',
    url: '/v1/audit-events/verify',
    headers: auditorAgain,
  });
  t.match(verify.json(), { ok: true }, 'and the chain still verifies');
});
