import type { WrappedDataKey } from '../../crypto/index.js';
import type { EntryAdditions } from './journal.fields.js';
import type {
  AmendmentRow,
  CountersignatureRow,
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

/** A statement as the read's JSON aggregate carries it. */
export interface StatementJson {
  id: string;
  recordedBy: string;
  text: string;
  createdAt: string;
}

/** An amendment as the read's JSON aggregate carries it (bytea as base64, times as text). */
export interface AmendmentJson {
  id: AmendmentRow['id'];
  authorId: AmendmentRow['authorId'];
  notes: string;
  reason: string;
  createdAt: string;
}

/**
 * One row as pg parses it (timestamptz a Date, bytea a Buffer, json parsed), each column under
 * its name in the select list. The entry's columns are null together when the client has no
 * visible entry (the lateral join's miss).
 */
export interface ReadRow extends Omit<EntryRow, 'id'> {
  clientClinicId: string;
  kekId: string | null;
  wrapped: Buffer | null;
  id: string | null;
  amendments: AmendmentJson[] | null;
  statements: StatementJson[] | null;
  countersignedBy: string | null;
  countersignedAt: Date | null;
  errorBy: string | null;
  errorAt: Date | null;
  errorReason: EntryErrorRow['reason'] | null;
}

/** The read's rows as the service takes them: the client's scope and key, entries, additions. */
export function journalReadFrom(rows: readonly ReadRow[]): JournalRead {
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
  for (const row of rows) {
    const {
      clientClinicId,
      kekId,
      wrapped,
      amendments: ofEntry,
      statements,
      countersignedBy,
      countersignedAt,
      errorBy,
      errorAt,
      errorReason,
      id,
      ...entry
    } = row;
    if (id === null) continue; // the client has no (visible) entries
    const { clientId } = entry;
    entries.push({ id, ...entry });
    if (countersignedBy !== null && countersignedAt !== null) {
      additions.countersignatures.push({
        entryId: id,
        clientId,
        countersignedBy,
        countersignedAt,
      });
    }
    if (errorBy !== null && errorAt !== null && errorReason !== null) {
      additions.errors.push({
        entryId: id,
        clientId,
        markedBy: errorBy,
        markedAt: errorAt,
        reason: errorReason,
      });
    }
    for (const statement of statements ?? []) {
      additions.statements.push({
        id: statement.id,
        entryId: id,
        clientId,
        recordedBy: statement.recordedBy,
        text: Buffer.from(statement.text, 'base64') as StatementRow['text'],
        createdAt: new Date(statement.createdAt),
      });
    }
    for (const amendment of ofEntry ?? []) {
      amendments.push({
        id: amendment.id,
        entryId: id,
        clientId,
        authorId: amendment.authorId,
        notes: Buffer.from(amendment.notes, 'base64') as AmendmentRow['notes'],
        reason: Buffer.from(amendment.reason, 'base64') as AmendmentRow['reason'],
        createdAt: new Date(amendment.createdAt),
      });
    }
  }
  const { clientClinicId, kekId, wrapped } = first;
  return {
    client: { clinicId: clientClinicId },
    key: kekId !== null && wrapped !== null ? { kekId, wrapped } : null,
    entries,
    additions,
  };
}
