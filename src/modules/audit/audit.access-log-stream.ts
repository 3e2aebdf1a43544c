import type pg from 'pg';
import { sql } from 'drizzle-orm';
import { PgDialect } from 'drizzle-orm/pg-core';
import type { Executor } from '../../db/pool.js';
import type { ClientKeys } from '../../crypto/index.js';
import { EXPORT_TIMEOUT } from './audit.export.js';
import { EVENT_COLUMNS } from './audit.queries.js';
import { openReasons } from './audit.reasons.js';
import type { AuditEvent } from './audit.schemas.js';

const dialect = new PgDialect();

/** Events per FETCH: what one batch holds in memory at most. */
export const ACCESS_LOG_BATCH = 500;

export interface AccessLogStream {
  /**
   * The client's events, newest first, in batches of at most `batchSize`, with sealed
   * reasons opened. Fetched only as fast as they are consumed; the end (or an early stop)
   * ends the transaction and returns the connection.
   */
  batches: AsyncGenerator<AuditEvent[], void, undefined>;
  /** Gives the connection back when `batches` is never consumed (idempotent). */
  cancel: () => void;
}

/**
 * A client's whole access log as a stream (the data-subject export, API.md "Clients": its
 * `accessLog`, and h12's zip of it): a server-side cursor in one read-only REPEATABLE READ
 * transaction on a connection of `pool` (the export pool: a slow reader never holds one of
 * the main pool), bounded by the export timeout. The snapshot is taken before this returns,
 * so an event recorded after (the export's own) is not in it.
 */
export async function openAccessLogStream(
  pool: pg.Pool,
  keys: Pick<ClientKeys<Executor>, 'cipherFor'>,
  clientId: string,
  batchSize = ACCESS_LOG_BATCH,
): Promise<AccessLogStream> {
  const client = await pool.connect();
  let released = false;
  let started = false;
  const release = (error?: Error) => {
    if (released) return;
    released = true;
    client.release(error);
  };
  const query = dialect.sqlToQuery(
    sql`SELECT ${EVENT_COLUMNS} FROM audit_events e WHERE e.client_id = ${clientId}::uuid
        ORDER BY e.at DESC, e.id DESC`,
  );
  try {
    await client.query('BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY');
    await client.query(`SET LOCAL statement_timeout = '${EXPORT_TIMEOUT}'`);
    await client.query(`DECLARE access_log NO SCROLL CURSOR FOR ${query.sql}`, query.params);
  } catch (error) {
    release(error instanceof Error ? error : new Error(String(error)));
    throw error;
  }
  async function* batches(): AsyncGenerator<AuditEvent[], void, undefined> {
    started = true;
    let done = false;
    try {
      for (;;) {
        const { rows } = await client.query<AuditEvent>(`FETCH ${batchSize} FROM access_log`);
        if (rows.length > 0) yield await openReasons(keys, rows);
        if (rows.length < batchSize) break;
      }
      await client.query('COMMIT');
      done = true;
    } finally {
      if (!done) await client.query('ROLLBACK').catch(() => undefined);
      release();
    }
  }
  return {
    batches: batches(),
    cancel: () => {
      if (!started) release();
    },
  };
}
