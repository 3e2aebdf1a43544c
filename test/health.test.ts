import t from 'tap';
import pg from 'pg';
import { buildApp } from '../src/app.js';
import { migrate, readMigrations } from '../src/db/migrate.js';
import { buildTestApp, testConfig } from './helpers/app.js';
import { freePort } from '../src/db/embedded.js';

t.test('healthz and readyz on a migrated database', async (t) => {
  const { app } = await buildTestApp(t);
  const health = await app.inject({ method: 'GET', url: '/healthz' });
  t.equal(health.statusCode, 200);
  t.same(health.json(), { status: 'ok' });
  const ready = await app.inject({ method: 'GET', url: '/readyz' });
  t.equal(ready.statusCode, 200);
  t.same(ready.json(), { status: 'ok' });
});

t.test('readyz is 503 while a migration is pending', async (t) => {
  const { app, db } = await buildTestApp(t);
  const last = readMigrations().at(-1);
  t.ok(last);
  await db.pool.query('DELETE FROM schema_migrations WHERE name = $1', [last?.name]);
  const res = await app.inject({ method: 'GET', url: '/readyz' });
  t.equal(res.statusCode, 503);
  t.equal(res.headers['retry-after'], '5');
  t.match(res.json(), { status: 503, detail: /migrations are pending/ });
});

t.test('readyz is 503 when the database is gone, healthz stays 200', async (t) => {
  const port = await freePort();
  const pool = new pg.Pool({
    connectionString: `postgres://nobody:x@127.0.0.1:${port}/none`,
    connectionTimeoutMillis: 2000,
  });
  pool.on('error', () => undefined);
  const app = await buildApp({ config: testConfig(), pool });
  t.teardown(async () => {
    await app.close();
    await pool.end();
  });
  t.equal((await app.inject({ method: 'GET', url: '/healthz' })).statusCode, 200);
  const res = await app.inject({ method: 'GET', url: '/readyz' });
  t.equal(res.statusCode, 503);
  t.match(res.headers['content-type'], /^application\/problem\+json/);
  t.notMatch(res.body, /ECONNREFUSED|127\.0\.0\.1/, 'no driver detail leaks');
});

t.test('migrations: applied, idempotent, and a changed file is refused', async (t) => {
  const { db } = await buildTestApp(t);
  const migrations = readMigrations();
  const { rows } = await db.pool.query<{ name: string }>(
    'SELECT name FROM schema_migrations ORDER BY name',
  );
  t.same(
    rows.map((row) => row.name),
    migrations.map((m) => m.name),
    'every file applied, in order',
  );
  t.same(await migrate(db.pool), [], 'a second run applies nothing');
  const changed = migrations.map((m, i) => (i === 0 ? { ...m, checksum: 'different' } : m));
  await t.rejects(migrate(db.pool, changed), /was changed after it was applied/);
  const owner = await db.pool.query<{ rolsuper: boolean }>(
    'SELECT rolsuper FROM pg_roles WHERE rolname = current_user',
  );
  t.equal(owner.rows[0]?.rolsuper, false, 'migrations ran as a role that is not a superuser');
});
