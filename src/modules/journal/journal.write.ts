import { sql, type SQL } from 'drizzle-orm';
import type pg from 'pg';
import type { IdempotencyRowValues, RequestContext } from '../../access/context.js';
import type { BlindIndex } from '../../crypto/index.js';
import { placeholders } from '../../db/prepared.js';
import { clients } from '../../db/schema/clients.js';
import { consents } from '../../db/schema/consents.js';
import { journalDrafts, journalEntries, journalProducts } from '../../db/schema/journal.js';
import { auditedStatement, type AuditPart } from '../audit/audit.statement.js';
import type { AuditEventInput } from '../audit/audit.types.js';
import {
  claimInsert,
  claimParams,
  type ClaimParams,
} from '../idempotency/idempotency.statement.js';
import type { EntryRow } from './journal.repository.js';

export {
  createWriteContextReader,
  type JournalWriteContext,
  type StaffMember,
} from './journal.write-context.js';

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
  'performedBy',
  'responsibleId',
] as const satisfies readonly (keyof EntryRow)[];

type EntryParams = { [K in (typeof ENTRY_COLUMNS)[number]]: unknown } & {
  productIds: string[];
  batchIndexes: BlindIndex[];
  /** The draft the entry is signed from (deleted with the write), or null. */
  draftId: string | null;
};

const w = placeholders<EntryParams>();

/** Both writes check the same thing at the statement's one snapshot. */
function stillWritable(): SQL {
  return sql`EXISTS (SELECT 1 FROM ${clients} WHERE ${clients.id} = ${w.clientId}::uuid AND ${clients.erasedAt} IS NULL FOR SHARE)
      AND EXISTS (SELECT 1 FROM ${consents} WHERE ${consents.id} = ${w.consentId}::uuid AND ${consents.status} = 'active' FOR SHARE)`;
}

function entryInsert(keyed = false): SQL {
  const columns = ENTRY_COLUMNS.map((key) => journalEntries[key]);
  return sql`INSERT INTO ${journalEntries} (${sql.join(
    columns.map((column) => sql.identifier(column.name)),
    sql`, `,
  )})
    SELECT ${sql.join(
      ENTRY_COLUMNS.map((key) => sql`${w[key]}::${sql.raw(journalEntries[key].getSQLType())}`),
      sql`, `,
    )}
    WHERE ${stillWritable()}${keyed ? sql` AND EXISTS (SELECT 1 FROM claim)` : sql``}
      AND (${w.draftId}::uuid IS NULL OR EXISTS (
        SELECT 1 FROM ${journalDrafts} WHERE ${journalDrafts.id} = ${w.draftId}::uuid AND ${journalDrafts.authorId} = ${w.authorId}::uuid FOR UPDATE))
    RETURNING ${journalEntries.id}`;
}

/**
 * An entry, its products' batch indexes and its audit event in one statement (atomic without
 * a transaction of several round trips). The entry is written only if the client is still
 * live and the consent still active, both locked FOR SHARE: an erasure (or a withdrawal)
 * holding the row makes this statement wait, and then it sees the row as that left it, so an
 * entry never commits under a data key an erasure has destroyed; products and the event only
 * with it. A draft being signed is locked FOR UPDATE: of two signs of one draft, the second
 * waits, then finds the draft gone and writes nothing (404).
 */
function insertEntry(audit: AuditPart, keyed: boolean): SQL {
  return sql`WITH ${keyed ? sql`claim AS (${claimInsert(stillWritable())}), ` : sql``}entry AS (${entryInsert(keyed)}),
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
    ),
    signed_draft AS (
      DELETE FROM ${journalDrafts} WHERE ${journalDrafts.id} = ${w.draftId}::uuid AND EXISTS (SELECT 1 FROM entry)
    )
    ${audit.perRowOf(sql`entry`)}`;
}

const INSERT_ENTRY = auditedStatement<EntryParams>('journal_insert_entry_v4', (audit) =>
  insertEntry(audit, false),
);

/** The same with its Idempotency-Key row, which commits with the entry or not at all. */
const INSERT_ENTRY_KEYED = auditedStatement<EntryParams & ClaimParams>(
  'journal_insert_entry_keyed_v3',
  (audit) => insertEntry(audit, true),
);

/** Writes the entry with its products and event; false when nothing was written (re-check). */
export async function insertEntryWithEvent(
  pool: pg.Pool,
  ctx: RequestContext,
  entry: EntryRow,
  products: { id: string; batchIndex: BlindIndex }[],
  events: AuditEventInput[],
  claim?: IdempotencyRowValues,
  draftId: string | null = null,
): Promise<boolean> {
  const params: EntryParams = {
    ...entry,
    draftId,
    performedAt: entry.performedAt.toISOString(),
    createdAt: entry.createdAt.toISOString(),
    productIds: products.map((product) => product.id),
    batchIndexes: products.map((product) => product.batchIndex),
  };
  const result = claim
    ? await INSERT_ENTRY_KEYED.run(pool, ctx, events, { ...params, ...claimParams(claim) })
    : await INSERT_ENTRY.run(pool, ctx, events, params);
  return (result.rowCount ?? 0) > 0;
}
