import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { randomBytes } from 'node:crypto';
import t from 'tap';
import { freePort } from '../../src/db/embedded.js';
import { bootstrapAdmin } from '../../src/modules/users/bootstrap.js';
import { buildTestApp } from '../helpers/app.js';
import { createUser } from '../helpers/auth.js';
import { tsxArgs } from '../helpers/process.js';

type App = Awaited<ReturnType<typeof buildTestApp>>['app'];

const loginStatus = (app: App, username: string, password: string) =>
  app
    .inject({ method: 'POST', url: '/v1/auth/login', payload: { username, password } })
    .then((res) => res.statusCode);

t.test('the bootstrap admin is created once and never overwritten', async (t) => {
  const { app } = await buildTestApp(t);
  const deps = { db: app.db, passwords: app.identity.passwords, audit: app.audit };
  const first = { username: 'first-admin', password: 'first password, long enough' };
  t.equal(await bootstrapAdmin(deps, first), 'created');
  t.equal(await loginStatus(app, first.username, first.password), 200);
  const me = await app.pool.query<{ role: string; n: string }>(
    'SELECT role, count(*) OVER () AS n FROM users',
  );
  t.same(me.rows, [{ role: 'admin', n: '1' }]);

  const second = { username: 'first-admin', password: 'another password, also long' };
  t.equal(await bootstrapAdmin(deps, second), 'exists');
  t.equal(await loginStatus(app, first.username, first.password), 200, 'the password is kept');
  t.equal(await loginStatus(app, second.username, second.password), 401);
  t.equal(
    await bootstrapAdmin(deps, { username: 'other-admin', password: 'x'.repeat(12) }),
    'exists',
  );
  t.equal((await app.pool.query('SELECT 1 FROM users')).rowCount, 1, 'no second admin');
  const events = await app.pool.query(
    "SELECT resource_id FROM audit_events WHERE action = 'user.create' AND reason = 'bootstrap'",
  );
  t.equal(events.rowCount, 1, 'the bootstrap is audited once');
});

t.test('any existing user stops the bootstrap; concurrent starts create one admin', async (t) => {
  const { app: withUser } = await buildTestApp(t);
  await createUser(withUser, { role: 'reception' });
  t.equal(
    await bootstrapAdmin(
      { db: withUser.db, passwords: withUser.identity.passwords, audit: withUser.audit },
      { username: 'boot', password: 'a password of length' },
    ),
    'exists',
  );

  const { app } = await buildTestApp(t);
  const deps = { db: app.db, passwords: app.identity.passwords, audit: app.audit };
  const outcomes = await Promise.all(
    [1, 2, 3].map((i) =>
      bootstrapAdmin(deps, { username: `boot-${i}`, password: `password number ${i}` }),
    ),
  );
  t.same(outcomes.sort(), ['created', 'exists', 'exists']);
  t.equal((await app.pool.query('SELECT 1 FROM users')).rowCount, 1);
});

/** Runs a TypeScript entry point of this repository; resolves with its exit code and output. */
function run(script: string, args: string[], env: Record<string, string>, stdin?: string) {
  const child = spawn(process.execPath, [...tsxArgs(script), ...args], {
    env: { PATH: process.env.PATH, ...env },
    stdio: ['pipe', 'pipe', 'pipe'],
  });
  let output = '';
  child.stdout.on('data', (chunk: Buffer) => (output += chunk.toString()));
  child.stderr.on('data', (chunk: Buffer) => (output += chunk.toString()));
  child.stdin.end(stdin ?? '');
  return { child, output: () => output };
}

t.test('src/server.ts bootstraps the admin from BOOTSTRAP_ADMIN_* after migrating', async (t) => {
  const { db, app } = await buildTestApp(t);
  const env = {
    DATABASE_URL: db.url,
    MASTER_KEY: randomBytes(32).toString('base64'),
    JWT_SECRET: randomBytes(40).toString('base64url'),
    NODE_ENV: 'production',
    BOOTSTRAP_ADMIN_USERNAME: 'root-admin',
  };
  const start = async (password: string) => {
    const port = await freePort();
    const server = run('src/server.ts', [], {
      ...env,
      PORT: String(port),
      BOOTSTRAP_ADMIN_PASSWORD: password,
    });
    await new Promise<void>((resolve, reject) => {
      server.child.stdout.on('data', () => {
        if (server.output().includes('Server listening')) resolve();
      });
      server.child.once('exit', () => reject(new Error(`server exited:\n${server.output()}`)));
    });
    return { ...server, base: `http://127.0.0.1:${port}` };
  };
  const stop = async (server: Awaited<ReturnType<typeof start>>) => {
    server.child.kill('SIGTERM');
    await once(server.child, 'exit');
  };

  const first = await start('the first admin password');
  t.match(first.output(), /created the first admin/);
  t.notMatch(first.output(), /the first admin password/, 'the password is never logged');
  await stop(first);
  t.equal(await loginStatus(app, 'root-admin', 'the first admin password'), 200);

  const second = await start('a different password now');
  t.match(second.output(), /ignored: users exist already/);
  await stop(second);
  t.equal(await loginStatus(app, 'root-admin', 'the first admin password'), 200, 'not overwritten');
  t.equal(await loginStatus(app, 'root-admin', 'a different password now'), 401);
});

t.test('npm run cli -- create-user reads the password from standard input', async (t) => {
  const { db, app } = await buildTestApp(t);
  const clinic = await app.pool.query<{ id: string }>(
    "INSERT INTO clinics (id, name) VALUES ('01900000-0000-7000-8000-0000000000c1', 'Aarhus') RETURNING id",
  );
  const env = {
    DATABASE_URL: db.url,
    MASTER_KEY: randomBytes(32).toString('base64'),
    JWT_SECRET: randomBytes(40).toString('base64url'),
    NODE_ENV: 'production',
  };
  const password = ' spaces kept, exactly as typed ';
  const ok = run(
    'src/cli.ts',
    [
      'create-user',
      '--username',
      'nurse.jensen',
      '--role',
      'practitioner',
      '--clinic',
      clinic.rows[0]!.id,
    ],
    env,
    `${password}\n`,
  );
  const [code] = (await once(ok.child, 'exit')) as [number];
  t.equal(code, 0, ok.output());
  t.match(ok.output(), /created user [0-9a-f-]{36} \(practitioner\)/);
  t.notMatch(ok.output(), /spaces kept/);
  t.equal(await loginStatus(app, 'nurse.jensen', password), 200);
  const created = await app.pool.query(
    "SELECT e.actor_id FROM audit_events e JOIN users u ON u.id::text = e.resource_id WHERE u.username = 'nurse.jensen' AND e.action = 'user.create'",
  );
  t.same(created.rows, [{ actor_id: null }], 'the CLI creation is audited (no actor)');

  const short = run(
    'src/cli.ts',
    ['create-user', '--username', 'x-short', '--role', 'admin'],
    env,
    'short\n',
  );
  t.equal(((await once(short.child, 'exit')) as [number])[0], 2, 'a short password is refused');
  const noClinic = run(
    'src/cli.ts',
    ['create-user', '--username', 'x-clinic', '--role', 'reception'],
    env,
    `${password}\n`,
  );
  t.equal(((await once(noClinic.child, 'exit')) as [number])[0], 2, 'staff need a clinic');
  const auditor = run(
    'src/cli.ts',
    ['create-user', '--username', 'org.auditor', '--role', 'auditor'],
    env,
    `${password}\n`,
  );
  const [auditorCode] = (await once(auditor.child, 'exit')) as [number];
  t.equal(auditorCode, 0, `an auditor is organisation-wide: no clinic needed\n${auditor.output()}`);
  t.equal(await loginStatus(app, 'org.auditor', password), 200);
});
