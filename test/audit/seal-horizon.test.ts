import { randomBytes } from 'node:crypto';
import pg from 'pg';
import t, { type Test } from 'tap';
import { SYSTEM_CONTEXT } from '../../src/access/context.js';
import { buildTestApp } from '../helpers/app.js';
import { databaseUrl } from '../helpers/postgres.js';

/**
 * Issue #15: the sealer's progress must not depend on unrelated long transactions more than it
 * must. It waits only for open transactions that could still insert an audit event (this
 * database, a role with INSERT on audit_events: SEAL_HORIZON in audit.chain.ts), not for any
 * writing transaction anywhere in the cluster, as it did when it sealed below the snapshot's
 * xmin.
 */

/** A connection with an open transaction that holds an xid (as a writer would). */
async function openWriter(t: Test, url: string): Promise<pg.Client> {
  const client = new pg.Client({ connectionString: url });
  await client.connect();
  await client.query('BEGIN');
  await client.query('SELECT pg_current_xact_id()');
  t.teardown(async () => {
    await client.query('ROLLBACK').catch(() => undefined);
    await client.end().catch(() => undefined);
  });
  return client;
}

async function recordAndSeal(app: Awaited<ReturnType<typeof buildTestApp>>['app']) {
  await app.audit.record(SYSTEM_CONTEXT, [
    { action: 'test.horizon', outcome: 'success', resourceType: 'test' },
  ]);
  await app.auditChain.sealNow({ timeoutMs: 200 });
  return app.auditChain.verify();
}

t.test('a writing transaction in another database does not hold the sealer back', async (t) => {
  const { app, db } = await buildTestApp(t);
  await openWriter(t, databaseUrl(db.adminUrl, 'postgres'));
  const verified = await recordAndSeal(app);
  t.match(verified, { ok: true, pending: 0 }, 'sealed although that transaction is open');
});

t.test('nor does one of a role that cannot insert audit events', async (t) => {
  const { app, db } = await buildTestApp(t);
  const role = `outsider_${randomBytes(4).toString('hex')}`;
  const password = randomBytes(12).toString('hex');
  const admin = new pg.Client({ connectionString: db.adminUrl });
  await admin.connect();
  await admin.query(`CREATE ROLE ${role} LOGIN PASSWORD '${password}'`);
  t.teardown(async () => {
    await admin.query(`DROP ROLE IF EXISTS ${role}`).catch(() => undefined);
    await admin.end();
  });
  const outsider = await openWriter(t, databaseUrl(db.adminUrl, db.name, { user: role, password }));
  const { rows } = await outsider.query<{ may: boolean }>(
    "SELECT has_table_privilege('audit_events', 'INSERT') AS may",
  );
  t.equal(rows[0]?.may, false, 'the role really cannot insert an event');
  t.match(await recordAndSeal(app), { ok: true, pending: 0 });
  // Closed before the teardown drops the role.
  await outsider.query('ROLLBACK');
  await outsider.end();
});

t.test(
  'a transaction that could insert an event still holds it back, whoever runs it',
  async (t) => {
    const { app, db } = await buildTestApp(t);
    // The superuser (another role than the service's) in this database: it may insert events, and
    // pg_stat_activity shows its xid to the service's role too.
    const superuser = await openWriter(t, db.adminUrl);
    const held = await recordAndSeal(app);
    t.ok(held.pending >= 1, 'the event after that open transaction waits');
    await superuser.query('COMMIT');
    await app.auditChain.sealNow();
    t.match(await app.auditChain.verify(), { ok: true, pending: 0 }, 'sealed once it ends');

    // The service's own role, the usual case.
    const own = await openWriter(t, db.url);
    t.ok((await recordAndSeal(app)).pending >= 1, 'the runtime role holds it back too');
    await own.query('COMMIT');
    await app.auditChain.sealNow();
    t.match(await app.auditChain.verify(), { ok: true, pending: 0 });
  },
);
