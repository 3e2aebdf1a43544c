import { randomBytes } from 'node:crypto';
import type { Test } from 'tap';
import { buildApp, type BuildAppOptions } from '../../src/app.js';
import { loadConfig, type Config } from '../../src/config.js';
import { createTestDatabase, type TestDatabase } from './db.js';
import { tempDir } from './tmp.js';

export function testConfig(overrides: Record<string, string> = {}): Config {
  return loadConfig(
    {
      NODE_ENV: 'test',
      MASTER_KEY: randomBytes(32).toString('base64'),
      JWT_SECRET: randomBytes(48).toString('base64url'),
      LOG_LEVEL: 'silent',
      ...overrides,
    },
    { dataDir: tempDir('journal-test-data-') },
  );
}

/**
 * argon2id parameters for tests: far below production's (which one test pins), so a suite
 * can create and log in many users quickly.
 */
export const TEST_PASSWORD_HASHING = { memoryCost: 1024, timeCost: 1, parallelism: 1 };

export interface TestApp {
  app: Awaited<ReturnType<typeof buildApp>>;
  db: TestDatabase;
  config: Config;
}

/** The real application on its own fresh database; closed when the test ends. */
export async function buildTestApp(
  t: Test,
  options: {
    env?: Record<string, string>;
    ready?: boolean;
    /** Extra buildApp options (a fake clock, other password hashing...). */
    build?: Partial<Omit<BuildAppOptions, 'config' | 'pool'>>;
  } = {},
): Promise<TestApp> {
  const db = await createTestDatabase(t);
  const config = testConfig({ DATABASE_URL: db.url, ...options.env });
  const app = await buildApp({
    config,
    pool: db.pool,
    passwordHashing: TEST_PASSWORD_HASHING,
    // Throttled logins answer at once here; one test pins the production delay.
    throttledLoginDelayMs: 0,
    ...options.build,
  });
  t.teardown(() => app.close());
  if (options.ready !== false) await app.ready();
  return { app, db, config };
}
