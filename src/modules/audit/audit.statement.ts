import type { SQL } from 'drizzle-orm';
import type pg from 'pg';
import type { RequestContext } from '../../access/context.js';
import { postgresError } from '../../db/errors.js';
import { prepareStatement } from '../../db/prepared.js';
import { auditEvents } from '../../db/schema/audit.js';
import { getTableName } from 'drizzle-orm';
import { AuditUnavailable, InvalidAuditEvent } from './audit.errors.js';
import { buildAuditRow } from './audit.event.js';
import { insertPerRowOf, perRowValues } from './audit.insert.js';
import type { AuditEventInput } from './audit.types.js';

/** Where a write's events go in its statement: once per row of `source` (a CTE name). */
export interface AuditPart {
  perRowOf(source: SQL): SQL;
}

export interface AuditedStatement<P> {
  /**
   * Runs the statement with its values and `events` as its audit part. The audit part failing
   * (a constraint of the audit table) fails the whole statement: nothing is written, and the
   * answer is AuditUnavailable (503), as for every audited write.
   */
  run(
    pool: pg.Pool,
    ctx: RequestContext,
    events: AuditEventInput[],
    params: P,
  ): Promise<pg.QueryResult>;
}

const AUDIT_TABLE = getTableName(auditEvents);

/**
 * The write entrance for a write done in one statement (no transaction of several round
 * trips): the caller builds its statement around the audit part
 * (`WITH entry AS (INSERT ... RETURNING id) ${audit.perRowOf(sql\`entry\`)}`), so the change
 * and its events commit or fail together, and never learns the audit table's columns. The
 * statement is prepared once under `name`.
 */
export function auditedStatement<P extends Record<string, unknown>>(
  name: string,
  build: (audit: AuditPart) => SQL,
): AuditedStatement<P> {
  const prepared = prepareStatement<Record<string, unknown>>(
    name,
    build({ perRowOf: insertPerRowOf }),
  );
  return {
    async run(pool, ctx, events, params) {
      if (events.length === 0)
        throw new InvalidAuditEvent('a write must record at least one event');
      const at = new Date();
      const rows = events.map((event) => buildAuditRow(ctx, event, at));
      try {
        return await prepared.run(pool, { ...params, ...perRowValues(rows) });
      } catch (error) {
        if (postgresError(error)?.table === AUDIT_TABLE)
          throw new AuditUnavailable({ cause: error });
        throw error;
      }
    },
  };
}
