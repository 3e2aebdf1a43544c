import { randomBytes } from 'node:crypto';
import type { Test } from 'tap';
import type pg from 'pg';
import { createPool } from '../../src/db/pool.js';
import { databaseUrl, withClient } from './postgres.js';

export interface TestDatabase {
  name: string;
  /** Connection URL as the application role (owner, not superuser). */
  url: string;
  /** Connection URL as the server's superuser (for tamper tests), same database. */
  adminUrl: string;
  pool: pg.Pool;
}

function env(name: string): string {
  const value = process.env[name];
  if (!value) {
    throw new Error(
      `${name} is not set: run the tests with \`npm test\` (test/helpers/run-tests.ts)`,
    );
  }
  return value;
}

/**
 * A fresh database for one test file, cloned from the migrated template; dropped when the
 * test ends.
 */
export async function createTestDatabase(t: Test): Promise<TestDatabase> {
  const appUrl = env('TEST_PG_APP_URL');
  const template = env('TEST_PG_TEMPLATE');
  const name = `t_${randomBytes(6).toString('hex')}`;
  await withClient(appUrl, (client) =>
    client.query(`CREATE DATABASE ${name} TEMPLATE ${template}`),
  );
  const url = databaseUrl(appUrl, name);
  const pool = createPool(url, { max: 10, applicationName: 'journal-test' });
  t.teardown(async () => {
    if (!pool.ended) await pool.end();
    // As the superuser: WITH (FORCE) must also end backends the application role may not
    // signal (an autovacuum worker runs as the superuser; the role's DROP then fails with
    // "permission denied to terminate process").
    await withClient(env('TEST_PG_ADMIN_URL'), (client) =>
      client.query(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`),
    );
  });
  return { name, url, adminUrl: databaseUrl(env('TEST_PG_ADMIN_URL'), name), pool };
}
