import { and, asc, eq, isNull, sql } from 'drizzle-orm';
import type { WrappedDataKey } from '../../crypto/index.js';
import type { Database } from '../../db/pool.js';
import { placeholders } from '../../db/prepared.js';
import { clientDataKeys } from '../../db/schema/client-data-keys.js';
import { clients } from '../../db/schema/clients.js';
import { journalAmendments, journalEntries } from '../../db/schema/journal.js';
import type { AmendmentRow, EntryCursor, EntryRow } from './journal.repository.js';

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
      amendments: sql<AmendmentJson[] | null>`(${amendments})`.as('amendments'),
    })
    .from(e)
    .where(
      and(
        eq(e.clientId, clients.id),
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
        amendments: page.amendments,
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
    .prepare('journal_read_v2');

  return async function readJournal(query: JournalReadQuery): Promise<JournalRead> {
    const rows = await statement.execute({
      clientId: query.clientId,
      clinicIds: query.clinicIds,
      breakGlass: query.breakGlassRequested,
      entryId: query.entryId ?? null,
      afterPerformedAt: query.after?.performedAt.toISOString() ?? null,
      afterId: query.after?.id ?? null,
      limit: query.limit,
    });
    const first = rows[0];
    if (!first) return { client: undefined, key: null, entries: [], amendments: [] };
    const entries: EntryRow[] = [];
    const amendments: AmendmentRow[] = [];
    for (const { entry } of rows) {
      if (entry === null) continue; // the client has no (visible) entries
      const { amendments: ofEntry, ...row } = entry;
      entries.push(row);
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
      amendments,
    };
  };
}
