import { sql } from 'drizzle-orm';
import type { Executor } from '../../db/pool.js';
import type { RetentionSource } from '../clients/clients.erasure.js';

/**
 * When one entry's retention ends: performedAt plus its template's retentionYears (the
 * template of the consent it relied on; e.g. 5 years for tattoo ink records), else the
 * default (RETENTION_YEARS), counted in UTC calendar years.
 */
const entryRetentionEnd = (defaultYears: number) => sql`
  (j.performed_at AT TIME ZONE 'UTC'
    + make_interval(years => coalesce(t.retention_years, ${defaultYears}::int))) AT TIME ZONE 'UTC'`;

const entriesWithTemplates = sql`journal_entries j
  JOIN consents c ON c.id = j.consent_id
  JOIN consent_templates t ON t.id = c.template_id`;

/** The journal's retention rule, for erasure and `purge-expired` alike (API.md "Clients"). */
export const journalRetention: RetentionSource = {
  async retainUntil(executor: Executor, clientId: string, defaultYears: number) {
    const { rows } = await executor.execute<{ until: string | null }>(sql`
      SELECT max(${entryRetentionEnd(defaultYears)}) AS until
      FROM ${entriesWithTemplates}
      WHERE j.client_id = ${clientId}::uuid`);
    const until = rows[0]?.until ?? null;
    return until === null ? null : new Date(until);
  },
  async clientsPastRetention(executor: Executor, now: Date, defaultYears: number) {
    const { rows } = await executor.execute<{ id: string }>(sql`
      SELECT cl.id::text AS id FROM clients cl
      JOIN ${entriesWithTemplates} ON j.client_id = cl.id
      WHERE cl.erased_at IS NULL AND NOT cl.legal_hold
      GROUP BY cl.id
      HAVING max(${entryRetentionEnd(defaultYears)}) <= ${now.toISOString()}::timestamptz
      ORDER BY cl.id`);
    return rows.map((row) => row.id);
  },
};
