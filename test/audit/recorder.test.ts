import { SYSTEM_CONTEXT } from '../../src/access/context.js';
import { requestContext } from '../../src/access/request-context.js';
import t from 'tap';
import { z } from 'zod';
import type { FastifyPluginAsyncZod } from 'fastify-type-provider-zod';
import pg from 'pg';
import { sql } from 'drizzle-orm';
import { uuidv7 } from '../../src/db/ids.js';
import { createAuditRecorder } from '../../src/modules/audit/audit.recorder.js';
import { AuditUnavailable, InvalidAuditEvent } from '../../src/modules/audit/audit.errors.js';
import { buildTestApp } from '../helpers/app.js';
import { createTestDatabase } from '../helpers/db.js';

async function countEvents(pool: pg.Pool): Promise<number> {
  const { rows } = await pool.query<{ n: string }>('SELECT count(*)::text AS n FROM audit_events');
  return Number(rows[0]!.n);
}

t.test(
  'record(): concurrent calls share multi-row inserts and are durable when resolved',
  async (t) => {
    const db = await createTestDatabase(t);
    let inserts = 0;
    const query = db.pool.query.bind(db.pool) as (...args: unknown[]) => Promise<unknown>;
    (db.pool as unknown as { query: (...args: unknown[]) => Promise<unknown> }).query = (
      ...args: unknown[]
    ) => {
      if (typeof args[0] === 'string' && args[0].startsWith('INSERT INTO audit_events'))
        inserts += 1;
      return query(...args);
    };
    const recorder = createAuditRecorder({ pool: db.pool, maxBatchEvents: 100 });
    t.teardown(() => recorder.close());
    const calls = 1000;
    const clientId = uuidv7();
    await Promise.all(
      Array.from({ length: calls }, (_, i) =>
        recorder.record(SYSTEM_CONTEXT, [
          {
            action: 'client.read',
            outcome: 'success',
            clientId,
            resourceType: 'client',
            resourceId: `r${i}`,
          },
        ]),
      ),
    );
    t.ok(inserts < calls / 5, `${inserts} INSERT statements for ${calls} record() calls`);
    t.equal(recorder.stats.events, calls);
    t.equal(recorder.stats.batches, inserts, 'one statement (one commit) per batch');
    // A separate connection sees every event: each was committed before its promise resolved.
    const other = new pg.Client({ connectionString: db.url });
    await other.connect();
    t.teardown(() => other.end());
    const { rows } = await other.query<{ n: string }>(
      'SELECT count(DISTINCT resource_id)::text AS n FROM audit_events WHERE client_id = $1',
      [clientId],
    );
    t.equal(Number(rows[0]!.n), calls);
  },
);

t.test(
  'record() fails closed: a failed batch rejects every caller with AuditUnavailable',
  async (t) => {
    const db = await createTestDatabase(t);
    const recorder = createAuditRecorder({ pool: db.pool });
    t.teardown(() => recorder.close());
    await db.pool.query(
      "ALTER TABLE audit_events ADD CONSTRAINT test_refuse CHECK (action <> 'client.read') NOT VALID",
    );
    const results = await Promise.allSettled(
      Array.from({ length: 20 }, (_, i) =>
        recorder.record(SYSTEM_CONTEXT, [
          { action: i === 0 ? 'client.read' : 'client.list', outcome: 'success' },
        ]),
      ),
    );
    t.ok(
      results.every((r) => r.status === 'rejected' || r.status === 'fulfilled'),
      'all settled',
    );
    const rejected = results.filter((r) => r.status === 'rejected');
    t.ok(rejected.length >= 1);
    for (const r of rejected) t.type(r.reason, AuditUnavailable);
    // Whatever was rejected was not written; whatever resolved was.
    t.equal(await countEvents(db.pool), results.length - rejected.length);
    await t.rejects(
      recorder.record(SYSTEM_CONTEXT, [{ action: 'client.read', outcome: 'success' }]),
      AuditUnavailable,
    );
  },
);

/** A read route that returns data only once its audit event is durable. */
const probeRoutes: FastifyPluginAsyncZod = async (app) => {
  app.get(
    '/probe/audited-read',
    { schema: { response: { 200: z.object({ secret: z.string() }) } } },
    async (request) => {
      await app.audit.record(request.ctx, [
        { action: 'client.read', outcome: 'success', resourceType: 'client', resourceId: 'c1' },
      ]);
      return { secret: 'clinical text' };
    },
  );
  app.post('/probe/audited-write', async (request) => {
    await app.db.transaction(async (tx) => {
      await tx.execute(sql`INSERT INTO clinics (id, name) VALUES (${uuidv7()}, 'Probe clinic')`);
      await app.audit.write(tx, request.ctx, [{ action: 'clinic.create', outcome: 'success' }]);
    });
    return { ok: true };
  });
};

t.test(
  'through a route: 503 + Retry-After and no data when the event cannot be written',
  async (t) => {
    const { app, db } = await buildTestApp(t, { ready: false });
    await app.register(probeRoutes);
    await app.ready();
    const ok = await app.inject({
      method: 'GET',
      url: '/probe/audited-read',
      headers: { 'x-purpose-of-use': 'treatment', 'user-agent': 'tablet/1.0' },
    });
    t.equal(ok.statusCode, 200);
    const { rows } = await db.pool.query<{
      request_id: string;
      purpose_of_use: string;
      user_agent: string;
    }>('SELECT request_id, purpose_of_use, user_agent FROM audit_events');
    t.same(rows, [
      {
        request_id: ok.headers['x-request-id'],
        purpose_of_use: 'treatment',
        user_agent: 'tablet/1.0',
      },
    ]);

    await db.pool.query(
      "ALTER TABLE audit_events ADD CONSTRAINT test_refuse CHECK (action = 'never') NOT VALID",
    );
    const refused = await app.inject({ method: 'GET', url: '/probe/audited-read' });
    t.equal(refused.statusCode, 503);
    t.equal(refused.headers['retry-after'], '5');
    t.match(refused.headers['content-type'], /^application\/problem\+json/);
    t.notMatch(refused.body, /clinical text/);
    t.notMatch(refused.body, /test_refuse|constraint|INSERT/i, 'no SQL detail leaks');

    const write = await app.inject({ method: 'POST', url: '/probe/audited-write' });
    t.equal(write.statusCode, 503);
    const clinics = await db.pool.query("SELECT 1 FROM clinics WHERE name = 'Probe clinic'");
    t.equal(clinics.rowCount, 0, 'the write and its event roll back together');
    await db.pool.query('ALTER TABLE audit_events DROP CONSTRAINT test_refuse');
    t.equal((await app.inject({ method: 'POST', url: '/probe/audited-write' })).statusCode, 200);
    t.equal((await db.pool.query("SELECT 1 FROM clinics WHERE name = 'Probe clinic'")).rowCount, 1);
  },
);

t.test('X-Purpose-Of-Use must be a short token', async (t) => {
  const { app } = await buildTestApp(t, { ready: false });
  await app.register(probeRoutes);
  await app.ready();
  for (const bad of ['treat ment', 'x'.repeat(65), 'a@b.dk', '<script>']) {
    const res = await app.inject({
      method: 'GET',
      url: '/probe/audited-read',
      headers: { 'x-purpose-of-use': bad },
    });
    t.equal(res.statusCode, 400, bad.slice(0, 12));
    t.notMatch(res.body, /clinical text/);
  }
});

t.test('canary: events hold ids only; personal values are refused or masked', async (t) => {
  const db = await createTestDatabase(t);
  const recorder = createAuditRecorder({ pool: db.pool });
  t.teardown(() => recorder.close());
  const email = 'jane.doe@example.dk';
  const cpr = '010190-1234';
  const phone = '+45 12 34 56 78';
  for (const bad of [
    { resourceId: email },
    { clientId: 'not-a-uuid' },
    { actorId: email },
    { resourceType: 'client email' },
  ]) {
    await t.rejects(
      recorder.record(SYSTEM_CONTEXT, [{ action: 'client.read', outcome: 'success', ...bad }]),
      InvalidAuditEvent,
      JSON.stringify(bad),
    );
  }
  await t.rejects(
    recorder.record(SYSTEM_CONTEXT, [{ action: 'Client Read!', outcome: 'success' }]),
    InvalidAuditEvent,
  );
  await recorder.record(SYSTEM_CONTEXT, [
    {
      action: 'journal.read',
      outcome: 'success',
      breakGlass: true,
      reason: `Emergency: ${email} called, CPR ${cpr}, phone ${phone}`,
    },
  ]);
  const { rows } = await db.pool.query<Record<string, unknown>>('SELECT * FROM audit_events');
  t.equal(rows.length, 1);
  const stored = JSON.stringify(rows);
  for (const value of [email, cpr, '0101901234', phone, '12 34 56 78', '12345678']) {
    t.notOk(stored.includes(value), `"${value}" is not stored`);
  }
  t.match(rows[0], {
    break_glass: true,
    reason: /^Emergency: \[email\] called, CPR \[number\], phone \[number\]$/,
  });
});

t.test("break-glass takes its reason from the context's break-glass request", async (t) => {
  const { app, db } = await buildTestApp(t);
  const ctx = requestContext(
    { id: 'req-1', ip: '127.0.0.1', headers: {} },
    {
      actor: null,
      purposeOfUse: null,
      breakGlass: { reason: 'Client collapsed at the front desk' },
    },
  );
  await app.audit.record(ctx, [{ action: 'journal.read', outcome: 'success', breakGlass: true }]);
  await app.audit.record(ctx, [{ action: 'journal.read', outcome: 'success' }]);
  const { rows } = await db.pool.query('SELECT break_glass, reason FROM audit_events ORDER BY seq');
  // Free text is stored only sealed under a client's data key (audit.reasons.ts,
  // test/clients/erasure-unlinks.test.ts): an event naming no client keeps none of it.
  t.same(rows, [
    { break_glass: true, reason: null },
    { break_glass: false, reason: null },
  ]);
});
