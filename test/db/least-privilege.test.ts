import { randomBytes } from 'node:crypto';
import t from 'tap';
import { buildApp } from '../../src/app.js';
import { grantRuntimeRole } from '../../src/db/grants.js';
import { createPool } from '../../src/db/pool.js';
import { TEST_PASSWORD_HASHING, testConfig } from '../helpers/app.js';
import { createClinic, loginAs } from '../helpers/auth.js';
import { makeClient } from '../helpers/clients.js';
import { createTestDatabase } from '../helpers/db.js';
import { withClient } from '../helpers/postgres.js';

/**
 * Finding 5 of issue #15: the service migrated with its own connection, so it owned the tables
 * and could `ALTER TABLE audit_events DISABLE TRIGGER ...`. With MIGRATION_DATABASE_URL the
 * owner migrates and grants the runtime role data rights only (src/db/grants.ts).
 */
t.test('the runtime role has data rights only', async (t) => {
  const database = await createTestDatabase(t);
  const role = `rt_${randomBytes(5).toString('hex')}`;
  const password = randomBytes(12).toString('hex');
  await withClient(database.adminUrl, (client) =>
    client.query(`CREATE ROLE ${role} LOGIN PASSWORD '${password}'`),
  );
  t.teardown(async () => {
    await withClient(database.adminUrl, (client) => client.query(`DROP OWNED BY ${role}`)).catch(
      () => undefined,
    );
    await withClient(database.adminUrl, (client) => client.query(`DROP ROLE IF EXISTS ${role}`));
  });
  // As the owner (the application role the harness migrated with).
  await grantRuntimeRole(database.pool, role);
  await grantRuntimeRole(database.pool, role); // idempotent
  await t.rejects(grantRuntimeRole(database.pool, new URL(database.url).username), /same role/);

  const url = new URL(database.url);
  url.username = role;
  url.password = password;
  const runtime = createPool(url.toString(), { max: 4 });
  t.teardown(() => runtime.end());

  const refused = [
    'ALTER TABLE audit_events DISABLE TRIGGER ALL',
    'ALTER TABLE audit_chain DISABLE TRIGGER ALL',
    'ALTER TABLE consents DISABLE TRIGGER ALL',
    'ALTER TABLE journal_entries DISABLE TRIGGER ALL',
    'ALTER TABLE journal_amendments DISABLE TRIGGER ALL',
    'TRUNCATE audit_events',
    'TRUNCATE journal_entries',
    'DROP TABLE audit_chain',
    'CREATE TABLE scratch (a int)',
    "UPDATE audit_events SET reason = 'x'",
    'DELETE FROM audit_events',
    'UPDATE audit_chain SET link = link',
    'DELETE FROM audit_chain',
    'UPDATE journal_entries SET recorded_late = recorded_late',
    'DELETE FROM journal_entries',
    'UPDATE journal_amendments SET created_at = created_at',
    'DELETE FROM journal_amendments',
    'UPDATE journal_statements SET created_at = created_at',
    'DELETE FROM journal_statements',
    'UPDATE journal_countersignatures SET countersigned_at = countersigned_at',
    'DELETE FROM journal_entry_errors',
    'UPDATE attachments SET created_at = created_at',
    'UPDATE attachment_chunks SET idx = idx',
    "INSERT INTO schema_migrations (name, checksum) VALUES ('9999_x', 'x')",
  ];
  for (const statement of refused) {
    const error = await runtime.query(statement).then(
      () => null,
      (failure: { code?: string }) => failure,
    );
    t.equal(error?.code, '42501', `refused for lack of privilege: ${statement}`);
  }

  // And the whole service works as that role: users, logins, clients, erasure, the chain.
  const app = await buildApp({
    config: testConfig({ DATABASE_URL: url.toString() }),
    pool: runtime,
    passwordHashing: TEST_PASSWORD_HASHING,
    throttledLoginDelayMs: 0,
  });
  t.teardown(() => app.close());
  await app.ready();
  const clinic = await createClinic(app);
  const admin = await loginAs(app, { role: 'admin', clinicIds: [clinic] });
  const client = await makeClient(app, { clinicId: clinic });
  const erased = await app.inject({
    method: 'DELETE',
    url: `/v1/clients/${client.id}`,
    headers: admin.headers,
    payload: { reason: 'Erasure requested by the client' },
  });
  t.equal(erased.statusCode, 204, erased.body);
  await app.auditChain.sealNow();
  t.match(await app.auditChain.verify(), { ok: true, pending: 0 });
  const ready = await app.inject({ method: 'GET', url: '/readyz' });
  t.equal(ready.statusCode, 200, ready.body);
});
