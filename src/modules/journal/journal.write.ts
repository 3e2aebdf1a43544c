import { and, eq, isNull, sql, type SQL } from 'drizzle-orm';
import type pg from 'pg';
import type { RequestContext } from '../../access/context.js';
import type { BlindIndex, WrappedDataKey } from '../../crypto/index.js';
import type { Sealed } from '../../crypto/sealed.js';
import type { Database } from '../../db/pool.js';
import { placeholders } from '../../db/prepared.js';
import { clientDataKeys } from '../../db/schema/client-data-keys.js';
import { clients } from '../../db/schema/clients.js';
import { consentTemplates } from '../../db/schema/consent-templates.js';
import { consents } from '../../db/schema/consents.js';
import { journalEntries, journalProducts } from '../../db/schema/journal.js';
import { auditedStatement } from '../audit/audit.statement.js';
import type { AuditEventInput } from '../audit/audit.types.js';
import type { EntryRow } from './journal.repository.js';
import type { CoveringConsent } from './journal.rules.js';

/** What a journal write reads first, in one round trip. */
export interface JournalWriteContext {
  /** Undefined when the client does not exist or has been erased. */
  client: { id: string; clinicId: string; dateOfBirth: Sealed<string> } | undefined;
  key: WrappedDataKey | null;
  /** Oldest signature first; empty unless the client is in the caller's clinics. */
  covering: CoveringConsent[];
}

/** A covering consent as the read's JSON aggregate carries it (times as text). */
interface CoveringJson {
  id: string;
  status: 'active' | 'withdrawn';
  signedAt: string;
  coolingOffHours: number | null;
  minimumAge: number | null;
}

const r = placeholders<{ clientId: string; treatmentType: string; clinicIds: readonly string[] }>();

/** The write's read (prepared): scope, wrapped key, and the consents covering the treatment. */
export function createWriteContextReader(db: Database) {
  const c = consents;
  const t = consentTemplates;
  const statement = db
    .select({
      clinicId: clients.clinicId,
      dateOfBirth: clients.dateOfBirth,
      kekId: clientDataKeys.kekId,
      wrapped: clientDataKeys.wrapped,
      covering: sql<
        CoveringJson[] | null
      >`CASE WHEN ${clients.clinicId} = ANY(${r.clinicIds}::uuid[]) THEN (
        SELECT json_agg(json_build_object(
            'id', ${c.id}, 'status', ${c.status}, 'signedAt', ${c.signedAt},
            'coolingOffHours', ${t.coolingOffHours}, 'minimumAge', ${t.minimumAge}
          ) ORDER BY ${c.signedAt}, ${c.id})
        FROM ${c} JOIN ${t} ON ${t.id} = ${c.templateId}
        WHERE ${c.clientId} = ${clients.id} AND ${r.treatmentType}::text = ANY(${t.treatmentTypes})
      ) END`,
    })
    .from(clients)
    .leftJoin(clientDataKeys, eq(clientDataKeys.clientId, clients.id))
    .where(and(eq(clients.id, r.clientId), isNull(clients.erasedAt)))
    .prepare('journal_write_context_v2');

  return async function readForWrite(query: {
    clientId: string;
    treatmentType: string;
    clinicIds: readonly string[];
  }): Promise<JournalWriteContext> {
    const [row] = await statement.execute(query);
    if (!row) return { client: undefined, key: null, covering: [] };
    return {
      client: { id: query.clientId, clinicId: row.clinicId, dateOfBirth: row.dateOfBirth },
      key:
        row.kekId !== null && row.wrapped !== null
          ? { kekId: row.kekId, wrapped: row.wrapped }
          : null,
      covering: (row.covering ?? []).map((consent) => ({
        consent: { id: consent.id, status: consent.status, signedAt: new Date(consent.signedAt) },
        template: { coolingOffHours: consent.coolingOffHours, minimumAge: consent.minimumAge },
      })),
    };
  };
}

/** The entry's columns in insert order, each as a typed placeholder of its own name. */
const ENTRY_COLUMNS = [
  'id',
  'clientId',
  'clinicId',
  'authorId',
  'consentId',
  'treatmentType',
  'performedAt',
  'notes',
  'treatedAreas',
  'products',
  'recordedLate',
  'createdAt',
] as const satisfies readonly (keyof EntryRow)[];

type EntryParams = { [K in (typeof ENTRY_COLUMNS)[number]]: unknown } & {
  productIds: string[];
  batchIndexes: BlindIndex[];
};

const w = placeholders<EntryParams>();

function entryInsert(): SQL {
  const columns = ENTRY_COLUMNS.map((key) => journalEntries[key]);
  return sql`INSERT INTO ${journalEntries} (${sql.join(
    columns.map((column) => sql.identifier(column.name)),
    sql`, `,
  )})
    SELECT ${sql.join(
      ENTRY_COLUMNS.map((key) => sql`${w[key]}::${sql.raw(journalEntries[key].getSQLType())}`),
      sql`, `,
    )}
    WHERE EXISTS (SELECT 1 FROM ${clients} WHERE ${clients.id} = ${w.clientId}::uuid AND ${clients.erasedAt} IS NULL FOR SHARE)
      AND EXISTS (SELECT 1 FROM ${consents} WHERE ${consents.id} = ${w.consentId}::uuid AND ${consents.status} = 'active' FOR SHARE)
    RETURNING ${journalEntries.id}`;
}

/**
 * An entry, its products' batch indexes and its audit event in one statement (atomic without
 * a transaction of several round trips). The entry is written only if the client is still
 * live and the consent still active, both locked FOR SHARE: an erasure (or a withdrawal)
 * holding the row makes this statement wait, and then it sees the row as that left it, so an
 * entry never commits under a data key an erasure has destroyed; products and the event only
 * with it.
 */
const INSERT_ENTRY = auditedStatement<EntryParams>(
  'journal_insert_entry_v3',
  (audit) => sql`WITH entry AS (${entryInsert()}),
    products AS (
      INSERT INTO ${journalProducts} (${sql.join(
        [
          journalProducts.id,
          journalProducts.entryId,
          journalProducts.clientId,
          journalProducts.clinicId,
          journalProducts.batchIndex,
          journalProducts.performedAt,
        ].map((column) => sql.identifier(column.name)),
        sql`, `,
      )})
      SELECT p.id, entry.id, ${w.clientId}::uuid, ${w.clinicId}::uuid, p.batch_index, ${w.performedAt}::timestamptz
      FROM entry CROSS JOIN unnest(${w.productIds}::uuid[], ${w.batchIndexes}::bytea[]) AS p(id, batch_index)
    )
    ${audit.perRowOf(sql`entry`)}`,
);

/** Writes the entry with its products and event; false when nothing was written (re-check). */
export async function insertEntryWithEvent(
  pool: pg.Pool,
  ctx: RequestContext,
  entry: EntryRow,
  products: { id: string; batchIndex: BlindIndex }[],
  events: AuditEventInput[],
): Promise<boolean> {
  const result = await INSERT_ENTRY.run(pool, ctx, events, {
    ...entry,
    performedAt: entry.performedAt.toISOString(),
    createdAt: entry.createdAt.toISOString(),
    productIds: products.map((product) => product.id),
    batchIndexes: products.map((product) => product.batchIndex),
  });
  return (result.rowCount ?? 0) > 0;
}
