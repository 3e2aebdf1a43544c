import t, { type Test } from 'tap';
import { buildTestApp } from '../helpers/app.js';
import { createClinic, fakeClock, loginAs } from '../helpers/auth.js';
import { uuidv7 } from '../../src/db/ids.js';
import { SYSTEM_CONTEXT } from '../../src/access/context.js';
import type { EntryRow } from '../../src/modules/journal/journal.repository.js';
import { insertEntryWithEvent } from '../../src/modules/journal/journal.write.js';
import { makeClient } from '../helpers/clients.js';
import { signConsent } from '../helpers/consents.js';
import { writeEntryResponse, type EntryFields } from '../helpers/journal.js';
import { publishTemplate } from '../helpers/templates.js';
import type { BlindIndex } from '../../src/crypto/index.js';

type Json = Record<string, unknown>;
const HOUR = 3_600_000;
const DAY = 24 * HOUR;

async function setup(t: Test) {
  const clock = fakeClock();
  const { app, db } = await buildTestApp(t, { build: { now: clock.now } });
  const clinic = await createClinic(app);
  const admin = await loginAs(app, { role: 'admin', clinicIds: [clinic] });
  const reception = await loginAs(app, { role: 'reception', clinicIds: [clinic] });
  const practitioner = await loginAs(app, { role: 'practitioner', clinicIds: [clinic] });
  const ago = (ms: number) => new Date(clock.now().getTime() - ms).toISOString();

  const publish = async (payload: Json) =>
    (
      await publishTemplate(app, admin.headers, {
        key: String(payload.key),
        treatmentTypes: payload.treatmentTypes as string[],
        ...payload,
      })
    ).id;
  // This file's defaults bound to the factories: the receptionist records clients and
  // consents (every signer name the canary below looks for), the practitioner writes.
  // No e-mail: a test below erases a client by SQL, which its blind index would refuse.
  const newClient = async (dateOfBirth = '1990-01-01') =>
    (
      await makeClient(app, {
        clinicId: clinic,
        headers: reception.headers,
        dateOfBirth,
        email: null,
      })
    ).id;
  const sign = async (clientId: string, templateId: string, signedAt: string) =>
    (
      await signConsent(app, {
        clientId,
        templateId,
        headers: reception.headers,
        signerName: 'Jens Signer-Kq9',
        signedAt,
      })
    ).id;
  const write = (clientId: string, fields: EntryFields, headers = practitioner.headers) =>
    writeEntryResponse(app, { clientId, headers, ...fields });

  return {
    clock,
    app,
    db,
    clinic,
    admin,
    reception,
    practitioner,
    ago,
    publish,
    newClient,
    sign,
    write,
  };
}

t.test('journal: rules, recordedLate, amendments, immutability, break-glass', async (t) => {
  const s = await setup(t);
  const { app, db, ago, write } = s;
  const botox = await s.publish({
    key: 'botox',
    treatmentTypes: ['botox'],
    minimumAge: 18,
    coolingOffHours: 48,
  });
  const laser = await s.publish({ key: 'laser', treatmentTypes: ['laser'] });
  const entry = (treatmentType: string, performedAt: string, extra: Json = {}) => ({
    treatmentType,
    performedAt,
    notes: 'Kanarie-notes-Wp3: 20 units glabella',
    ...extra,
  });

  await t.test('each rule answers 409 naming it', async (t) => {
    const adult = await s.newClient();
    const expectRule = async (clientId: string, payload: EntryFields, rule: string) => {
      const res = await write(clientId, payload);
      t.equal(res.statusCode, 409, `${rule}: ${res.body}`);
      t.match(res.json(), { status: 409, rule });
    };
    await expectRule(adult, entry('peel', ago(HOUR)), 'consent_missing');

    await s.sign(adult, laser, ago(0));
    await expectRule(adult, entry('laser', ago(2 * HOUR)), 'consent_after_treatment');

    await s.sign(adult, botox, ago(24 * HOUR));
    await expectRule(adult, entry('botox', ago(HOUR)), 'cooling_off');

    const minor = await s.newClient('2015-06-01');
    await s.sign(minor, botox, ago(72 * HOUR));
    await expectRule(minor, entry('botox', ago(HOUR)), 'minimum_age');

    const withdrawn = await s.newClient();
    const consentId = await s.sign(withdrawn, laser, ago(5 * HOUR));
    await app.inject({
      method: 'POST',
      url: `/v1/clients/${withdrawn}/consents/${consentId}/withdraw`,
      headers: s.reception.headers,
      payload: { reason: 'No longer wants it' },
    });
    await expectRule(withdrawn, entry('laser', ago(HOUR)), 'consent_withdrawn');

    const future = await write(
      adult,
      entry('laser', new Date(s.clock.now().getTime() + HOUR).toISOString()),
    );
    t.equal(future.statusCode, 400, 'performedAt in the future');
    const count = await db.pool.query<{ n: number }>(
      'SELECT count(*)::int AS n FROM journal_entries',
    );
    t.equal(count.rows[0]!.n, 0, 'no refused entry was stored');
  });

  const client = await s.newClient();
  await s.sign(client, botox, ago(5 * DAY));
  await s.sign(client, laser, ago(5 * DAY));

  const onTime = await write(
    client,
    entry('Botox', ago(HOUR), {
      treatedAreas: ['glabella'],
      products: [{ name: 'Botox 100U', batchNumber: 'C3 456-ab', quantity: 20, unit: 'U' }],
    }),
  );
  t.equal(onTime.statusCode, 201, onTime.body);
  const first = onTime.json<Json & { id: string }>();
  t.match(first, {
    authorId: s.practitioner.id,
    treatmentType: 'botox',
    recordedLate: false,
    createdAt: s.clock.now().toISOString(),
    treatedAreas: ['glabella'],
    products: [{ name: 'Botox 100U', batchNumber: 'C3 456-ab', quantity: 20, unit: 'U' }],
    amendments: [],
  });
  const late = await write(client, entry('laser', ago(3 * DAY)));
  t.equal(late.statusCode, 201, late.body);
  t.equal(late.json<Json>().recordedLate, true, 'written more than 24 h after the treatment');
  t.equal((await write(client, entry('laser', ago(23 * HOUR)))).json<Json>().recordedLate, false);
  t.equal(
    (await write(client, entry('laser', ago(HOUR), { authorId: s.admin.id }))).statusCode,
    400,
    'authorId cannot be set',
  );

  await t.test('amendments keep the original', async (t) => {
    const amended = await app.inject({
      method: 'POST',
      url: `/v1/clients/${client}/journal/${first.id}/amendments`,
      headers: s.practitioner.headers,
      payload: { notes: 'Correction: 25 units', reason: 'Typing error' },
    });
    t.equal(amended.statusCode, 201, amended.body);
    const read = await app.inject({
      method: 'GET',
      url: `/v1/clients/${client}/journal/${first.id}`,
      headers: s.practitioner.headers,
    });
    t.equal(read.statusCode, 200);
    t.match(read.json(), {
      notes: 'Kanarie-notes-Wp3: 20 units glabella',
      amendments: [
        { notes: 'Correction: 25 units', reason: 'Typing error', authorId: s.practitioner.id },
      ],
    });
    const list = await app.inject({
      method: 'GET',
      url: `/v1/clients/${client}/journal`,
      headers: s.practitioner.headers,
    });
    const items = list.json<{ items: { performedAt: string; amendments: unknown[] }[] }>().items;
    t.equal(items.length, 3);
    t.same(
      items.map((item) => item.performedAt),
      items.map((item) => item.performedAt).sort(),
      'oldest first',
    );
    const page = await app.inject({
      method: 'GET',
      url: `/v1/clients/${client}/journal?limit=2`,
      headers: s.practitioner.headers,
    });
    const cursor = page.json<{ nextCursor: string }>().nextCursor;
    const rest = await app.inject({
      method: 'GET',
      url: `/v1/clients/${client}/journal?limit=2&cursor=${cursor}`,
      headers: s.practitioner.headers,
    });
    t.equal(rest.json<{ items: unknown[] }>().items.length, 1, 'pages continue');
  });

  await t.test('entries never change: 405, and the database refuses', async (t) => {
    for (const method of ['PUT', 'PATCH', 'DELETE'] as const) {
      const res = await app.inject({
        method,
        url: `/v1/clients/${client}/journal/${first.id}`,
        headers: s.practitioner.headers,
        payload: { notes: 'rewritten' },
      });
      t.equal(res.statusCode, 405, method);
      t.equal(res.headers.allow, 'GET');
      t.match(res.headers['content-type'], /application\/problem\+json/);
    }
    await t.rejects(
      db.pool.query('UPDATE journal_entries SET recorded_late = true WHERE id = $1', [first.id]),
      /append-only/,
    );
    await t.rejects(
      db.pool.query('DELETE FROM journal_entries WHERE id = $1', [first.id]),
      /append-only/,
    );
    await t.rejects(
      db.pool.query('UPDATE journal_amendments SET created_at = now()'),
      /append-only/,
    );
  });

  await t.test(
    'reception and admin get 403; another clinic 404; break-glass allowed and marked',
    async (t) => {
      for (const who of [s.reception, s.admin]) {
        for (const request of [
          { method: 'GET' as const, url: `/v1/clients/${client}/journal` },
          {
            method: 'POST' as const,
            url: `/v1/clients/${client}/journal`,
            payload: entry('laser', ago(HOUR)),
          },
        ]) {
          const res = await app.inject({ ...request, headers: who.headers });
          t.equal(res.statusCode, 403, `${who.role} ${request.method}`);
        }
      }
      const outsider = await loginAs(app, {
        role: 'practitioner',
        clinicIds: [await createClinic(app)],
      });
      const url = `/v1/clients/${client}/journal/${first.id}`;
      t.equal(
        (await app.inject({ method: 'GET', url, headers: outsider.headers })).statusCode,
        404,
      );
      t.equal(
        (await write(client, entry('laser', ago(HOUR)), outsider.headers)).statusCode,
        404,
        'no writing across clinics',
      );
      const reason = 'Emergency: client unconscious at our clinic';
      const glass = await app.inject({
        method: 'GET',
        url,
        headers: { ...outsider.headers, 'x-break-glass-reason': reason },
      });
      t.equal(glass.statusCode, 200, glass.body);
      const listGlass = await app.inject({
        method: 'GET',
        url: `/v1/clients/${client}/journal`,
        headers: { ...outsider.headers, 'x-break-glass-reason': reason },
      });
      t.equal(listGlass.statusCode, 200);
      const events = await db.pool.query<{
        action: string;
        break_glass: boolean;
        reason: string;
        outcome: string;
      }>(
        "SELECT action, break_glass, reason, outcome FROM audit_events WHERE actor_id = $1 AND action LIKE 'journal.%' ORDER BY at, id",
        [outsider.id],
      );
      t.match(events.rows, [
        { action: 'journal.read', outcome: 'denied', break_glass: false },
        { action: 'journal.create', outcome: 'denied' },
        { action: 'journal.read', outcome: 'success', break_glass: true, reason: /^sealed:/ },
        { action: 'journal.list', outcome: 'success', break_glass: true, reason: /^sealed:/ },
      ]);
      t.notOk(
        events.rows.some((row) => row.reason?.includes('unconscious')),
        'the free-text reason is sealed under the client key, never in clear',
      );
      const tooShort = await app.inject({
        method: 'GET',
        url,
        headers: { ...outsider.headers, 'x-break-glass-reason': 'short' },
      });
      t.equal(tooShort.statusCode, 400);
    },
  );

  await t.test('canary: no notes, batch numbers or signer names in a dump', async (t) => {
    let dump = '';
    for (const table of ['consents', 'journal_entries', 'journal_amendments', 'journal_products']) {
      const { rows } = await db.pool.query<{ text: string }>(
        `SELECT row_to_json(t)::text AS text FROM ${table} t`,
      );
      t.ok(rows.length > 0, `${table} has rows`);
      dump += rows.map((row) => row.text).join('\n');
    }
    for (const value of [
      'Kanarie-notes-Wp3',
      'C3 456-ab',
      'C3456-AB',
      'Signer-Kq9',
      'Correction: 25',
      'glabella',
      'botox',
    ]) {
      t.notOk(dump.toLowerCase().includes(value.toLowerCase()), `${value} not stored in clear`);
      t.notOk(dump.includes(Buffer.from(value).toString('hex')), `${value} not as hex`);
    }
  });
});

t.test('retention: erasure waits until RETENTION_YEARS after the newest entry', async (t) => {
  const s = await setup(t);
  const laser = await s.publish({ key: 'laser', treatmentTypes: ['laser'] });
  const client = await s.newClient();
  await s.sign(client, laser, s.ago(2 * DAY));
  const performedAt = s.ago(DAY);
  const res = await s.write(client, { treatmentType: 'laser', performedAt, notes: 'Done' });
  t.equal(res.statusCode, 201, res.body);
  const erase = (headers: { authorization: string }) =>
    s.app.inject({
      method: 'DELETE',
      url: `/v1/clients/${client}`,
      headers,
      payload: { reason: 'The client asked to be forgotten' },
    });
  const refused = await erase(s.admin.headers);
  t.equal(refused.statusCode, 409, refused.body);
  const retainUntil = new Date(performedAt);
  retainUntil.setUTCFullYear(retainUntil.getUTCFullYear() + 10);
  t.match(refused.json(), { rule: 'retention', retainUntil: retainUntil.toISOString() });

  s.clock.set(new Date(retainUntil.getTime() + DAY));
  const admin = await loginAs(s.app, { role: 'admin', clinicIds: [s.clinic] });
  const erased = await erase(admin.headers);
  t.equal(erased.statusCode, 204, erased.body);
});

t.test('a journal write and its audit event commit together, or neither does', async (t) => {
  const s = await setup(t);
  const laser = await s.publish({ key: 'laser', treatmentTypes: ['laser'] });
  const client = await s.newClient();
  await s.sign(client, laser, s.ago(2 * DAY));
  const payload = {
    treatmentType: 'laser',
    performedAt: s.ago(HOUR),
    notes: 'Done',
    products: [
      { name: 'Filler', batchNumber: 'LOT-1' },
      { name: 'Numbing cream', batchNumber: 'LOT-2' },
    ],
  };
  const counts = async () =>
    (
      await s.db.pool.query<{ entries: number; products: number; events: number }>(
        `SELECT (SELECT count(*)::int FROM journal_entries) AS entries,
                (SELECT count(*)::int FROM journal_products) AS products,
                (SELECT count(*)::int FROM audit_events WHERE action = 'journal.create') AS events`,
      )
    ).rows[0]!;

  await s.db.pool.query(
    "ALTER TABLE audit_events ADD CONSTRAINT test_refuse CHECK (action <> 'journal.create') NOT VALID",
  );
  const refused = await s.write(client, payload);
  t.equal(refused.statusCode, 503, 'the event cannot be written: 503');
  t.equal(refused.headers['retry-after'], '5');
  t.same(await counts(), { entries: 0, products: 0, events: 0 }, 'and nothing was written');

  await s.db.pool.query('ALTER TABLE audit_events DROP CONSTRAINT test_refuse');
  const written = await s.write(client, payload);
  t.equal(written.statusCode, 201, written.body);
  t.same(await counts(), { entries: 1, products: 2, events: 1 });
  const { rows } = await s.db.pool.query<{ resource_id: string; client_id: string }>(
    "SELECT resource_id, client_id FROM audit_events WHERE action = 'journal.create'",
  );
  t.same(rows, [{ resource_id: written.json<{ id: string }>().id, client_id: client }]);
});

t.test(
  'the write statement writes nothing if the consent was withdrawn or the client erased after the rules were checked',
  async (t) => {
    const s = await setup(t);
    const laser = await s.publish({ key: 'laser', treatmentTypes: ['laser'] });
    const client = await s.newClient();
    const consentId = await s.sign(client, laser, s.ago(2 * DAY));
    const insert = (consent: string) => {
      const id = uuidv7();
      const sealed = Buffer.from('not really sealed') as EntryRow['notes'];
      const row: EntryRow = {
        id,
        clientId: client,
        clinicId: s.clinic,
        authorId: s.practitioner.id,
        consentId: consent,
        treatmentType: sealed,
        performedAt: new Date(s.ago(HOUR)),
        notes: sealed,
        treatedAreas: null,
        performedBy: null,
        responsibleId: null,
        products: null,
        recordedLate: false,
        createdAt: s.clock.now(),
      };
      return insertEntryWithEvent(
        s.db.pool,
        SYSTEM_CONTEXT,
        row,
        [{ id: uuidv7(), batchIndex: Buffer.alloc(32, 1) as BlindIndex }],
        [
          {
            action: 'journal.create',
            outcome: 'success',
            resourceType: 'journal_entry',
            resourceId: id,
            clientId: client,
          },
        ],
      );
    };
    const counts = async () =>
      (
        await s.db.pool.query<{ n: string }>(
          `SELECT (SELECT count(*) FROM journal_entries) || '/' || (SELECT count(*) FROM journal_products)
             || '/' || (SELECT count(*) FROM audit_events WHERE action = 'journal.create') AS n`,
        )
      ).rows[0]!.n;

    t.equal(await insert(consentId), true, 'an active consent: written');
    t.equal(await counts(), '1/1/1', 'entry, product and event');

    const withdraw = await s.app.inject({
      method: 'POST',
      url: `/v1/clients/${client}/consents/${consentId}/withdraw`,
      headers: s.reception.headers,
      payload: { reason: 'No longer wants it' },
    });
    t.equal(withdraw.statusCode, 200, withdraw.body);
    t.equal(await insert(consentId), false, 'a withdrawn consent: nothing');
    t.equal(await counts(), '1/1/1');

    const other = await s.sign(client, laser, s.ago(2 * DAY));
    await s.db.pool.query('UPDATE clients SET erased_at = now() WHERE id = $1', [client]);
    t.equal(await insert(other), false, 'an erased client: nothing');
    t.equal(await counts(), '1/1/1');
  },
);
