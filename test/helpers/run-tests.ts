/**
 * `npm test`: starts one PostgreSQL for the run, creates a non-superuser application role
 * (as on managed PostgreSQL) that owns a migrated template database, then runs tap. Each
 * test file clones its own database from the template (test/helpers/db.ts), so files run
 * in parallel without seeing each other's rows. Then the coverage of src/ is summarised and
 * held to its floor (test/helpers/coverage.ts says how, and why in two steps).
 */
import { spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import pg from 'pg';
import { migrate } from '../../src/db/migrate.js';
import { dropChildProcessCoverage, tapInvocations } from './coverage.js';
import { databaseUrl, startTestPostgres, withClient } from './postgres.js';

const log = (line: string) => process.stderr.write(`[test-db] ${line}\n`);

function npxTap(args: string[], env: Record<string, string> = {}): Promise<number> {
  return new Promise<number>((resolve) => {
    const child = spawn('npx', ['tap', ...args], {
      stdio: 'inherit',
      env: { ...process.env, ...env },
    });
    child.on('exit', (exitCode, signal) => resolve(exitCode ?? (signal ? 1 : 0)));
  });
}

async function main(): Promise<number> {
  const started = Date.now();
  const server = await startTestPostgres(log);
  const suffix = `${process.pid}_${randomBytes(3).toString('hex')}`;
  const template = `journal_template_${suffix}`;
  let appUrl = server.adminUrl;
  let appRole: string | undefined;
  try {
    if (server.source !== 'TEST_DATABASE_URL') {
      appRole = `journal_app_${suffix}`;
      const password = randomBytes(18).toString('base64url');
      await withClient(server.adminUrl, async (client) => {
        await client.query(
          `CREATE ROLE ${appRole} LOGIN NOSUPERUSER CREATEDB PASSWORD '${password}'`,
        );
      });
      appUrl = databaseUrl(server.adminUrl, 'postgres', { user: appRole, password });
    }
    await withClient(appUrl, (client) => client.query(`CREATE DATABASE ${template}`));
    const pool = new pg.Pool({ connectionString: databaseUrl(appUrl, template), max: 1 });
    try {
      await migrate(pool);
    } finally {
      await pool.end();
    }
    log(`${server.source}: template ${template} migrated in ${Date.now() - started} ms`);

    const tap = tapInvocations(process.argv.slice(2));
    const code = await npxTap(tap.run, {
      TEST_PG_APP_URL: appUrl,
      TEST_PG_ADMIN_URL: server.adminUrl,
      TEST_PG_TEMPLATE: template,
    });
    if (!tap.report) return code;
    dropChildProcessCoverage(path.resolve(import.meta.dirname, '../..'));
    if (tap.subset) log('a subset of the suite: coverage is reported, its floor not enforced');
    const coverage = await npxTap(tap.report);
    return code !== 0 ? code : coverage;
  } finally {
    await withClient(appUrl, (client) =>
      client.query(`DROP DATABASE IF EXISTS ${template} WITH (FORCE)`),
    ).catch(() => undefined);
    if (appRole) {
      await withClient(server.adminUrl, async (client) => {
        const dbs = await client.query<{ datname: string }>(
          'SELECT datname FROM pg_database d JOIN pg_roles r ON r.oid = d.datdba WHERE r.rolname = $1',
          [appRole],
        );
        for (const row of dbs.rows)
          await client.query(`DROP DATABASE IF EXISTS "${row.datname}" WITH (FORCE)`);
        await client.query(`DROP ROLE IF EXISTS ${appRole}`);
      }).catch(() => undefined);
    }
    await server.stop();
  }
}

// Run when executed (npm test), not when a test imports tapArguments.
if (process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href) {
  main().then(
    (code) => process.exit(code),
    (error: unknown) => {
      log(`failed: ${error instanceof Error ? (error.stack ?? error.message) : String(error)}`);
      process.exit(1);
    },
  );
}
