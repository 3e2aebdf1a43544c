import { sql, type SQL } from 'drizzle-orm';
import { PgDialect } from 'drizzle-orm/pg-core';
import type pg from 'pg';
import { to as copyTo } from 'pg-copy-streams';
import type { Executor } from '../../db/pool.js';
import type { AuditEvent } from './audit.schemas.js';

/**
 * The API's field names, how SQL spells each (`at`: RFC 3339 UTC with microseconds), and how
 * the ndjson export writes its value as JSON: `plain` texts (uuids, the time) never hold a
 * character JSON escapes, `text` goes through JSON.stringify.
 */
const COLUMNS: readonly (readonly [
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

const NDJSON_KEYS = COLUMNS.map(([name], at) => Buffer.from(`${at === 0 ? '{' : ','}"${name}":`));
const NDJSON_KINDS = COLUMNS.map(([, , json]) => json);
/** The most a row adds beside its own bytes: keys, quotes, `null`/`false`, `}` and `\n`. */
const NDJSON_ROW_EXTRA = NDJSON_KEYS.reduce((sum, key) => sum + key.length + 5, 2);
const COPY_ESCAPES: Record<string, string> = {
  b: '\b',
  f: '\f',
  n: '\n',
  r: '\r',
  t: '\t',
  v: '\v',
};
const EMPTY = Buffer.alloc(0);
const NULL = Buffer.from('null');
const TRUE = Buffer.from('true');
const FALSE = Buffer.from('false');
const TAB = 0x09;
const NEWLINE = 0x0a;
const QUOTE = 0x22;
const BACKSLASH = 0x5c;

/** A field of COPY's text format as the text it stands for (backslash escapes undone). */
function copyText(field: string): string {
  if (!field.includes('\\')) return field;
  return field.replace(/\\(.)/gs, (_, c: string) => COPY_ESCAPES[c] ?? c);
}

/**
 * Turns the ndjson export's COPY output (text format, chunk by chunk, a row cut anywhere) into
 * JSON lines, each exactly what JSON.stringify makes of the event the query route returns: the
 * same keys in the same order. In the text format a raw tab only separates fields and a raw
 * newline only ends a row (the data's own are escaped), and \N is NULL.
 *
 * It works on bytes: a text field with no byte JSON would escape (a quote, a backslash, a
 * control character) is already its JSON string's content (PostgreSQL sends valid UTF-8), so
 * it is copied as it is; only the rest goes through copyText and JSON.stringify. Rendering
 * was the service's largest cost in the export (`npm run bench -- --profile`).
 */
export function ndjsonFromCopy(): (chunk: Buffer) => string {
  let rest: Buffer = EMPTY;
  const scratch = { buffer: Buffer.allocUnsafe(256 * 1024) };
  return (chunk) => {
    let head = '';
    let body = chunk;
    if (rest.length > 0) {
      // Only the row cut at the last chunk's end is joined (not the whole chunk copied).
      const first = chunk.indexOf(NEWLINE);
      if (first === -1) {
        rest = Buffer.concat([rest, chunk]);
        return '';
      }
      const row = Buffer.concat([rest, chunk.subarray(0, first + 1)]);
      head = renderRows(row, row.length - 1, scratch);
      body = chunk.subarray(first + 1);
      rest = EMPTY;
    }
    const end = body.lastIndexOf(NEWLINE);
    if (end === -1) {
      rest = Buffer.from(body);
      return head;
    }
    rest = end + 1 < body.length ? Buffer.from(body.subarray(end + 1)) : EMPTY;
    return head + renderRows(body, end, scratch);
  };
}

/**
 * The JSON lines of the whole rows in `input[0..end]` (`end` is the last row's newline),
 * built in one scratch buffer reused for every chunk and returned as a string. A fresh Buffer
 * per chunk lives outside V8's heap, where a few hundred MB a second of short-lived ones
 * are reclaimed too late (the export's peak RSS rose by 30 MB); a string is young-generation
 * garbage, collected as fast as it is made.
 */
function renderRows(input: Buffer, end: number, scratch: { buffer: Buffer }): string {
  let rows = 0;
  for (let i = input.indexOf(NEWLINE); i !== -1 && i <= end; i = input.indexOf(NEWLINE, i + 1))
    rows += 1;
  // Enough for every byte of the rows plus every row's keys, quotes and words; only a field
  // JSON must escape can need more, and makes room for itself below. Locals, not closure
  // variables, in this loop: it runs for every byte of the export.
  let out = scratch.buffer;
  if (out.length < end + 1 + rows * NDJSON_ROW_EXTRA) {
    out = Buffer.allocUnsafe(end + 1 + rows * NDJSON_ROW_EXTRA);
    scratch.buffer = out;
  }
  let length = 0;
  let at = 0;
  for (let row = 0; row < rows; row += 1) {
    for (let field = 0; field < NDJSON_KEYS.length; field += 1) {
      const start = at;
      let clean = true;
      let byte = input[at]!;
      while (byte !== TAB && byte !== NEWLINE) {
        if (byte < 0x20 || byte === QUOTE || byte === BACKSLASH) clean = false;
        at += 1;
        byte = input[at]!;
      }
      const stop = at;
      at += 1; // past the tab or the newline
      // Byte loops, not Buffer#copy: for a few bytes the native call costs more than the copy.
      const key = NDJSON_KEYS[field]!;
      for (let i = 0; i < key.length; i += 1) out[length++] = key[i]!;
      const kind = NDJSON_KINDS[field];
      if (stop - start === 2 && input[start] === BACKSLASH && input[start + 1] === 0x4e) {
        for (let i = 0; i < NULL.length; i += 1) out[length++] = NULL[i]!;
      } else if (kind === 'boolean') {
        const word = input[start] === 0x74 ? TRUE : FALSE;
        for (let i = 0; i < word.length; i += 1) out[length++] = word[i]!;
      } else if (clean || kind === 'plain') {
        out[length++] = QUOTE;
        for (let i = start; i < stop; i += 1) out[length++] = input[i]!;
        out[length++] = QUOTE;
      } else {
        const json = Buffer.from(JSON.stringify(copyText(input.toString('utf8', start, stop))));
        // This field, then whatever the rest of the rows may still need.
        const needed = length + json.length + (end + 1 - at) + (rows - row) * NDJSON_ROW_EXTRA;
        if (needed > out.length) {
          const bigger = Buffer.allocUnsafe(Math.max(out.length * 2, needed));
          out.copy(bigger, 0, 0, length);
          out = bigger;
          scratch.buffer = out;
        }
        for (let i = 0; i < json.length; i += 1) out[length++] = json[i]!;
      }
    }
    out[length++] = 0x7d; // }
    out[length++] = NEWLINE;
  }
  return out.toString('utf8', 0, length);
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
