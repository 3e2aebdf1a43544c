import { sql, type SQL } from 'drizzle-orm';
import { PgDialect } from 'drizzle-orm/pg-core';
import type pg from 'pg';
import { to as copyTo } from 'pg-copy-streams';
import type { Executor } from '../../db/pool.js';
import type { AuditEvent } from './audit.schemas.js';

/** The API's field names and how SQL spells each (`at`: RFC 3339 UTC with microseconds). */
const COLUMNS: readonly (readonly [name: keyof AuditEvent, expression: string])[] = [
  ['id', 'e.id::text'],
  ['at', `to_char(e.at AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"')`],
  ['actorId', 'e.actor_id::text'],
  ['actorRole', 'e.actor_role'],
  ['action', 'e.action'],
  ['outcome', 'e.outcome'],
  ['resourceType', 'e.resource_type'],
  ['resourceId', 'e.resource_id'],
  ['clientId', 'e.client_id::text'],
  ['requestId', 'e.request_id'],
  ['ip', 'e.ip'],
  ['userAgent', 'e.user_agent'],
  ['breakGlass', 'e.break_glass'],
  ['reason', 'e.reason'],
  ['purposeOfUse', 'e.purpose_of_use'],
];

const EVENT_COLUMNS = sql.raw(
  COLUMNS.map(([name, expression]) => `${expression} AS "${name}"`).join(', '),
);

export interface AuditFilter {
  from?: string | undefined;
  to?: string | undefined;
  actorId?: string | undefined;
  clientId?: string | undefined;
  action?: string | undefined;
  outcome?: string | undefined;
}

/** Keyset position in (at, id) order. */
export interface AuditCursor {
  at: string;
  id: string;
}

/** How a filter value enters the SQL: a bind parameter, or (for COPY) a quoted literal. */
type Value = (value: string) => SQL;
const parameter: Value = (value) => sql`${value}`;

function where(
  filter: AuditFilter,
  after?: { cursor: AuditCursor; descending: boolean },
  value: Value = parameter,
): SQL {
  const conditions: SQL[] = [];
  if (filter.from) conditions.push(sql`e.at >= ${value(filter.from)}::timestamptz`);
  if (filter.to) conditions.push(sql`e.at < ${value(filter.to)}::timestamptz`);
  if (filter.actorId) conditions.push(sql`e.actor_id = ${value(filter.actorId)}::uuid`);
  if (filter.clientId) conditions.push(sql`e.client_id = ${value(filter.clientId)}::uuid`);
  if (filter.action) conditions.push(sql`e.action = ${value(filter.action)}`);
  if (filter.outcome) conditions.push(sql`e.outcome = ${value(filter.outcome)}`);
  if (after) {
    const at = value(after.cursor.at);
    const id = value(after.cursor.id);
    conditions.push(
      after.descending
        ? sql`(e.at, e.id) < (${at}::timestamptz, ${id}::uuid)`
        : sql`(e.at, e.id) > (${at}::timestamptz, ${id}::uuid)`,
    );
  }
  return conditions.length > 0 ? sql`WHERE ${sql.join(conditions, sql` AND `)}` : sql``;
}

/** One page, newest first; `limit + 1` rows are read to know whether another page follows. */
export async function listAuditEvents(
  executor: Executor,
  filter: AuditFilter,
  page: { limit: number; cursor?: AuditCursor | undefined },
): Promise<{ items: AuditEvent[]; next: AuditCursor | null }> {
  const { rows } = await executor.execute<AuditEvent>(sql`
    SELECT ${EVENT_COLUMNS} FROM audit_events e
    ${where(filter, page.cursor && { cursor: page.cursor, descending: true })}
    ORDER BY e.at DESC, e.id DESC
    LIMIT ${page.limit + 1}`);
  const items = rows.slice(0, page.limit);
  const last = items.at(-1);
  return { items, next: rows.length > page.limit && last ? { at: last.at, id: last.id } : null };
}

const dialect = new PgDialect();

/**
 * Every matching event, oldest first, read through a server-side cursor in one read-only
 * transaction on its own connection, `batchSize` rows per FETCH. The generator only fetches
 * when its consumer asks for more (so a slow client holds back the database, not memory), and
 * closing it early (the client went away) ends the transaction and releases the connection.
 */
export async function* streamAuditEvents(
  pool: pg.Pool,
  filter: AuditFilter,
  batchSize = 1000,
): AsyncGenerator<AuditEvent, void, undefined> {
  yield* cursorRows<AuditEvent>(
    pool,
    sql`SELECT ${EVENT_COLUMNS} FROM audit_events e ${where(filter)} ORDER BY e.at, e.id`,
    batchSize,
  );
}

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
 * ndjson: one column, each event rendered by PostgreSQL as one compact JSON object
 * (`row_to_json` keeps the column order and escapes as JSON.stringify does). COPY's text format
 * would escape that JSON's backslashes, so it goes out in CSV format with a quote and a
 * delimiter (\x01, \x02) that compact JSON never holds raw (it escapes every control
 * character, newlines included): no line is ever quoted or escaped, each is the JSON as is.
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
      : sql`COPY (SELECT (SELECT row_to_json(r) FROM (SELECT ${EVENT_COLUMNS}) r)::text
                    FROM audit_events e ${where(filter, undefined, literal)} ORDER BY e.at, e.id)
              TO STDOUT WITH (FORMAT csv, QUOTE E'\\x01', DELIMITER E'\\x02')`,
  );
  if (query.params.length > 0) throw new Error('COPY cannot take bind parameters');
  return query.sql;
}

/**
 * The export's bytes as PostgreSQL writes them (`COPY ... TO STDOUT`: one statement, so one
 * snapshot), in the chunks they arrive in, oldest event first. The copy stream pauses the
 * connection's socket while nobody reads, so a slow client holds back the database, not
 * memory. It runs on its own connection in a read-only transaction without the pool's
 * statement timeout (an export of any size, to a client of any speed, is a single statement).
 * Stopping early (the HTTP client went away) or a broken stream destroys that connection
 * rather than returning it to the pool mid-COPY; a complete export returns it.
 */
export async function* copyAuditExport(
  pool: pg.Pool,
  filter: AuditFilter,
  format: 'ndjson' | 'csv',
): AsyncGenerator<Buffer, void, undefined> {
  const client = await pool.connect();
  let broken: Error | undefined = new Error('The audit export stopped before its end.');
  try {
    await client.query('BEGIN READ ONLY');
    await client.query('SET LOCAL statement_timeout = 0');
    const copy = client.query(copyTo(exportCopySql(client, filter, format)));
    // pg reports a connection that ends under a running COPY (our own release below included)
    // to the copy stream with a bare emit('error'): it must never go unhandled.
    copy.on('error', () => undefined);
    for await (const chunk of copy as AsyncIterable<Buffer>) yield chunk;
    await client.query('COMMIT');
    broken = undefined;
  } finally {
    client.release(broken);
  }
}

async function* cursorRows<T extends pg.QueryResultRow>(
  pool: pg.Pool,
  select: SQL,
  batchSize: number,
): AsyncGenerator<T, void, undefined> {
  const query = dialect.sqlToQuery(select);
  const client = await pool.connect();
  let committed = false;
  try {
    await client.query('BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY');
    await client.query(`DECLARE audit_export NO SCROLL CURSOR FOR ${query.sql}`, query.params);
    // The next FETCH is already on its way while this batch is consumed, so PostgreSQL and
    // this process work at the same time; at most two batches are ever held.
    const fetch = () => {
      const next = client.query<T>(`FETCH ${batchSize} FROM audit_export`);
      next.catch(() => undefined); // awaited below, unless the consumer stopped early
      return next;
    };
    let pending = fetch();
    for (;;) {
      const { rows } = await pending;
      const more = rows.length === batchSize;
      if (more) pending = fetch();
      for (const row of rows) yield row;
      if (!more) break;
    }
    await client.query('COMMIT');
    committed = true;
  } finally {
    if (!committed) await client.query('ROLLBACK').catch(() => undefined);
    client.release();
  }
}
