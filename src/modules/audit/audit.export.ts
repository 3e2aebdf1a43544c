import { sql } from 'drizzle-orm';
import { PgDialect } from 'drizzle-orm/pg-core';
import type pg from 'pg';
import { to as copyTo } from 'pg-copy-streams';
import type { AuditEvent } from './audit.schemas.js';
import { COLUMNS, EVENT_COLUMNS, where, type AuditFilter, type Value } from './audit.queries.js';

const dialect = new PgDialect();

/**
 * A cell as `csvCell` (audit.csv.ts) writes it, with the quoting left to COPY's CSV format
 * (which quotes exactly what csvCell quotes: a comma, a double quote, CR or LF): a text a
 * spreadsheet would run as a formula gets a leading apostrophe, and an empty text becomes NULL,
 * because COPY writes NULL as nothing but an empty string as "" where csvCell writes nothing.
 */
function csvCellSql(name: keyof AuditEvent, expression: string): string {
  if (name === 'breakGlass') return `${expression}::text AS "${name}"`;
  const text = `(${expression})::text`;
  return `nullif(CASE WHEN left(${text}, 1) IN ('=', '+', '-', '@', E'\\t', E'\\r')
    THEN '''' || ${text} ELSE ${text} END, '') AS "${name}"`;
}

const CSV_CELLS = sql.raw(
  COLUMNS.map(([name, expression]) => csvCellSql(name, expression)).join(', '),
);

/**
 * The export's COPY statement. COPY takes no bind parameters, so the filter's values (already
 * validated by the route's schema: timestamps, uuids, enum words) are inlined as literals
 * quoted by pg (`escapeLiteral`), never concatenated as given.
 *
 * ndjson: the event's columns in COPY's text format, which `ndjsonFromCopy` turns into JSON
 * lines in this process. PostgreSQL rendering the JSON itself (row_to_json) cost it three
 * times what the plain COPY does, on the one core its backend runs on (`npm run bench`);
 * here the database does no more than a plain COPY and the rendering runs beside it.
 *
 * csv: COPY's own CSV with its header row; its rows end in \n, which `crlfRows` (audit.csv.ts)
 * turns into the \r\n that csvLine writes.
 */
export function exportCopySql(
  client: pg.ClientBase,
  filter: AuditFilter,
  format: 'ndjson' | 'csv',
): string {
  const literal: Value = (value) => sql.raw(client.escapeLiteral(value));
  const query = dialect.sqlToQuery(
    format === 'csv'
      ? sql`COPY (SELECT ${CSV_CELLS} FROM audit_events e ${where(filter, undefined, literal)}
                   ORDER BY e.at, e.id)
              TO STDOUT WITH (FORMAT csv, HEADER)`
      : sql`COPY (SELECT ${EVENT_COLUMNS} FROM audit_events e ${where(filter, undefined, literal)}
                   ORDER BY e.at, e.id)
              TO STDOUT`,
  );
  if (query.params.length > 0) throw new Error('COPY cannot take bind parameters');
  return query.sql;
}

/**
 * Opens an export on its own connection, in a read-only transaction, before anything is
 * promised to the client, so an unreachable database answers 503 rather than a 200 that
 * breaks off. `chunks` are the bytes of one `COPY ... TO STDOUT` (one statement, so one
 * snapshot) as they arrive, oldest event first; the copy stream pauses the socket while
 * nobody reads, so a slow client holds back the database, not memory. Stopping early (the
 * HTTP client went away), a broken stream or `cancel()` destroys the connection rather than
 * returning it to the pool mid-COPY; a complete export returns it.
 */
export async function openAuditExport(
  pool: pg.Pool,
  filter: AuditFilter,
  format: 'ndjson' | 'csv',
): Promise<{ chunks: AsyncGenerator<Buffer, void, undefined>; cancel: () => void }> {
  const client = await pool.connect();
  let released = false;
  const release = (error?: Error) => {
    if (released) return;
    released = true;
    client.release(error);
  };
  try {
    await client.query('BEGIN READ ONLY');
    // Longer than any export of a realistic log, but bounded: a client that stops reading
    // must not hold a connection and a backend for ever.
    await client.query(`SET LOCAL statement_timeout = '${EXPORT_TIMEOUT}'`);
  } catch (error) {
    release(error instanceof Error ? error : new Error(String(error)));
    throw error;
  }
  async function* chunks(): AsyncGenerator<Buffer, void, undefined> {
    let broken: Error | undefined = new Error('The audit export stopped before its end.');
    try {
      const copy = client.query(copyTo(exportCopySql(client, filter, format)));
      // pg reports a connection that ends under a running COPY (our own release below
      // included) to the copy stream with a bare emit('error'): it must never go unhandled.
      copy.on('error', () => undefined);
      for await (const chunk of copy as AsyncIterable<Buffer>) yield chunk;
      await client.query('COMMIT');
      broken = undefined;
    } finally {
      release(broken);
    }
  }
  return {
    chunks: chunks(),
    cancel: () => release(new Error('The audit export was not started.')),
  };
}

/** How long one export's COPY may run (PostgreSQL interval). */
export const EXPORT_TIMEOUT = '1h';

/** The export's bytes (for tests and callers that need no 503 before the first byte). */
export async function* copyAuditExport(
  pool: pg.Pool,
  filter: AuditFilter,
  format: 'ndjson' | 'csv',
): AsyncGenerator<Buffer, void, undefined> {
  yield* (await openAuditExport(pool, filter, format)).chunks;
}
