import t from 'tap';
import { requestContext } from '../../src/access/request-context.js';
import { buildTestApp } from '../helpers/app.js';
import { createClinic, loginAs } from '../helpers/auth.js';
import { makeClient } from '../helpers/clients.js';

t.test('refusals found inside a transaction never wait for a second connection', async (t) => {
  const { app, db } = await buildTestApp(t);
  const own = await createClinic(app);
  const other = await createClinic(app);
  const foreign = (await makeClient(app, { clinicId: other })).id;
  const reception = await loginAs(app, { role: 'reception', clinicIds: [own] });
  // More concurrent writes than the pool has connections (10): each PATCH opens a transaction
  // and is refused inside it. Recording the refusal while still holding that connection would
  // need an eleventh, and every request would wait for it until the pool's connect timeout.
  const attempts = 3 * (db.pool.options.max ?? 10);
  const answers = await Promise.all(
    Array.from({ length: attempts }, () =>
      app.inject({
        method: 'PATCH',
        url: `/v1/clients/${foreign}`,
        headers: reception.headers,
        payload: { firstName: 'Intruder' },
      }),
    ),
  );
  t.same(
    [...new Set(answers.map((res) => res.statusCode))],
    [404],
    `all ${attempts} answered 404, none 503`,
  );
  const { rows } = await db.pool.query<{ n: number }>(
    `SELECT count(*)::int AS n FROM audit_events
      WHERE action = 'client.update' AND outcome = 'denied' AND client_id = $1 AND reason = 'clinic_scope'`,
    [foreign],
  );
  t.equal(rows[0]?.n, attempts, 'and every refusal is in the audit log');
});

t.test('the request context is built once and cannot be changed', async (t) => {
  const ctx = requestContext(
    { id: 'r1', ip: '10.0.0.1', headers: { 'user-agent': 'tablet\u0000 app' } },
    {
      actor: {
        userId: '00000000-0000-7000-8000-000000000001',
        sessionId: '00000000-0000-7000-8000-000000000002',
        username: 'anna',
        role: 'practitioner',
        clinicIds: ['00000000-0000-7000-8000-000000000003'],
      },
      purposeOfUse: 'treatment',
      breakGlass: null,
    },
  );
  t.ok(Object.isFrozen(ctx) && Object.isFrozen(ctx.actor), 'frozen');
  t.throws(() => {
    (ctx as { purposeOfUse: string | null }).purposeOfUse = 'billing';
  });
  t.throws(() => {
    (ctx.actor!.clinicIds as string[]).push('another');
  }, 'the clinics too');
  t.equal(ctx.userAgent, 'tablet  app', 'control characters replaced');
});
