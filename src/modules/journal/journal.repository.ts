import { and, asc, eq, gt, inArray, max, or, type SQL } from 'drizzle-orm';
import type pg from 'pg';
import type { WrappedDataKey } from '../../crypto/index.js';
import type { Executor } from '../../db/pool.js';
import { journalAmendments, journalEntries, journalProducts } from '../../db/schema/journal.js';

export type EntryRow = typeof journalEntries.$inferSelect;
export type NewEntryRow = typeof journalEntries.$inferInsert;
export type AmendmentRow = typeof journalAmendments.$inferSelect;
export type NewAmendmentRow = typeof journalAmendments.$inferInsert;
export type NewProductRow = typeof journalProducts.$inferInsert;

/** Where a page of a client's journal (oldest first) continues. */
export interface EntryCursor {
  performedAt: Date;
  id: string;
}

/** What one round trip reads for a journal read: the scope, the key and the entries. */
export interface JournalRead {
  /** Undefined when the client does not exist or has been erased. */
  client: { clinicId: string } | undefined;
  key: WrappedDataKey | null;
  entries: EntryRow[];
  amendments: AmendmentRow[];
}

export interface JournalReadQuery {
  clientId: string;
  /** Entries are read only when the client is in one of these clinics... */
  clinicIds: readonly string[];
  /** ...or the request asks for break-glass (the service decides whether it may). */
  breakGlassRequested: boolean;
  entryId?: string | undefined;
  after?: EntryCursor | undefined;
  limit: number;
}

/**
 * The hot read path in one statement (a prepared one: parsed and planned once per
 * connection): the live client's clinic, its wrapped data key, and a page of its entries with
 * their amendments. Entries come only when the client is in the caller's clinics or
 * break-glass is asked for, so another clinic's ciphertext is not even fetched for a request
 * that will be refused; the service still makes the scope decision (and audits a refusal).
 */
const READ_JOURNAL = {
  name: 'journal_read_v1',
  text: `SELECT c.clinic_id, k.kek_id, k.wrapped,
    e.id, e.clinic_id AS entry_clinic_id, e.author_id, e.consent_id, e.treatment_type_enc,
    e.performed_at, e.notes_enc, e.treated_areas_enc, e.products_enc, e.recorded_late,
    e.created_at,
    (SELECT json_agg(json_build_object(
        'id', a.id, 'authorId', a.author_id, 'notes', encode(a.notes_enc, 'base64'),
        'reason', encode(a.reason_enc, 'base64'), 'createdAt', a.created_at
      ) ORDER BY a.created_at, a.id)
      FROM journal_amendments a WHERE a.entry_id = e.id) AS amendments
  FROM clients c
  LEFT JOIN client_data_keys k ON k.client_id = c.id
  LEFT JOIN LATERAL (
    SELECT * FROM journal_entries je
    WHERE je.client_id = c.id
      AND ($4::uuid IS NULL OR je.id = $4)
      AND ($5::timestamptz IS NULL OR (je.performed_at, je.id) > ($5, $6::uuid))
    ORDER BY je.performed_at, je.id
    LIMIT $7
  ) e ON c.clinic_id = ANY($2::uuid[]) OR $3::boolean
  WHERE c.id = $1 AND c.erased_at IS NULL
  ORDER BY e.performed_at, e.id`,
};

interface ReadJournalRow {
  clinic_id: string;
  kek_id: string | null;
  wrapped: Buffer | null;
  id: string | null;
  entry_clinic_id: string;
  author_id: string;
  consent_id: string;
  treatment_type_enc: Buffer;
  performed_at: Date;
  notes_enc: Buffer;
  treated_areas_enc: Buffer | null;
  products_enc: Buffer | null;
  recorded_late: boolean;
  created_at: Date;
  amendments:
    { id: string; authorId: string; notes: string; reason: string; createdAt: string }[] | null;
}

export async function readJournal(pool: pg.Pool, query: JournalReadQuery): Promise<JournalRead> {
  const { rows } = await pool.query<ReadJournalRow>({
    ...READ_JOURNAL,
    values: [
      query.clientId,
      query.clinicIds,
      query.breakGlassRequested,
      query.entryId ?? null,
      query.after?.performedAt ?? null,
      query.after?.id ?? null,
      query.limit,
    ],
  });
  const first = rows[0];
  if (!first) return { client: undefined, key: null, entries: [], amendments: [] };
  const entries: EntryRow[] = [];
  const amendments: AmendmentRow[] = [];
  for (const row of rows) {
    if (row.id === null) continue; // the client has no (visible) entries
    entries.push({
      id: row.id,
      clientId: query.clientId,
      clinicId: row.entry_clinic_id,
      authorId: row.author_id,
      consentId: row.consent_id,
      treatmentType: row.treatment_type_enc as EntryRow['treatmentType'],
      performedAt: row.performed_at,
      notes: row.notes_enc as EntryRow['notes'],
      treatedAreas: row.treated_areas_enc as EntryRow['treatedAreas'],
      products: row.products_enc as EntryRow['products'],
      recordedLate: row.recorded_late,
      createdAt: row.created_at,
    });
    for (const amendment of row.amendments ?? []) {
      amendments.push({
        id: amendment.id,
        entryId: row.id,
        clientId: query.clientId,
        authorId: amendment.authorId,
        notes: Buffer.from(amendment.notes, 'base64') as AmendmentRow['notes'],
        reason: Buffer.from(amendment.reason, 'base64') as AmendmentRow['reason'],
        createdAt: new Date(amendment.createdAt),
      });
    }
  }
  return {
    client: { clinicId: first.clinic_id },
    key:
      first.kek_id !== null && first.wrapped !== null
        ? { kekId: first.kek_id, wrapped: first.wrapped }
        : null,
    entries,
    amendments,
  };
}

/** Data access for the journal: inserts and reads only (the tables are append-only). */
export const journalRepository = {
  async insertEntry(executor: Executor, row: NewEntryRow): Promise<EntryRow> {
    const [inserted] = await executor.insert(journalEntries).values(row).returning();
    return inserted!;
  },

  async insertProducts(executor: Executor, rows: NewProductRow[]): Promise<void> {
    if (rows.length > 0) await executor.insert(journalProducts).values(rows);
  },

  async insertAmendment(executor: Executor, row: NewAmendmentRow): Promise<AmendmentRow> {
    const [inserted] = await executor.insert(journalAmendments).values(row).returning();
    return inserted!;
  },

  async findEntry(executor: Executor, clientId: string, id: string) {
    const [row] = await executor
      .select()
      .from(journalEntries)
      .where(and(eq(journalEntries.id, id), eq(journalEntries.clientId, clientId)));
    return row;
  },

  async pageEntries(
    executor: Executor,
    clientId: string,
    after: EntryCursor | undefined,
    limit: number,
  ) {
    const conditions: (SQL | undefined)[] = [eq(journalEntries.clientId, clientId)];
    if (after !== undefined) {
      conditions.push(
        or(
          gt(journalEntries.performedAt, after.performedAt),
          and(eq(journalEntries.performedAt, after.performedAt), gt(journalEntries.id, after.id)),
        ),
      );
    }
    return executor
      .select()
      .from(journalEntries)
      .where(and(...conditions))
      .orderBy(asc(journalEntries.performedAt), asc(journalEntries.id))
      .limit(limit);
  },

  async amendmentsOf(executor: Executor, entryIds: string[]) {
    if (entryIds.length === 0) return [];
    return executor
      .select()
      .from(journalAmendments)
      .where(inArray(journalAmendments.entryId, entryIds))
      .orderBy(asc(journalAmendments.createdAt), asc(journalAmendments.id));
  },

  async newestPerformedAt(executor: Executor, clientId: string): Promise<Date | null> {
    const [row] = await executor
      .select({ newest: max(journalEntries.performedAt) })
      .from(journalEntries)
      .where(eq(journalEntries.clientId, clientId));
    return row?.newest ?? null;
  },
};
