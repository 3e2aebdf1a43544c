import { jsonField, textField, type ClientCipher } from '../../crypto/index.js';
import type { JournalDraftContent, JournalProduct } from '../../db/schema/journal.js';
import type {
  AmendmentRow,
  CountersignatureRow,
  EntryErrorRow,
  EntryRow,
  StatementRow,
} from './journal.repository.js';
import type { Amendment, Entry, Statement } from './journal.schemas.js';

/** Where each clinical part of the journal is sealed (under the client's data key). */
export const JOURNAL_FIELDS = {
  treatmentType: textField('journal_entries', 'treatment_type_enc'),
  notes: textField('journal_entries', 'notes_enc'),
  treatedAreas: jsonField<string[]>('journal_entries', 'treated_areas_enc'),
  products: jsonField<JournalProduct[]>('journal_entries', 'products_enc'),
  amendmentNotes: textField('journal_amendments', 'notes_enc'),
  amendmentReason: textField('journal_amendments', 'reason_enc'),
  statementText: textField('journal_statements', 'text_enc'),
  errorReason: textField('journal_entry_errors', 'reason_enc'),
  draftContent: jsonField<JournalDraftContent>('journal_drafts', 'content_enc'),
} as const;

/** What was added beside entries since they were written (each row names its entry). */
export interface EntryAdditions {
  amendments: readonly AmendmentRow[];
  statements: readonly StatementRow[];
  countersignatures: readonly CountersignatureRow[];
  errors: readonly EntryErrorRow[];
}

export const NO_ADDITIONS: EntryAdditions = {
  amendments: [],
  statements: [],
  countersignatures: [],
  errors: [],
};

export function presentStatement(cipher: ClientCipher, row: StatementRow): Statement {
  return {
    id: row.id,
    entryId: row.entryId,
    text: cipher.open(JOURNAL_FIELDS.statementText, row.id, row.text),
    recordedBy: row.recordedBy,
    createdAt: row.createdAt.toISOString(),
  };
}

export function presentAmendment(cipher: ClientCipher, row: AmendmentRow): Amendment {
  return {
    id: row.id,
    entryId: row.entryId,
    authorId: row.authorId,
    notes: cipher.open(JOURNAL_FIELDS.amendmentNotes, row.id, row.notes),
    reason: cipher.open(JOURNAL_FIELDS.amendmentReason, row.id, row.reason),
    createdAt: row.createdAt.toISOString(),
  };
}

/** An entry as the API shows it, with those of the additions that belong to it. */
export function presentEntry(
  cipher: ClientCipher,
  row: EntryRow,
  additions: EntryAdditions = NO_ADDITIONS,
): Entry {
  const countersignature = additions.countersignatures.find((c) => c.entryId === row.id);
  const error = additions.errors.find((e) => e.entryId === row.id);
  const products = row.products ? cipher.open(JOURNAL_FIELDS.products, row.id, row.products) : [];
  return {
    id: row.id,
    clientId: row.clientId,
    authorId: row.authorId,
    performedBy: row.performedBy ?? row.authorId,
    responsibleId: row.responsibleId,
    consentId: row.consentId,
    treatmentType: cipher.open(JOURNAL_FIELDS.treatmentType, row.id, row.treatmentType),
    performedAt: row.performedAt.toISOString(),
    notes: cipher.open(JOURNAL_FIELDS.notes, row.id, row.notes),
    treatedAreas: row.treatedAreas
      ? cipher.open(JOURNAL_FIELDS.treatedAreas, row.id, row.treatedAreas)
      : [],
    products: products.map((product) => ({ ...product, supplier: product.supplier ?? null })),
    recordedLate: row.recordedLate,
    createdAt: row.createdAt.toISOString(),
    status: error ? 'entered-in-error' : 'final',
    countersignedBy: countersignature?.countersignedBy ?? null,
    countersignedAt: countersignature?.countersignedAt.toISOString() ?? null,
    enteredInError: error
      ? {
          by: error.markedBy,
          at: error.markedAt.toISOString(),
          reason: cipher.open(JOURNAL_FIELDS.errorReason, row.id, error.reason),
        }
      : null,
    amendments: additions.amendments
      .filter((amendment) => amendment.entryId === row.id)
      .map((amendment) => presentAmendment(cipher, amendment)),
    statements: additions.statements
      .filter((statement) => statement.entryId === row.id)
      .map((statement) => presentStatement(cipher, statement)),
  };
}
