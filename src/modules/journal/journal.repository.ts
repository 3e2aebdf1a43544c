import { and, asc, eq, gt, inArray, max, or, type SQL } from 'drizzle-orm';
import type pg from 'pg';
import type { WrappedDataKey } from '../../crypto/index.js';
import type { Executor } from '../../db/pool.js';
import { AuditUnavailable } from '../audit/audit.errors.js';
import { auditInsertFrom } from '../audit/audit.recorder.js';
import { journalAmendments, journalEntries } from '../../db/schema/journal.js';

export type EntryRow = typeof journalEntries.$inferSelect;
export type AmendmentRow = typeof journalAmendments.$inferSelect;
export type NewAmendmentRow = typeof journalAmendments.$inferInsert;

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
    SELECT je.id, je.clinic_id, je.author_id, je.consent_id, je.treatment_type_enc,
      je.performed_at, je.notes_enc, je.treated_areas_enc, je.products_enc, je.recorded_late,
      je.created_at
    FROM journal_entries je
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
    key: wrappedKey(first),
    entries,
    amendments,
  };
}

/** A consent covering a treatment type, with what the journal rules need of its template. */
export interface CoveringConsent {
  consent: { id: string; status: 'active' | 'withdrawn'; signedAt: Date };
  template: { coolingOffHours: number | null; minimumAge: number | null };
}

/** What a journal write reads first, in one round trip. */
export interface JournalWriteContext {
  /** Undefined when the client does not exist or has been erased. */
  client: { id: string; clinicId: string; dateOfBirth: Buffer } | undefined;
  key: WrappedDataKey | null;
  /** Oldest signature first; empty unless the client is in the caller's clinics. */
  covering: CoveringConsent[];
}

const READ_FOR_WRITE = {
  name: 'journal_write_context_v1',
  text: `SELECT c.clinic_id, c.date_of_birth_enc, k.kek_id, k.wrapped,
    CASE WHEN c.clinic_id = ANY($3::uuid[]) THEN (
      SELECT json_agg(json_build_object(
          'id', co.id, 'status', co.status, 'signedAt', co.signed_at,
          'coolingOffHours', t.cooling_off_hours, 'minimumAge', t.minimum_age
        ) ORDER BY co.signed_at, co.id)
      FROM consents co JOIN consent_templates t ON t.id = co.template_id
      WHERE co.client_id = c.id AND $2::text = ANY(t.treatment_types)
    ) END AS covering
  FROM clients c
  LEFT JOIN client_data_keys k ON k.client_id = c.id
  WHERE c.id = $1 AND c.erased_at IS NULL`,
};

interface ReadForWriteRow {
  clinic_id: string;
  date_of_birth_enc: Buffer;
  kek_id: string | null;
  wrapped: Buffer | null;
  covering:
    | {
        id: string;
        status: 'active' | 'withdrawn';
        signedAt: string;
        coolingOffHours: number | null;
        minimumAge: number | null;
      }[]
    | null;
}

export async function readForWrite(
  pool: pg.Pool,
  query: { clientId: string; treatmentType: string; clinicIds: readonly string[] },
): Promise<JournalWriteContext> {
  const { rows } = await pool.query<ReadForWriteRow>({
    ...READ_FOR_WRITE,
    values: [query.clientId, query.treatmentType, query.clinicIds],
  });
  const row = rows[0];
  if (!row) return { client: undefined, key: null, covering: [] };
  return {
    client: { id: query.clientId, clinicId: row.clinic_id, dateOfBirth: row.date_of_birth_enc },
    key: wrappedKey(row),
    covering: (row.covering ?? []).map((consent) => ({
      consent: { id: consent.id, status: consent.status, signedAt: new Date(consent.signedAt) },
      template: { coolingOffHours: consent.coolingOffHours, minimumAge: consent.minimumAge },
    })),
  };
}

/**
 * An entry, its products' batch indexes and its audit event in one statement (atomic without
 * a transaction of several round trips). The entry is written only if, at this statement's
 * snapshot, the client is still live and the consent still active; products and the event
 * only with it. Returns false when nothing was written (the caller checks again).
 */
const INSERT_ENTRY = {
  name: 'journal_insert_entry_v1',
  text: `WITH entry AS (
    INSERT INTO journal_entries (id, client_id, clinic_id, author_id, consent_id,
      treatment_type_enc, performed_at, notes_enc, treated_areas_enc, products_enc,
      recorded_late, created_at)
    SELECT $1::uuid, $2::uuid, $3::uuid, $4::uuid, $5::uuid, $6::bytea, $7::timestamptz,
      $8::bytea, $9::bytea, $10::bytea, $11::boolean, $12::timestamptz
    WHERE EXISTS (SELECT 1 FROM clients WHERE id = $2::uuid AND erased_at IS NULL)
      AND EXISTS (SELECT 1 FROM consents WHERE id = $5::uuid AND status = 'active')
    RETURNING id
  ), products AS (
    INSERT INTO journal_products (id, entry_id, client_id, clinic_id, batch_bidx, performed_at)
    SELECT p.id, entry.id, $2::uuid, $3::uuid, p.batch_bidx, $7::timestamptz
    FROM entry CROSS JOIN unnest($13::uuid[], $14::bytea[]) AS p(id, batch_bidx)
  )
  ${auditInsertFrom('entry', 15)}`,
};

export async function insertEntryWithEvent(
  pool: pg.Pool,
  entry: EntryRow,
  products: { id: string; batchIndex: Buffer }[],
  auditValues: unknown[][],
): Promise<boolean> {
  const result = await pool
    .query({
      ...INSERT_ENTRY,
      values: [
        entry.id,
        entry.clientId,
        entry.clinicId,
        entry.authorId,
        entry.consentId,
        entry.treatmentType,
        entry.performedAt,
        entry.notes,
        entry.treatedAreas,
        entry.products,
        entry.recordedLate,
        entry.createdAt,
        products.map((product) => product.id),
        products.map((product) => product.batchIndex),
        ...auditValues,
      ],
    })
    .catch((error: unknown) => {
      // The event's part of the statement failed (a constraint of the audit table): the
      // entry was not written either, and the caller answers 503 like every audited write.
      if ((error as { table?: string }).table === 'audit_events')
        throw new AuditUnavailable({ cause: error });
      throw error;
    });
  return (result.rowCount ?? 0) > 0;
}

function wrappedKey(row: { kek_id: string | null; wrapped: Buffer | null }): WrappedDataKey | null {
  return row.kek_id !== null && row.wrapped !== null
    ? { kekId: row.kek_id, wrapped: row.wrapped }
    : null;
}

/** Data access for the journal: inserts and reads only (the tables are append-only). */
export const journalRepository = {
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
