/**
 * Preloaded into every test process of `npm run test:unit` (tap's `--node-arg=--import=…`).
 * The unit tier runs without PostgreSQL: a `*.unit.test.ts` file that reaches for a database
 * fails at once with this message, rather than hanging on a connection or passing because a
 * developer happens to have a database running. Tests that need one are plain `*.test.ts`,
 * which `npm test` runs with a database of their own.
 */
import pg from 'pg';

// Nothing is exported on purpose: importing this module switches the database off for the
// whole process, so only the unit tier's --import should ever load it.
const REFUSAL =
  'unit tier: this test tried to connect to PostgreSQL. Tests in *.unit.test.ts get no ' +
  'database; rename the file to *.test.ts (run by `npm test`, which provides one).';

// Whatever the shell exported, the database helpers (test/helpers/db.ts) find nothing here.
for (const name of [
  'TEST_PG_APP_URL',
  'TEST_PG_ADMIN_URL',
  'TEST_PG_TEMPLATE',
  'TEST_DATABASE_URL',
  'DATABASE_URL',
]) {
  delete process.env[name];
}

type Connect = (callback?: (error: Error) => void) => Promise<void> | undefined;

// pg.Pool connects through pg.Client too, so this covers pools, drizzle and raw clients.
(pg.Client.prototype as { connect: Connect }).connect = function refuse(callback) {
  const error = new Error(REFUSAL);
  if (callback) {
    process.nextTick(() => callback(error));
    return undefined;
  }
  return Promise.reject(error);
};

// Lets test/tiers.unit.test.ts see that `npm run test:unit` really preloaded this module.
(globalThis as Record<symbol, unknown>)[Symbol.for('clinic-journal.unit-tier')] = true;
