import t from 'tap';
import { clinicAccess } from '../../src/access/scope.js';
import { NotFound } from '../../src/errors.js';
import { uuidv7 } from '../../src/db/ids.js';
import { buildTestApp } from '../helpers/app.js';
import { createClinic, loginAs } from '../helpers/auth.js';

t.test('a /v1 route without a permission or public flag cannot be registered', async (t) => {
  const { app } = await buildTestApp(t, { ready: false });
  t.throws(
    () => app.get('/v1/forgotten', async () => ({})),
    /declare config\.permission or config\.public/,
  );
  t.throws(
    () => app.get('/v1/both', { config: { permission: 'self', public: true } }, async () => ({})),
    /either public or needs a permission/,
  );
  t.throws(
    () =>
      app.get(
        '/v1/typo',
        { config: { permission: 'clients.raed' as 'clients.read' } },
        async () => ({}),
      ),
    /unknown permission/,
  );
  t.doesNotThrow(
    () => app.get('/internal/metrics', async () => ({})),
    'outside /v1 is not policed',
  );
  await app.ready();
});

t.test('a refusal is 403, and audited', async (t) => {
  const { app } = await buildTestApp(t);
  const reception = await loginAs(app, { role: 'reception' });
  const res = await app.inject({ method: 'GET', url: '/v1/users', headers: reception.headers });
  t.equal(res.statusCode, 403);
  t.match(res.json(), { status: 403, detail: String });
  const { rows } = await app.pool.query<{ actor_id: string; outcome: string; reason: string }>(
    "SELECT actor_id, outcome, reason FROM audit_events WHERE action = 'access.denied'",
  );
  t.same(rows, [{ actor_id: reception.id, outcome: 'denied', reason: 'permission:users.manage' }]);
});

t.test('clinic scope and break-glass', async (t) => {
  const { app } = await buildTestApp(t, { ready: false });
  // Stand-ins for domain routes: a journal read and a client read of a given clinic's resource.
  for (const [url, permission] of [
    ['/v1/probe/journal/:clinicId', 'journal.read'],
    ['/v1/probe/client/:clinicId', 'clients.read'],
  ] as const) {
    app.get<{ Params: { clinicId: string } }>(url, { config: { permission } }, async (request) => {
      const access = clinicAccess(request.ctx, request.params.clinicId, {
        breakGlass: permission === 'journal.read',
      });
      if (access === null) throw new NotFound('No such client.');
      const breakGlass = access === 'breakGlass';
      return { breakGlass, reason: breakGlass ? (request.ctx.breakGlass?.reason ?? null) : null };
    });
  }
  await app.ready();
  const own = await createClinic(app);
  const other = await createClinic(app);
  const practitioner = await loginAs(app, { role: 'practitioner', clinicIds: [own] });
  const reception = await loginAs(app, { role: 'reception', clinicIds: [own] });
  const get = (url: string, headers: Record<string, string>) =>
    app.inject({ method: 'GET', url, headers });

  const mine = await get(`/v1/probe/journal/${own}`, practitioner.headers);
  t.same(mine.json(), { breakGlass: false, reason: null });
  const foreign = await get(`/v1/probe/journal/${other}`, practitioner.headers);
  const missing = await get(`/v1/probe/journal/${uuidv7()}`, practitioner.headers);
  t.equal(foreign.statusCode, 404, "another clinic's resource is 404");
  t.equal(foreign.body, missing.body, 'exactly like a missing one');

  const reason = 'Patient in ER, allergy check';
  const glass = await get(`/v1/probe/journal/${other}`, {
    ...practitioner.headers,
    'x-break-glass-reason': reason,
  });
  t.equal(glass.statusCode, 200);
  t.same(glass.json(), { breakGlass: true, reason });

  const cases: [string, string, Record<string, string>][] = [
    [
      'too short a reason',
      `/v1/probe/journal/${other}`,
      { ...practitioner.headers, 'x-break-glass-reason': 'urgent' },
    ],
    [
      'not a journal read',
      `/v1/probe/client/${other}`,
      { ...practitioner.headers, 'x-break-glass-reason': reason },
    ],
    [
      'not a practitioner',
      `/v1/probe/client/${other}`,
      { ...reception.headers, 'x-break-glass-reason': reason },
    ],
  ];
  for (const [name, url, headers] of cases) {
    const res = await get(url, headers);
    t.equal(res.statusCode, 400, name);
    t.match(res.json(), { errors: [{ path: 'headers.x-break-glass-reason' }] });
  }
  const notNeeded = await get(`/v1/probe/journal/${own}`, {
    ...practitioner.headers,
    'x-break-glass-reason': reason,
  });
  t.same(notNeeded.json(), { breakGlass: false, reason: null }, 'own clinic: not flagged');
});

t.test('request bodies are strict: a client cannot set what it must not', async (t) => {
  const { app } = await buildTestApp(t);
  const admin = await loginAs(app, { role: 'admin' });
  const target = await loginAs(app, { role: 'reception' });
  const attempts = [
    {
      url: `/v1/users/${target.id}`,
      method: 'PATCH' as const,
      payload: { displayName: 'x', clinicId: admin.clinicIds[0] },
    },
    { url: `/v1/users/${target.id}`, method: 'PATCH' as const, payload: { passwordHash: 'x' } },
    { url: '/v1/clinics', method: 'POST' as const, payload: { name: 'A', id: uuidv7() } },
    {
      url: '/v1/clinics',
      method: 'POST' as const,
      payload: { name: 'A', createdAt: '2020-01-01T00:00:00Z' },
    },
    {
      url: '/v1/auth/login',
      method: 'POST' as const,
      payload: { username: 'a', password: 'b', role: 'admin' },
    },
  ];
  for (const attempt of attempts) {
    const res = await app.inject({ ...attempt, headers: admin.headers });
    t.equal(
      res.statusCode,
      400,
      `${attempt.method} ${attempt.url} ${Object.keys(attempt.payload).join(',')}`,
    );
  }
  const proto = await app.inject({
    method: 'PATCH',
    url: `/v1/users/${target.id}`,
    headers: { ...admin.headers, 'content-type': 'application/json' },
    payload: '{"displayName":"x","__proto__":{"role":"admin"}}',
  });
  t.equal(proto.statusCode, 400, '__proto__');
  const me = await app.inject({ method: 'GET', url: '/v1/auth/me', headers: target.headers });
  t.equal(me.json<{ role: string }>().role, 'reception', 'nothing changed');
});
