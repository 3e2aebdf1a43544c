import { sql, type SQL } from 'drizzle-orm';
import { PgDialect } from 'drizzle-orm/pg-core';
import type pg from 'pg';
import type { Executor } from '../../db/pool.js';
import type { AuditEvent } from './audit.schemas.js';

/**
 * The API's field names, how SQL spells each (`at`: RFC 3339 UTC with microseconds), and how
 * the ndjson export writes its value as JSON: `plain` texts (uuids, the time) never hold a
 * character JSON escapes, `text` goes through JSON.stringify.
 */
export const COLUMNS: readonly (readonly [
  name: keyof AuditEvent,
  expression: string,
  json: 'plain' | 'text' | 'boolean',
])[] = [
  ['id', 'e.id::text', 'plain'],
  ['at', `to_char(e.at AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"')`, 'plain'],
  ['actorId', 'e.actor_id::text', 'plain'],
  ['actorRole', 'e.actor_role', 'text'],
  ['action', 'e.action', 'text'],
  ['outcome', 'e.outcome', 'text'],
  ['resourceType', 'e.resource_type', 'text'],
  ['resourceId', 'e.resource_id', 'text'],
  ['clientId', 'e.client_id::text', 'plain'],
  ['requestId', 'e.request_id', 'text'],
  ['ip', 'e.ip', 'text'],
  ['userAgent', 'e.user_agent', 'text'],
  ['breakGlass', 'e.break_glass', 'boolean'],
  ['reason', 'e.reason', 'text'],
  ['purposeOfUse', 'e.purpose_of_use', 'text'],
];

export const EVENT_COLUMNS = sql.raw(
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
export type Value = (value: string) => SQL;
const parameter: Value = (value) => sql`${value}`;

export function where(
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
