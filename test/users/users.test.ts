import type { LightMyRequestResponse } from 'fastify';
import t from 'tap';
import { uuidv7 } from '../../src/db/ids.js';
import { buildTestApp } from '../helpers/app.js';
import { createClinic, login, loginAs, TEST_PASSWORD } from '../helpers/auth.js';

t.test('users: create, read, list, change', async (t) => {
  const { app } = await buildTestApp(t);
  const admin = await loginAs(app, { role: 'admin' });
  const clinicId = await createClinic(app);
  const post = (payload: Record<string, unknown>) =>
    app.inject({ method: 'POST', url: '/v1/users', headers: admin.headers, payload });
  const body = {
    username: 'Dr.Hansen',
    password: TEST_PASSWORD,
    role: 'practitioner',
    displayName: 'Dr. Hansen',
    clinicIds: [clinicId],
  };
  const created = await post(body);
  t.equal(created.statusCode, 201, created.body);
  const user = created.json<{ id: string }>();
  t.match(user, {
    id: String,
    username: 'Dr.Hansen',
    role: 'practitioner',
    displayName: 'Dr. Hansen',
    clinicIds: [clinicId],
    disabled: false,
    mfaEnabled: false,
  });
  t.notMatch(created.body, /password|hash|argon|secret/i, 'no password or hash');
  t.equal(
    (await post({ ...body, username: 'dr.hansen' })).statusCode,
    409,
    'usernames ignore case',
  );
  t.equal((await post({ ...body, username: 'user-x1', password: 'a'.repeat(11) })).statusCode, 400);
  t.equal(
    (await post({ ...body, username: 'user-x2', password: 'a'.repeat(129) })).statusCode,
    400,
  );
  t.equal(
    (await post({ ...body, username: 'user-x3', password: '🔑'.repeat(128) })).statusCode,
    201,
    '128 characters, not bytes',
  );
  t.equal(
    (await post({ ...body, username: 'user-x4', clinicIds: [uuidv7()] })).statusCode,
    400,
    'unknown clinic',
  );
  t.equal(
    (await post({ ...body, username: 'user-x5', clinicIds: [] })).statusCode,
    400,
    'at least one clinic',
  );
  t.equal((await post({ ...body, username: 'user-x6', role: 'root' })).statusCode, 400);
  await login(app, { username: 'DR.HANSEN', password: TEST_PASSWORD });

  const read = await app.inject({
    method: 'GET',
    url: `/v1/users/${user.id}`,
    headers: admin.headers,
  });
  t.equal(read.statusCode, 200);
  t.notMatch(read.body, /hash|secret/i);
  t.equal(
    (await app.inject({ method: 'GET', url: '/v1/users/not-a-uuid', headers: admin.headers }))
      .statusCode,
    400,
  );

  const seen = new Set<string>();
  let cursor: string | null = null;
  do {
    const page: LightMyRequestResponse = await app.inject({
      method: 'GET',
      url: `/v1/users?limit=1${cursor ? `&cursor=${cursor}` : ''}`,
      headers: admin.headers,
    });
    t.equal(page.statusCode, 200);
    const json = page.json<{ items: { id: string }[]; nextCursor: string | null }>();
    for (const item of json.items) seen.add(item.id);
    cursor = json.nextCursor;
  } while (cursor);
  t.equal(seen.size, 3, 'paged through every user once');
  t.equal(
    (await app.inject({ method: 'GET', url: '/v1/users?cursor=bogus', headers: admin.headers }))
      .statusCode,
    400,
  );

  const patched = await app.inject({
    method: 'PATCH',
    url: `/v1/users/${user.id}`,
    headers: admin.headers,
    payload: { role: 'reception', disabled: true },
  });
  t.equal(patched.statusCode, 200);
  t.match(patched.json(), { role: 'reception', disabled: true });
  t.equal(
    (
      await app.inject({
        method: 'PATCH',
        url: `/v1/users/${user.id}`,
        headers: admin.headers,
        payload: {},
      })
    ).statusCode,
    400,
    'an empty change',
  );
});

t.test(
  'roles: admin and auditor are organisation-wide; nobody changes their own rights',
  async (t) => {
    const { app, db } = await buildTestApp(t);
    const admin = await loginAs(app, { role: 'admin', clinicIds: [] });
    const clinicId = await createClinic(app);
    const otherClinicId = await createClinic(app);
    const post = (role: string, clinicIds: string[]) =>
      app.inject({
        method: 'POST',
        url: '/v1/users',
        headers: admin.headers,
        payload: {
          username: `user-${role}-${clinicIds.length}`,
          password: TEST_PASSWORD,
          role,
          displayName: role,
          clinicIds,
        },
      });
    t.equal((await post('admin', [])).statusCode, 201, 'an admin needs no clinic');
    t.equal((await post('auditor', [])).statusCode, 201, 'an auditor needs no clinic');
    for (const role of ['reception', 'practitioner']) {
      const refused = await post(role, []);
      t.equal(refused.statusCode, 400, `${role} needs a clinic`);
      t.match(refused.json(), { errors: [{ path: 'body.clinicIds' }] });
    }
    const practitioner = (await post('practitioner', [clinicId])).json<{ id: string }>();
    const patch = (id: string, payload: Record<string, unknown>, headers = admin.headers) =>
      app.inject({ method: 'PATCH', url: `/v1/users/${id}`, headers, payload });
    t.equal(
      (await patch(practitioner.id, { clinicIds: [] })).statusCode,
      400,
      'a practitioner cannot be left without a clinic',
    );
    t.equal(
      (await patch(practitioner.id, { role: 'auditor', clinicIds: [] })).statusCode,
      200,
      'an auditor may have none',
    );

    for (const [what, payload] of [
      ['role', { role: 'auditor' }],
      ['clinics', { clinicIds: [otherClinicId] }],
      ['disabled', { disabled: true }],
    ] as const) {
      const self = await patch(admin.id, payload);
      t.equal(self.statusCode, 403, `an admin cannot change their own ${what}`);
      t.match(self.headers['content-type'], /^application\/problem\+json/);
    }
    const me = await app.inject({
      method: 'GET',
      url: `/v1/users/${admin.id}`,
      headers: admin.headers,
    });
    t.match(me.json(), { role: 'admin', clinicIds: [], disabled: false }, 'nothing changed');
    const refusals = await db.pool.query<{ outcome: string; reason: string }>(
      `SELECT outcome, reason FROM audit_events WHERE action = 'user.update' AND resource_id = $1`,
      [admin.id],
    );
    t.same(
      refusals.rows.map((row) => [row.outcome, row.reason]),
      Array(3).fill(['denied', 'own_rights']),
      'each refusal is audited',
    );
    t.equal(
      (await patch(admin.id, { role: 'admin', clinicIds: [], disabled: false, displayName: 'Me' }))
        .statusCode,
      200,
      'unchanged rights and a new display name are fine',
    );
    const otherAdmin = await loginAs(app, { role: 'admin', clinicIds: [] });
    t.equal(
      (await patch(admin.id, { clinicIds: [clinicId] }, otherAdmin.headers)).statusCode,
      200,
      'another admin may',
    );
  },
);

t.test('clinics: create and list', async (t) => {
  const { app } = await buildTestApp(t);
  const admin = await loginAs(app, { role: 'admin' });
  const post = (name: string) =>
    app.inject({ method: 'POST', url: '/v1/clinics', headers: admin.headers, payload: { name } });
  const created = await post('Klinik Nord');
  t.equal(created.statusCode, 201);
  t.match(created.json(), { id: String, name: 'Klinik Nord', createdAt: String });
  t.equal((await post('klinik nord')).statusCode, 409);
  t.equal((await post('')).statusCode, 400);
  const list = await app.inject({ method: 'GET', url: '/v1/clinics', headers: admin.headers });
  t.equal(
    list.json<{ items: unknown[] }>().items.length,
    2,
    "the admin's own clinic and the new one",
  );
});

t.test('users: authorisationId and profession (the Danish treatment record)', async (t) => {
  const { app } = await buildTestApp(t);
  const admin = await loginAs(app, { role: 'admin' });
  const clinicId = await createClinic(app);
  const post = (payload: Record<string, unknown>) =>
    app.inject({ method: 'POST', url: '/v1/users', headers: admin.headers, payload });
  const body = {
    password: TEST_PASSWORD,
    role: 'practitioner',
    displayName: 'Dr. Holm',
    clinicIds: [clinicId],
  };
  const doctor = await post({
    ...body,
    username: 'dr.holm',
    authorisationId: '0013q',
    profession: 'læge',
  });
  t.equal(doctor.statusCode, 201, doctor.body);
  t.match(doctor.json(), { authorisationId: '0013Q', profession: 'læge' }, 'kept upper-case');
  const assistant = await post({ ...body, username: 'assistant' });
  t.equal(assistant.statusCode, 201);
  t.match(assistant.json(), { authorisationId: null, profession: null }, 'null when absent');
  for (const bad of ['0013', '0013QQ', '00-3Q', 13]) {
    t.equal(
      (await post({ ...body, username: `bad-${String(bad)}`, authorisationId: bad })).statusCode,
      400,
      `authorisationId ${String(bad)}`,
    );
  }
  const id = assistant.json<{ id: string }>().id;
  const patch = (payload: Record<string, unknown>) =>
    app.inject({ method: 'PATCH', url: `/v1/users/${id}`, headers: admin.headers, payload });
  const authorised = await patch({ authorisationId: 'AB12C', profession: 'sygeplejerske' });
  t.equal(authorised.statusCode, 200, authorised.body);
  t.match(authorised.json(), { authorisationId: 'AB12C', profession: 'sygeplejerske' });
  const read = await app.inject({ method: 'GET', url: `/v1/users/${id}`, headers: admin.headers });
  t.match(read.json(), { authorisationId: 'AB12C', profession: 'sygeplejerske' });
  const cleared = await patch({ authorisationId: null, profession: null });
  t.match(cleared.json(), { authorisationId: null, profession: null }, 'null clears');
});
