import { jsonField, textField, type ClientCipher } from '../../crypto/index.js';
import type { JournalProduct } from '../../db/schema/journal.js';
import type { AmendmentRow, EntryRow } from './journal.repository.js';
import type { Amendment, Entry } from './journal.schemas.js';

/** Where each clinical part of the journal is sealed (under the client's data key). */
export const JOURNAL_FIELDS = {
  treatmentType: textField('journal_entries', 'treatment_type_enc'),
  notes: textField('journal_entries', 'notes_enc'),
  treatedAreas: jsonField<string[]>('journal_entries', 'treated_areas_enc'),
  products: jsonField<JournalProduct[]>('journal_entries', 'products_enc'),
  amendmentNotes: textField('journal_amendments', 'notes_enc'),
  amendmentReason: textField('journal_amendments', 'reason_enc'),
} as const;

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

/** An entry as the API shows it, with those of `amendments` that belong to it. */
export function presentEntry(
  cipher: ClientCipher,
  row: EntryRow,
  amendments: readonly AmendmentRow[],
): Entry {
  return {
    id: row.id,
    clientId: row.clientId,
    authorId: row.authorId,
    consentId: row.consentId,
    treatmentType: cipher.open(JOURNAL_FIELDS.treatmentType, row.id, row.treatmentType),
    performedAt: row.performedAt.toISOString(),
    notes: cipher.open(JOURNAL_FIELDS.notes, row.id, row.notes),
    treatedAreas: row.treatedAreas
      ? cipher.open(JOURNAL_FIELDS.treatedAreas, row.id, row.treatedAreas)
      : [],
    products: row.products ? cipher.open(JOURNAL_FIELDS.products, row.id, row.products) : [],
    recordedLate: row.recordedLate,
    createdAt: row.createdAt.toISOString(),
    amendments: amendments
      .filter((amendment) => amendment.entryId === row.id)
      .map((amendment) => presentAmendment(cipher, amendment)),
  };
}
