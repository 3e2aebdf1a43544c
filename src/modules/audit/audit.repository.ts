import { sql, type SQL } from 'drizzle-orm';
import { PgDialect } from 'drizzle-orm/pg-core';
import type pg from 'pg';
import type { Executor } from '../../db/pool.js';
import type { AuditEvent } from './audit.schemas.js';

/** The API's field names, straight from SQL (RFC 3339 UTC with microseconds). */
const EVENT_COLUMNS = sql.raw(`e.id::text AS "id",
  to_char(e.at AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"') AS "at",
  e.actor_id::text AS "actorId", e.actor_role AS "actorRole", e.action AS "action",
  e.outcome AS "outcome", e.resource_type AS "resourceType", e.resource_id AS "resourceId",
  e.client_id::text AS "clientId", e.request_id AS "requestId", e.ip AS "ip",
  e.user_agent AS "userAgent", e.break_glass AS "breakGlass", e.reason AS "reason",
  e.purpose_of_use AS "purposeOfUse"`);

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

function where(filter: AuditFilter, after?: { cursor: AuditCursor; descending: boolean }): SQL {
  const conditions: SQL[] = [];
  if (filter.from) conditions.push(sql`e.at >= ${filter.from}::timestamptz`);
  if (filter.to) conditions.push(sql`e.at < ${filter.to}::timestamptz`);
  if (filter.actorId) conditions.push(sql`e.actor_id = ${filter.actorId}::uuid`);
  if (filter.clientId) conditions.push(sql`e.client_id = ${filter.clientId}::uuid`);
  if (filter.action) conditions.push(sql`e.action = ${filter.action}`);
  if (filter.outcome) conditions.push(sql`e.outcome = ${filter.outcome}`);
  if (after) {
    const { at, id } = after.cursor;
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
 * The same events, in the same order and transaction, each rendered by PostgreSQL as one
 * compact JSON object (`row_to_json` keeps the column order and escapes as JSON.stringify
 * does), so the ndjson export neither parses 15 columns into an object nor stringifies it per
 * row: `npm run bench` measured that per-row work as most of the export's cost.
 */
export async function* streamAuditEventsJson(
  pool: pg.Pool,
  filter: AuditFilter,
  batchSize = 1000,
): AsyncGenerator<string, void, undefined> {
  for await (const row of cursorRows<{ line: string }>(
    pool,
    sql`SELECT (SELECT row_to_json(r) FROM (SELECT ${EVENT_COLUMNS}) r)::text AS "line"
          FROM audit_events e ${where(filter)} ORDER BY e.at, e.id`,
    batchSize,
  )) {
    yield row.line;
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
