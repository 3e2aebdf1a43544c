/**
 * The two test tiers: `npm run test:unit` runs `*.unit.test.ts` without PostgreSQL (and
 * preloads test/helpers/unit-tier.ts, which refuses any connection); `npm test` runs every
 * `*.test.ts`, unit files included, with a database per file.
 */
import { execFile } from 'node:child_process';
import { readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import { promisify } from 'node:util';
import pg from 'pg';
import t from 'tap';

const root = path.resolve(import.meta.dirname, '..');
const guard = path.join(root, 'test', 'helpers', 'unit-tier.ts');
const pkg = JSON.parse(readFileSync(path.join(root, 'package.json'), 'utf8')) as {
  scripts: Record<string, string>;
  tap: { include: string[] };
};
const inUnitTier = (globalThis as Record<symbol, unknown>)[Symbol.for('clinic-journal.unit-tier')];

t.test('npm run test:unit: only *.unit.test.ts, no coverage, the guard preloaded', async (t) => {
  const script = pkg.scripts['test:unit'] ?? '';
  t.match(script, /^tap /, 'tap directly: not test/helpers/run-tests.ts, which starts PostgreSQL');
  t.match(script, /--include[= ]'test\/\*\*\/\*\.unit\.test\.ts'/);
  t.match(script, /--node-arg=--import=\.\/test\/helpers\/unit-tier\.ts/);
  t.match(pkg.scripts.test, /run-tests\.ts/, 'npm test still starts the database');
  t.same(pkg.tap.include, ['test/**/*.test.ts'], 'and runs every tier');
});

t.test('this process runs in the tier it was started for', async (t) => {
  if (inUnitTier) {
    const client = new pg.Client({ connectionString: 'postgres://nobody@127.0.0.1:9/none' });
    await t.rejects(client.connect(), /^unit tier: this test tried to connect to PostgreSQL/);
    t.equal(process.env.TEST_PG_TEMPLATE, undefined, 'no test database is offered');
  } else {
    t.ok(process.env.TEST_PG_TEMPLATE, 'npm test gave this run a template database');
  }
});

t.test('the guard fails a unit test that touches the database, loudly', async (t) => {
  // Run in a child process: loading the guard here would switch pg off for this file.
  const probe = `
    import pg from 'pg';
    const { createTestDatabase } = await import(${JSON.stringify(pathToFileURL(path.join(root, 'test/helpers/db.ts')).href)});
    const failures = [];
    try { await new pg.Pool({ connectionString: 'postgres://nobody@127.0.0.1:9/none' }).query('SELECT 1'); }
    catch (error) { failures.push(error.message); }
    try { await createTestDatabase({ teardown() {} }); }
    catch (error) { failures.push(error.message); }
    process.stdout.write(JSON.stringify(failures));
  `;
  const { stdout } = await promisify(execFile)(
    process.execPath,
    [
      '--import',
      import.meta.resolve('tsx'),
      '--import',
      pathToFileURL(guard).href,
      '--input-type=module',
      '-e',
      probe,
    ],
    {
      cwd: root,
      // As if the developer's shell had a test database exported: the tier ignores it.
      env: {
        PATH: process.env.PATH,
        TEST_PG_APP_URL: 'postgres://nobody@127.0.0.1:9/none',
        TEST_PG_ADMIN_URL: 'postgres://nobody@127.0.0.1:9/none',
        TEST_PG_TEMPLATE: 'none',
      },
      timeout: 30_000,
    },
  );
  const [direct, helper] = JSON.parse(stdout) as string[];
  t.match(direct, /^unit tier: this test tried to connect to PostgreSQL/, 'a raw pool');
  t.match(helper, /TEST_PG_APP_URL is not set/, 'the test-database helper');
});

t.test('no unit test asks for a test database or the app', async (t) => {
  const unitFiles = readdirSync(path.join(root, 'test'), { recursive: true, withFileTypes: true })
    .filter((entry) => entry.isFile() && entry.name.endsWith('.unit.test.ts'))
    .map((entry) => path.join(entry.parentPath, entry.name))
    // This file names the helpers only to prove, in a child process, that they are refused.
    .filter((file) => file !== import.meta.filename);
  t.ok(unitFiles.length >= 7, `${unitFiles.length} unit test files`);
  for (const file of unitFiles) {
    t.notMatch(
      readFileSync(file, 'utf8'),
      /helpers\/(db|app)\.js|createTestDatabase|buildTestApp/,
      path.relative(root, file),
    );
  }
});
