import { execFile, spawn, type ChildProcess } from 'node:child_process';
import { promisify } from 'node:util';
import { randomBytes } from 'node:crypto';
import { chmodSync, existsSync, readFileSync } from 'node:fs';
import { once } from 'node:events';
import path from 'node:path';
import t from 'tap';
import pg from 'pg';
import { freePort } from '../src/db/embedded.js';
import { tsxArgs } from './helpers/process.js';
import { tempDir } from './helpers/tmp.js';

interface Started {
  child: ChildProcess;
  output: () => string;
  base: string;
}

/** Starts `src/server.ts` as a real process in `cwd` and waits for /readyz to answer 200. */
async function startServer(cwd: string, env: Record<string, string> = {}): Promise<Started> {
  const port = await freePort();
  const child = spawn(process.execPath, tsxArgs('src/server.ts'), {
    cwd,
    env: {
      PATH: process.env.PATH,
      PORT: String(port),
      MASTER_KEY: randomBytes(32).toString('base64'),
      JWT_SECRET: randomBytes(40).toString('base64url'),
      ...env,
    },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let output = '';
  const base = `http://127.0.0.1:${port}`;
  await new Promise<void>((resolve, reject) => {
    const timer = setTimeout(
      () => reject(new Error(`server did not start in 30 s:\n${output}`)),
      30_000,
    );
    const onData = (chunk: Buffer) => {
      output += chunk.toString();
      if (output.includes('Server listening')) {
        clearTimeout(timer);
        resolve();
      }
    };
    child.stdout?.on('data', onData);
    child.stderr?.on('data', onData);
    child.once('exit', () => {
      clearTimeout(timer);
      reject(new Error(`server exited early:\n${output}`));
    });
  });
  const ready = await fetch(`${base}/readyz`);
  if (ready.status !== 200) throw new Error(`readyz answered ${ready.status}`);
  return { child, output: () => output, base };
}

async function stop(started: Started, signal: NodeJS.Signals): Promise<number | null> {
  started.child.kill(signal);
  const [code] = (await once(started.child, 'exit')) as [number | null];
  return code;
}

t.test(
  'npm start with no DATABASE_URL: embedded PostgreSQL under ./.data/pg, data kept across restarts',
  async (t) => {
    const cwd = tempDir('journal-server-');
    chmodSync(cwd, 0o755);
    const first = await startServer(cwd);
    t.ok(
      existsSync(path.join(cwd, '.data', 'pg', 'PG_VERSION')),
      'cluster created under ./.data/pg',
    );
    const pidFile = path.join(cwd, '.data', 'pg', 'postmaster.pid');
    const pgPort = Number(readFileSync(pidFile, 'utf8').split('\n')[3]);
    const password = readFileSync(path.join(cwd, '.data', 'pg.password'), 'utf8').trim();
    const url = `postgres://postgres:${encodeURIComponent(password)}@127.0.0.1:${pgPort}/journal`;
    const client = new pg.Client({ connectionString: url });
    await client.connect();
    const clinicId = '01900000-0000-7000-8000-000000000001';
    await client.query("INSERT INTO clinics (id, name) VALUES ($1, 'Vejle')", [clinicId]);
    // Least privilege by default: the superuser owns and migrates, the service is journal_app.
    const roles = await client.query<{ usename: string }>(
      "SELECT DISTINCT usename FROM pg_stat_activity WHERE application_name = 'clinic-journal-api'",
    );
    t.same(roles.rows, [{ usename: 'journal_app' }], 'the service connects as journal_app');
    const owners = await client.query<{ tableowner: string }>(
      "SELECT DISTINCT tableowner FROM pg_tables WHERE schemaname = 'public'",
    );
    t.same(owners.rows, [{ tableowner: 'postgres' }], 'which owns no table');
    await client.end();

    t.equal(await stop(first, 'SIGTERM'), 0, 'SIGTERM: clean exit');
    t.match(first.output(), /shutting down/);
    t.notOk(existsSync(pidFile), 'embedded PostgreSQL stopped with the service');

    const second = await startServer(cwd);
    const pgPort2 = Number(readFileSync(pidFile, 'utf8').split('\n')[3]);
    const again = new pg.Client({ connectionString: url.replace(`:${pgPort}/`, `:${pgPort2}/`) });
    await again.connect();
    const { rows } = await again.query('SELECT name FROM clinics WHERE id = $1', [clinicId]);
    await again.end();
    t.same(rows, [{ name: 'Vejle' }], 'data survived the restart');
    t.equal(await stop(second, 'SIGINT'), 0, 'SIGINT: clean exit');
    await t.rejects(fetch(`${second.base}/healthz`), 'no longer accepting connections');
  },
);

t.test(
  'operator commands beside a running default service use its cluster (finding 2 of #15)',
  async (t) => {
    const cwd = tempDir('journal-server-cli-');
    chmodSync(cwd, 0o755);
    const env = {
      MASTER_KEY: randomBytes(32).toString('base64'),
      JWT_SECRET: randomBytes(40).toString('base64url'),
    };
    const server = await startServer(cwd, env);
    t.teardown(async () => {
      if (server.child.exitCode === null) await stop(server, 'SIGTERM');
    });
    const cli = (args: string[]) =>
      promisify(execFile)(process.execPath, [...tsxArgs('src/cli.ts'), ...args], {
        cwd,
        env: { PATH: process.env.PATH, ...env },
        timeout: 60_000,
      }).then(
        ({ stdout, stderr }) => ({ code: 0, out: stdout + stderr }),
        (error: { code?: number; stdout?: string; stderr?: string }) => ({
          code: error.code ?? -1,
          out: `${error.stdout ?? ''}${error.stderr ?? ''}`,
        }),
      );
    for (const args of [['rotate-master-key'], ['verify-audit', '--seal'], ['purge-expired']]) {
      const result = await cli(args);
      t.equal(result.code, 0, `${args[0]} runs beside the service: ${result.out}`);
      t.notMatch(result.out, /did not start/);
      const ready = await fetch(`${server.base}/readyz`);
      t.equal(ready.status, 200, `the service still serves after ${args[0]}`);
    }
    t.equal(await stop(server, 'SIGTERM'), 0, 'and stops cleanly, its cluster with it');
  },
);
