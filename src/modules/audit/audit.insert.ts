import { sql, type SQL } from 'drizzle-orm';
import { auditEvents } from '../../db/schema/audit.js';
import type { AuditRow } from './audit.event.js';

/**
 * The columns the door writes (seq and xid are the table's defaults), each with its array type
 * for `unnest`: every insert of events, one or a thousand, is
 * `INSERT INTO audit_events (...) SELECT * FROM unnest($1::uuid[], ...)`, whose text never
 * changes with the number of rows, so PostgreSQL parses it the same way each time.
 */
const COLUMNS = [
  ['id', auditEvents.id, 'uuid'],
  ['at', auditEvents.at, 'timestamptz'],
  ['actorId', auditEvents.actorId, 'uuid'],
  ['actorRole', auditEvents.actorRole, 'text'],
  ['action', auditEvents.action, 'text'],
  ['outcome', auditEvents.outcome, 'text'],
  ['resourceType', auditEvents.resourceType, 'text'],
  ['resourceId', auditEvents.resourceId, 'text'],
  ['clientId', auditEvents.clientId, 'uuid'],
  ['requestId', auditEvents.requestId, 'text'],
  ['ip', auditEvents.ip, 'text'],
  ['userAgent', auditEvents.userAgent, 'text'],
  ['breakGlass', auditEvents.breakGlass, 'boolean'],
  ['reason', auditEvents.reason, 'text'],
  ['purposeOfUse', auditEvents.purposeOfUse, 'text'],
] as const satisfies readonly (readonly [keyof AuditRow, { name: string }, string])[];

type ColumnKey = (typeof COLUMNS)[number][0];

const COLUMN_LIST = sql.join(
  COLUMNS.map(([, column]) => sql.identifier(column.name)),
  sql`, `,
);

function cell(row: AuditRow, key: ColumnKey): unknown {
  const value = row[key];
  return value instanceof Date ? value.toISOString() : value;
}

/** The rows as one array per column, in COLUMNS order. */
export function columnArrays(rows: readonly AuditRow[]): unknown[][] {
  return COLUMNS.map(([key]) => rows.map((row) => cell(row, key)));
}

/** The plain text of the batch INSERT, for the recorder's pool query ($1..$15: COLUMNS). */
export const INSERT_AUDIT_EVENTS = `INSERT INTO audit_events (${COLUMNS.map(([, c]) => c.name).join(', ')}) SELECT * FROM unnest(${COLUMNS.map(([, , type], index) => `$${index + 1}::${type}[]`).join(', ')})`;

/** The INSERT of `rows` as a drizzle fragment, for the caller's transaction. */
export function insertSql(rows: readonly AuditRow[]): SQL {
  const arrays = COLUMNS.map(
    ([key, , type]) => sql`${sql.param(rows.map((row) => cell(row, key)))}::${sql.raw(type)}[]`,
  );
  return sql`INSERT INTO ${auditEvents} (${COLUMN_LIST}) SELECT * FROM unnest(${sql.join(arrays, sql`, `)})`;
}

/** Placeholder names of the per-row INSERT (auditedStatement fills them). */
const placeholderName = (key: ColumnKey) => `audit_${key}`;

/**
 * The INSERT as the last part of a caller's data-modifying statement: one copy of the events
 * per row of `source` (a CTE of that statement, e.g. the RETURNING of the row being written;
 * none when nothing was written), with the column arrays as named placeholders.
 */
export function insertPerRowOf(source: SQL): SQL {
  const arrays = COLUMNS.map(
    ([key, , type]) => sql`${sql.placeholder(placeholderName(key))}::${sql.raw(type)}[]`,
  );
  return sql`INSERT INTO ${auditEvents} (${COLUMN_LIST}) SELECT u.* FROM ${source} CROSS JOIN unnest(${sql.join(arrays, sql`, `)}) AS u`;
}

/** The values of insertPerRowOf's placeholders for `rows`. */
export function perRowValues(rows: readonly AuditRow[]): Record<string, unknown[]> {
  return Object.fromEntries(
    COLUMNS.map(([key]) => [placeholderName(key), rows.map((row) => cell(row, key))]),
  );
}
