import type pg from 'pg';
import { sql } from 'drizzle-orm';
import { PgDialect } from 'drizzle-orm/pg-core';
import type { Executor } from '../../db/pool.js';
import type { ClientKeys } from '../../crypto/index.js';
import { EXPORT_TIMEOUT } from './audit.export.js';
import type { ExportGate } from './audit.export-gate.js';
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

export interface AccessLogSources {
  /** The main pool: one short query for a log that fits in one batch. */
  pool: pg.Pool;
  /** The export capacity (audit.exports.ts), for a log longer than one batch. */
  exports: { pool: pg.Pool; gate: ExportGate };
  keys: Pick<ClientKeys<Executor>, 'cipherFor'>;
}

/**
 * A client's access log for an export, newest first, in batches (the data-subject export,
 * and its zip). A log that fits in one batch (most clients) is read in one short query on the
 * main pool and held no longer: it needs no export slot. A longer one streams from a cursor
 * on the export pool behind the export gate (429 for the user's share, 503 beyond capacity),
 * holding the slot until the batches end or `cancel()`; memory stays one batch either way.
 */
export async function openClientAccessLog(
  sources: AccessLogSources,
  clientId: string,
  userId: string,
  batchSize = ACCESS_LOG_BATCH,
): Promise<AccessLogStream> {
  const query = dialect.sqlToQuery(
    sql`SELECT ${EVENT_COLUMNS} FROM audit_events e WHERE e.client_id = ${clientId}::uuid
        ORDER BY e.at DESC, e.id DESC LIMIT ${batchSize + 1}`,
  );
  const { rows } = await sources.pool.query<AuditEvent>(query.sql, query.params);
  if (rows.length <= batchSize) {
    const events = await openReasons(sources.keys, rows);
    async function* one(): AsyncGenerator<AuditEvent[], void, undefined> {
      if (events.length > 0) yield events;
    }
    return { batches: one(), cancel: () => undefined };
  }
  const release = sources.exports.gate.admit(userId);
  let stream: AccessLogStream;
  try {
    stream = await openAccessLogStream(sources.exports.pool, sources.keys, clientId, batchSize);
  } catch (error) {
    release();
    throw error;
  }
  async function* held(): AsyncGenerator<AuditEvent[], void, undefined> {
    try {
      yield* stream.batches;
    } finally {
      release();
    }
  }
  return {
    batches: held(),
    cancel: () => {
      stream.cancel();
      release();
    },
  };
}
