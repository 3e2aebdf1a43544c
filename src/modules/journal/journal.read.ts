import { and, asc, eq, isNull, sql } from 'drizzle-orm';
import type { WrappedDataKey } from '../../crypto/index.js';
import type { Database } from '../../db/pool.js';
import { placeholders } from '../../db/prepared.js';
import { clientDataKeys } from '../../db/schema/client-data-keys.js';
import { clients } from '../../db/schema/clients.js';
import {
  journalAmendments,
  journalCountersignatures,
  journalEntries,
  journalEntryErrors,
  journalStatements,
} from '../../db/schema/journal.js';
import type { EntryAdditions } from './journal.fields.js';
import type {
  AmendmentRow,
  CountersignatureRow,
  EntryCursor,
  EntryErrorRow,
  EntryRow,
  StatementRow,
} from './journal.repository.js';

/** What one round trip reads for a journal read: the scope, the key and the entries. */
export interface JournalRead {
  /** Undefined when the client does not exist or has been erased. */
  client: { clinicId: string } | undefined;
  key: WrappedDataKey | null;
  entries: EntryRow[];
  additions: EntryAdditions;
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
  /** Lists leave entries marked entered-in-error out unless asked (a read by id never does). */
  includeEnteredInError?: boolean | undefined;
}

/** A statement as the read's JSON aggregate carries it. */
interface StatementJson {
  id: string;
  recordedBy: string;
  text: string;
  createdAt: string;
}

/** An amendment as the read's JSON aggregate carries it (bytea as base64, times as text). */
interface AmendmentJson {
  id: AmendmentRow['id'];
  authorId: AmendmentRow['authorId'];
  notes: string;
  reason: string;
  createdAt: string;
}

const p = placeholders<{
  clientId: string;
  clinicIds: readonly string[];
  breakGlass: boolean;
  entryId: string | null;
  afterPerformedAt: string | null;
  afterId: string | null;
  limit: number;
  includeEnteredInError: boolean;
}>();

/** A page of a client's entries, each with its amendments (oldest first), for the lateral join. */
function entryPage(db: Database) {
  const a = journalAmendments;
  const e = journalEntries;
  // A scalar subquery: drizzle leaves a one-table select's own columns unqualified, so the
  // entry's id is compared in this subquery's WHERE (qualified), not in a select-list fragment.
  const amendments = db
    .select({
      list: sql<AmendmentJson[] | null>`json_agg(json_build_object(
          'id', ${a.id}, 'authorId', ${a.authorId}, 'notes', encode(${a.notes}, 'base64'),
          'reason', encode(${a.reason}, 'base64'), 'createdAt', ${a.createdAt}
        ) ORDER BY ${a.createdAt}, ${a.id})`,
    })
    .from(a)
    .where(eq(a.entryId, e.id));
  const st = journalStatements;
  const statements = db
    .select({
      list: sql<StatementJson[] | null>`json_agg(json_build_object(
          'id', ${st.id}, 'recordedBy', ${st.recordedBy}, 'text', encode(${st.text}, 'base64'),
          'createdAt', ${st.createdAt}
        ) ORDER BY ${st.createdAt}, ${st.id})`,
    })
    .from(st)
    .where(eq(st.entryId, e.id));
  const cs = journalCountersignatures;
  const er = journalEntryErrors;
  return db
    .select({
      id: e.id,
      clientId: e.clientId,
      clinicId: e.clinicId,
      authorId: e.authorId,
      consentId: e.consentId,
      treatmentType: e.treatmentType,
      performedAt: e.performedAt,
      notes: e.notes,
      treatedAreas: e.treatedAreas,
      products: e.products,
      recordedLate: e.recordedLate,
      createdAt: e.createdAt,
      performedBy: e.performedBy,
      responsibleId: e.responsibleId,
      amendments: sql<AmendmentJson[] | null>`(${amendments})`.as('amendments'),
      statements: sql<StatementJson[] | null>`(${statements})`.as('statements'),
      countersignedBy: cs.countersignedBy,
      countersignedAt: cs.countersignedAt,
      errorBy: er.markedBy,
      errorAt: er.markedAt,
      errorReason: er.reason,
    })
    .from(e)
    .leftJoin(cs, eq(cs.entryId, e.id))
    .leftJoin(er, eq(er.entryId, e.id))
    .where(
      and(
        eq(e.clientId, clients.id),
        sql`(${p.entryId}::uuid IS NOT NULL OR ${p.includeEnteredInError}::boolean OR ${er.entryId} IS NULL)`,
        sql`(${p.entryId}::uuid IS NULL OR ${e.id} = ${p.entryId}::uuid)`,
        sql`(${p.afterPerformedAt}::timestamptz IS NULL OR (${e.performedAt}, ${e.id}) > (${p.afterPerformedAt}::timestamptz, ${p.afterId}::uuid))`,
      ),
    )
    .orderBy(asc(e.performedAt), asc(e.id))
    .limit(p.limit)
    .as('entry_page');
}

/**
 * The hot read path in one statement (a prepared one: parsed and planned once per
 * connection): the live client's clinic, its wrapped data key, and a page of its entries with
 * their amendments. Entries come only when the client is in the caller's clinics or
 * break-glass is asked for, so another clinic's ciphertext is not even fetched for a request
 * that will be refused; the service still makes the scope decision (and audits a refusal).
 */
export function createJournalReader(db: Database) {
  const page = entryPage(db);
  const statement = db
    .select({
      clinicId: clients.clinicId,
      kekId: clientDataKeys.kekId,
      wrapped: clientDataKeys.wrapped,
      entry: {
        id: page.id,
        clientId: page.clientId,
        clinicId: page.clinicId,
        authorId: page.authorId,
        consentId: page.consentId,
        treatmentType: page.treatmentType,
        performedAt: page.performedAt,
        notes: page.notes,
        treatedAreas: page.treatedAreas,
        products: page.products,
        recordedLate: page.recordedLate,
        createdAt: page.createdAt,
        performedBy: page.performedBy,
        responsibleId: page.responsibleId,
        amendments: page.amendments,
        statements: page.statements,
        countersignedBy: page.countersignedBy,
        countersignedAt: page.countersignedAt,
        errorBy: page.errorBy,
        errorAt: page.errorAt,
        errorReason: page.errorReason,
      },
    })
    .from(clients)
    .leftJoin(clientDataKeys, eq(clientDataKeys.clientId, clients.id))
    .leftJoinLateral(
      page,
      sql`${clients.clinicId} = ANY(${p.clinicIds}::uuid[]) OR ${p.breakGlass}::boolean`,
    )
    .where(and(eq(clients.id, p.clientId), isNull(clients.erasedAt)))
    .orderBy(asc(page.performedAt), asc(page.id))
    .prepare('journal_read_v3');

  return async function readJournal(query: JournalReadQuery): Promise<JournalRead> {
    const rows = await statement.execute({
      clientId: query.clientId,
      clinicIds: query.clinicIds,
      breakGlass: query.breakGlassRequested,
      entryId: query.entryId ?? null,
      afterPerformedAt: query.after?.performedAt.toISOString() ?? null,
      afterId: query.after?.id ?? null,
      limit: query.limit,
      includeEnteredInError: query.includeEnteredInError ?? false,
    });
    const first = rows[0];
    const additions = {
      amendments: [] as AmendmentRow[],
      statements: [] as StatementRow[],
      countersignatures: [] as CountersignatureRow[],
      errors: [] as EntryErrorRow[],
    };
    if (!first) return { client: undefined, key: null, entries: [], additions };
    const entries: EntryRow[] = [];
    const { amendments } = additions;
    for (const { entry } of rows) {
      if (entry === null) continue; // the client has no (visible) entries
      const {
        amendments: ofEntry,
        statements,
        countersignedBy,
        countersignedAt,
        errorBy,
        errorAt,
        errorReason,
        ...row
      } = entry;
      entries.push(row);
      if (countersignedBy !== null && countersignedAt !== null) {
        additions.countersignatures.push({
          entryId: row.id,
          clientId: query.clientId,
          countersignedBy,
          countersignedAt,
        });
      }
      if (errorBy !== null && errorAt !== null && errorReason !== null) {
        additions.errors.push({
          entryId: row.id,
          clientId: query.clientId,
          markedBy: errorBy,
          markedAt: errorAt,
          reason: errorReason,
        });
      }
      for (const statement of statements ?? []) {
        additions.statements.push({
          id: statement.id,
          entryId: row.id,
          clientId: query.clientId,
          recordedBy: statement.recordedBy,
          text: Buffer.from(statement.text, 'base64') as StatementRow['text'],
          createdAt: new Date(statement.createdAt),
        });
      }
      for (const amendment of ofEntry ?? []) {
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
      client: { clinicId: first.clinicId },
      key:
        first.kekId !== null && first.wrapped !== null
          ? { kekId: first.kekId, wrapped: first.wrapped }
          : null,
      entries,
      additions,
    };
  };
}
