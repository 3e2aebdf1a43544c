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
import { dropChildProcessCoverage, tapInvocations } from './helpers/coverage.js';

const root = path.resolve(import.meta.dirname, '..');
const guard = path.join(root, 'test', 'helpers', 'unit-tier.ts');
const pkg = JSON.parse(readFileSync(path.join(root, 'package.json'), 'utf8')) as {
  scripts: Record<string, string>;
  tap: Record<string, unknown> & { include: string[] };
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

t.test('npm test measures coverage of src/ and holds it to a floor', async (t) => {
  const tap = pkg.tap;
  t.notOk(tap['disable-coverage'], 'coverage is on');
  t.notOk(tap['allow-incomplete-coverage'], 'a shortfall fails the run');
  for (const metric of ['statements', 'branches', 'functions', 'lines']) {
    const floor = tap[metric];
    t.ok(
      typeof floor === 'number' && floor >= 50 && floor < 100,
      `${metric} floor: ${String(floor)}%`,
    );
  }
  t.match(
    tap['coverage-report'],
    ['text-summary'],
    'the summary is printed, and a shortfall named',
  );
  t.same(tap['coverage-exclude'], ['test/**', 'scripts/**', 'bench/**'], 'src/ only');
});

t.test('the floor applies to the whole suite, not to `npm test -- <file>`', async (t) => {
  const whole = tapInvocations([]);
  t.same(whole.run, [
    '--coverage-report=none',
    '--statements=0',
    '--branches=0',
    '--functions=0',
    '--lines=0',
    '--allow-empty-coverage',
  ]);
  t.same(whole.report, ['report', 'text-summary'], 'npm test: the floor holds');
  t.equal(tapInvocations(['--reporter=tap']).subset, false, 'an option is not a subset');
  const file = 'test/tiers.unit.test.ts';
  const one = tapInvocations([file]);
  t.equal(one.subset, true);
  t.same(one.report, [
    'report',
    'text-summary',
    '--statements=0',
    '--branches=0',
    '--functions=0',
    '--lines=0',
    '--allow-empty-coverage',
  ]);
  t.equal(tapInvocations(['test/resilience/*.test.ts']).subset, true, 'a glob');
  t.equal(tapInvocations(['--disable-coverage']).report, undefined, 'nothing to report');
});

t.test("the coverage of spawned processes is dropped, the tests' kept", async (t) => {
  const root = t.testdir({
    '.tap': {
      coverage: {
        'test.json': JSON.stringify({ result: [{ url: 'file:///src/app.ts' }] }),
        'child.json': JSON.stringify({ result: [{ url: 'file:///src/server.ts' }] }),
      },
      processinfo: {
        'test.json': JSON.stringify({ uuid: 'test', parent: null }),
        'child.json': JSON.stringify({ uuid: 'child', parent: 'test' }),
      },
    },
  });
  t.same(dropChildProcessCoverage(root), { testProcesses: 1, childProcesses: 1 });
  t.same(readdirSync(path.join(root, '.tap', 'coverage')), ['test.json']);
});
