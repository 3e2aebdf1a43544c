import pg from 'pg';
import { drizzle, type NodePgDatabase } from 'drizzle-orm/node-postgres';
import * as schema from './schema/index.js';

export type Database = NodePgDatabase<typeof schema>;
/** A database handle or an open transaction: repositories take either. */
export type Executor = Database | Parameters<Parameters<Database['transaction']>[0]>[0];

export interface PoolOptions {
  max?: number;
  applicationName?: string;
  /** Default 30 s; 0 turns it off (bulk seeding in the bench, never the service). */
  statementTimeoutMs?: number;
}

export function createPool(connectionString: string, options: PoolOptions = {}): pg.Pool {
  const pool = new pg.Pool({
    connectionString,
    max: options.max ?? 10,
    connectionTimeoutMillis: 5_000,
    idleTimeoutMillis: 30_000,
    application_name: options.applicationName ?? 'clinic-journal-api',
    // A statement that runs away must not hold a connection forever.
    statement_timeout: options.statementTimeoutMs ?? 30_000,
    // Nor may a transaction left open by a bug: a transaction that has written something and
    // stays open holds back the audit sealer (which may only chain what is certainly
    // committed before it) for every process of the cluster.
    idle_in_transaction_session_timeout: 30_000,
  });
  // A client losing its connection (database restart, a terminated backend) must not crash the
  // process: pg emits 'error' on idle clients (the pool's 'error') and on checked-out clients
  // between queries (e.g. an export's cursor between FETCHes), with no listener by default.
  // The failure still reaches the caller's next query, and pg-pool discards the broken client.
  pool.on('error', () => undefined);
  pool.on('connect', (client) => client.on('error', () => undefined));
  return pool;
}

/**
 * A second, separate pool to the same database as `pool` (same connection settings), e.g. for
 * long-running reads that must never take the main pool's connections.
 */
export function createSiblingPool(
  pool: pg.Pool,
  options: Required<Omit<PoolOptions, 'statementTimeoutMs'>>,
): pg.Pool {
  const sibling = new pg.Pool({
    ...pool.options,
    max: options.max,
    application_name: options.applicationName,
  });
  sibling.on('error', () => undefined);
  sibling.on('connect', (client) => client.on('error', () => undefined));
  return sibling;
}

export function createDatabase(pool: pg.Pool): Database {
  return drizzle(pool, { schema });
}
