import t from 'tap';
import { DataKeyNotFound } from '../../src/crypto/index.js';
import { CLIENT_FIELDS } from '../../src/modules/clients/clients.fields.js';
import { buildTestApp } from '../helpers/app.js';
import { createClinic, loginAs } from '../helpers/auth.js';
import { makeClient } from '../helpers/clients.js';

/** Rows of the few SQL checks below. */
type Row = { n: number; text: string; first_name_enc: Buffer } & Record<string, unknown>;

type Json = Record<string, unknown>;

function clientBody(clinicId: string, overrides: Json = {}) {
  return {
    clinicId,
    firstName: 'Karen',
    lastName: 'Kjærsfeldt',
    dateOfBirth: '1985-03-14',
    nationalId: '140385-1234',
    email: 'Karen.K@Example.DK',
    phone: '+45 71 74 11 08',
    address: { street: 'Juelsmindevej 57', postalCode: '7120', city: 'Vejle', country: 'dk' },
    marketingOptIn: true,
    ...overrides,
  };
}

t.test('clients: create, read, update, search, list', async (t) => {
  const { app, db } = await buildTestApp(t);
  const clinicA = await createClinic(app);
  const clinicB = await createClinic(app);
  const reception = await loginAs(app, { role: 'reception', clinicIds: [clinicA] });
  const practitionerB = await loginAs(app, { role: 'practitioner', clinicIds: [clinicB] });
  const headers = reception.headers;

  const created = await app.inject({
    method: 'POST',
    url: '/v1/clients',
    headers,
    payload: clientBody(clinicA),
  });
  t.equal(created.statusCode, 201, created.body);
  const client = created.json<Json & { id: string }>();
  t.match(client, {
    clinicId: clinicA,
    firstName: 'Karen',
    lastName: 'Kjærsfeldt',
    dateOfBirth: '1985-03-14',
    nationalId: '1403851234',
    email: 'Karen.K@Example.DK',
    phone: '+4571741108',
    address: { street: 'Juelsmindevej 57', postalCode: '7120', city: 'Vejle', country: 'DK' },
    marketingOptIn: true,
  });
  t.match(client.id, /^[0-9a-f]{8}-[0-9a-f]{4}-7/);

  t.test('nothing readable reaches the database', async (t) => {
    const { rows } = await db.pool.query<Row>('SELECT row_to_json(c)::text AS text FROM clients c');
    for (const value of [
      'Karen',
      'Kjærsfeldt',
      '1985-03-14',
      '1403851234',
      'example',
      '71741108',
      'Juelsmindevej',
      'Vejle',
    ]) {
      t.notMatch(
        rows[0]?.text.toLowerCase(),
        value.toLowerCase(),
        `${value} is not stored in clear`,
      );
    }
  });

  const read = await app.inject({ method: 'GET', url: `/v1/clients/${client.id}`, headers });
  t.equal(read.statusCode, 200);
  t.same(read.json(), client);

  const patched = await app.inject({
    method: 'PATCH',
    url: `/v1/clients/${client.id}`,
    headers,
    payload: { email: null, phone: '12345678', marketingOptIn: false },
  });
  t.equal(patched.statusCode, 200, patched.body);
  t.match(patched.json(), {
    email: null,
    phone: '+4512345678',
    marketingOptIn: false,
    firstName: 'Karen',
  });

  const history = await db.pool.query<Row>(
    'SELECT opt_in, actor_id FROM client_marketing_events WHERE client_id = $1 ORDER BY at, id',
    [client.id],
  );
  t.same(
    history.rows,
    [
      { opt_in: true, actor_id: reception.id },
      { opt_in: false, actor_id: reception.id },
    ],
    'newsletter consent changes are kept with time and actor',
  );

  for (const query of [
    { phone: '+45 12 34 56 78' },
    { phone: '0045-1234-5678' },
    { phone: '12345678' },
    { nationalId: '1403851234' },
    { nationalId: '140385-1234' },
  ]) {
    const res = await app.inject({
      method: 'POST',
      url: '/v1/clients/search',
      headers,
      payload: query,
    });
    t.equal(res.statusCode, 200);
    t.same(
      res.json<{ items: { id: string }[] }>().items.map((item) => item.id),
      [client.id],
      JSON.stringify(query),
    );
  }
  const byOldEmail = await app.inject({
    method: 'POST',
    url: '/v1/clients/search',
    headers,
    payload: { email: 'karen.k@example.dk' },
  });
  t.same(byOldEmail.json(), { items: [] }, 'a cleared e-mail is no longer found');

  await app.inject({
    method: 'PATCH',
    url: `/v1/clients/${client.id}`,
    headers,
    payload: { email: 'Karen.K@Example.DK' },
  });
  const byEmail = await app.inject({
    method: 'POST',
    url: '/v1/clients/search',
    headers,
    payload: { email: '  KAREN.k@example.dk ' },
  });
  t.equal(
    byEmail.json<{ items: unknown[] }>().items.length,
    1,
    'e-mail search ignores case and spaces',
  );

  t.test('another clinic cannot see the client: 404, and the refusal is audited', async (t) => {
    const other = practitionerB.headers;
    const get = await app.inject({
      method: 'GET',
      url: `/v1/clients/${client.id}`,
      headers: other,
    });
    t.equal(get.statusCode, 404);
    const missing = await app.inject({
      method: 'GET',
      url: '/v1/clients/01900000-0000-7000-8000-000000000000',
      headers: other,
    });
    t.same(get.json(), missing.json(), 'indistinguishable from a missing client');
    t.equal(
      (
        await app.inject({
          method: 'PATCH',
          url: `/v1/clients/${client.id}`,
          headers: other,
          payload: { firstName: 'X' },
        })
      ).statusCode,
      404,
    );
    const search = await app.inject({
      method: 'POST',
      url: '/v1/clients/search',
      headers: other,
      payload: { phone: '12345678' },
    });
    t.same(search.json(), { items: [] });
    const list = await app.inject({
      method: 'GET',
      url: `/v1/clients?clinicId=${clinicA}`,
      headers: other,
    });
    t.equal(list.statusCode, 404);
    const denied = await db.pool.query<Row>(
      "SELECT count(*)::int AS n FROM audit_events WHERE client_id = $1 AND outcome = 'denied' AND actor_id = $2",
      [client.id, practitionerB.id],
    );
    t.equal(denied.rows[0]?.n, 2, 'read and update refusals are audited');
  });

  t.test('roles without client access get 403', async (t) => {
    for (const role of ['auditor', 'admin'] as const) {
      const user = await loginAs(app, { role, clinicIds: [clinicA] });
      t.equal(
        (
          await app.inject({
            method: 'GET',
            url: `/v1/clients/${client.id}`,
            headers: user.headers,
          })
        ).statusCode,
        403,
        role,
      );
      t.equal(
        (
          await app.inject({
            method: 'POST',
            url: '/v1/clients',
            headers: user.headers,
            payload: clientBody(clinicA),
          })
        ).statusCode,
        403,
        role,
      );
    }
  });
});

t.test('clients: strict and helpful validation', async (t) => {
  const { app, db } = await buildTestApp(t);
  const clinic = await createClinic(app);
  const { headers } = await loginAs(app, { role: 'practitioner', clinicIds: [clinic] });
  const cases: [Json, string][] = [
    [{ dateOfBirth: '1985-02-30' }, 'body.dateOfBirth'],
    [{ dateOfBirth: '2999-01-01' }, 'body.dateOfBirth'],
    [{ nationalId: '320185-1234' }, 'body.nationalId'],
    [{ nationalId: '150385-1234' }, 'body.nationalId'],
    [{ email: 'not-an-email' }, 'body.email'],
    [{ phone: '12' }, 'body.phone'],
    [
      { address: { street: 'x', postalCode: '12345', city: 'Vejle', country: 'DK' } },
      'body.address.postalCode',
    ],
    [
      { address: { street: 'x', postalCode: '7120', city: 'Vejle', country: 'Denmark' } },
      'body.address.country',
    ],
    [{ authorId: clinic }, 'body'],
    [{ firstName: '' }, 'body.firstName'],
  ];
  for (const [overrides, path] of cases) {
    const res = await app.inject({
      method: 'POST',
      url: '/v1/clients',
      headers,
      payload: clientBody(clinic, overrides),
    });
    t.equal(res.statusCode, 400, JSON.stringify(overrides));
    t.ok(
      res
        .json<{ errors: { path: string }[] }>()
        .errors.some((error) => error.path.startsWith(path)),
      `${JSON.stringify(overrides)} names ${path}: ${res.body}`,
    );
  }
  const created = await app.inject({
    method: 'POST',
    url: '/v1/clients',
    headers,
    payload: clientBody(clinic, { nationalId: null, email: null }),
  });
  t.equal(created.statusCode, 201);
  const id = created.json<{ id: string }>().id;
  const moveClinic = await app.inject({
    method: 'PATCH',
    url: `/v1/clients/${id}`,
    headers,
    payload: { clinicId: clinic },
  });
  t.equal(moveClinic.statusCode, 400, 'clinicId cannot be changed');
  const empty = await app.inject({
    method: 'PATCH',
    url: `/v1/clients/${id}`,
    headers,
    payload: {},
  });
  t.equal(empty.statusCode, 400);
  const noField = await app.inject({
    method: 'POST',
    url: '/v1/clients/search',
    headers,
    payload: {},
  });
  t.equal(noField.statusCode, 400);
  const badSearch = await app.inject({
    method: 'POST',
    url: '/v1/clients/search',
    headers,
    payload: { nationalId: 'abc' },
  });
  t.equal(badSearch.statusCode, 400);
  const foreign = await app.inject({
    method: 'POST',
    url: '/v1/clients',
    headers,
    payload: clientBody(await createClinic(app)),
  });
  t.equal(foreign.statusCode, 404, 'a client cannot be created in another clinic');
  const count = await db.pool.query<Row>('SELECT count(*)::int AS n FROM clients');
  t.equal(count.rows[0]?.n, 1, 'no rejected request left a row');
});

t.test(
  'list: cursor pages, stable under concurrent inserts, one audit event per client',
  async (t) => {
    const { app, db } = await buildTestApp(t);
    const clinic = await createClinic(app);
    const { headers, id: userId } = await loginAs(app, { role: 'reception', clinicIds: [clinic] });
    const create = async (i: number) =>
      (
        await makeClient(app, {
          ...clientBody(clinic, { firstName: `C${i}`, nationalId: null }),
          headers,
        })
      ).id;
    const original: string[] = [];
    for (let i = 0; i < 7; i++) original.push(await create(i));
    const seen: string[] = [];
    let cursor: string | null = null;
    let pages = 0;
    do {
      const url: string = `/v1/clients?limit=3${cursor ? `&cursor=${cursor}` : ''}`;
      const res = await app.inject({ method: 'GET', url, headers });
      t.equal(res.statusCode, 200);
      const page = res.json<{ items: { id: string }[]; nextCursor: string | null }>();
      seen.push(...page.items.map((item) => item.id));
      cursor = page.nextCursor;
      pages++;
      await create(100 + pages);
    } while (cursor !== null && pages < 10);
    t.same(new Set(seen).size, seen.length, 'no client twice');
    t.ok(
      original.every((id) => seen.includes(id)),
      'every client that existed at the start was listed',
    );
    const events = await db.pool.query<Row>(
      "SELECT count(*)::int AS n, count(DISTINCT client_id)::int AS clients FROM audit_events WHERE action = 'client.list' AND actor_id = $1",
      [userId],
    );
    t.equal(events.rows[0]?.n, seen.length, 'one event per client returned');
    t.equal(
      (await app.inject({ method: 'GET', url: '/v1/clients?cursor=bogus', headers })).statusCode,
      400,
    );
    t.equal(
      (await app.inject({ method: 'GET', url: '/v1/clients?limit=501', headers })).statusCode,
      400,
    );
  },
);

t.test('legal hold and erasure (crypto-shredding)', async (t) => {
  const { app, db } = await buildTestApp(t);
  const clinic = await createClinic(app);
  const reception = await loginAs(app, { role: 'reception', clinicIds: [clinic] });
  const admin = await loginAs(app, { role: 'admin', clinicIds: [clinic] });
  const { id } = await makeClient(app, { ...clientBody(clinic), headers: reception.headers });

  const hold = await app.inject({
    method: 'PUT',
    url: `/v1/clients/${id}/legal-hold`,
    headers: admin.headers,
    payload: { active: true, reason: 'Complaint 2026-17 to the patient board' },
  });
  t.equal(hold.statusCode, 200, hold.body);
  t.match(hold.json(), {
    clientId: id,
    active: true,
    reason: 'Complaint 2026-17 to the patient board',
    since: String,
  });

  const refused = await app.inject({
    method: 'DELETE',
    url: `/v1/clients/${id}`,
    headers: admin.headers,
    payload: { reason: 'client asked' },
  });
  t.equal(refused.statusCode, 409);
  t.match(refused.json(), { rule: 'legal_hold' });
  t.equal(
    (
      await app.inject({
        method: 'DELETE',
        url: `/v1/clients/${id}`,
        headers: reception.headers,
        payload: { reason: 'client asked' },
      })
    ).statusCode,
    403,
    'reception cannot erase',
  );

  const lift = await app.inject({
    method: 'PUT',
    url: `/v1/clients/${id}/legal-hold`,
    headers: admin.headers,
    payload: { active: false, reason: 'Case closed' },
  });
  t.match(lift.json(), { active: false, reason: null, since: null });

  const sealed = await db.pool.query<Row>('SELECT first_name_enc FROM clients WHERE id = $1', [id]);
  const erased = await app.inject({
    method: 'DELETE',
    url: `/v1/clients/${id}`,
    headers: admin.headers,
    payload: { reason: 'client asked' },
  });
  t.equal(erased.statusCode, 204, erased.body);
  t.equal(erased.body, '');

  t.equal(
    (await app.inject({ method: 'GET', url: `/v1/clients/${id}`, headers: reception.headers }))
      .statusCode,
    404,
  );
  t.equal(
    (
      await app.inject({
        method: 'DELETE',
        url: `/v1/clients/${id}`,
        headers: admin.headers,
        payload: { reason: 'again' },
      })
    ).statusCode,
    404,
  );
  const search = await app.inject({
    method: 'POST',
    url: '/v1/clients/search',
    headers: reception.headers,
    payload: { email: 'karen.k@example.dk' },
  });
  t.same(search.json(), { items: [] }, 'search finds nothing');
  const indexes = await db.pool.query<Row>(
    'SELECT email_bidx, phone_bidx, national_id_bidx FROM clients WHERE id = $1',
    [id],
  );
  t.same(indexes.rows[0], { email_bidx: null, phone_bidx: null, national_id_bidx: null });
  await t.rejects(app.keys.cipherFor(app.db, id), DataKeyNotFound, 'the data key is gone');
  t.ok(
    (sealed.rows[0]?.first_name_enc.length ?? 0) > 0 &&
      CLIENT_FIELDS.firstName.column === 'first_name_enc',
  );
  const events = await db.pool.query<Row>(
    'SELECT count(*)::int AS n FROM audit_events WHERE client_id = $1',
    [id],
  );
  t.ok((events.rows[0]?.n ?? 0) >= 4, 'audit events stay');
  await app.auditChain.sealNow();
  const chain = await app.auditChain.verify();
  t.equal(chain.ok, true, 'the audit chain still verifies after the erasure');
  t.ok(chain.checked >= (events.rows[0]?.n ?? 0));
});
