import { z } from 'zod';
import { dateTimeInput, freeText, singleLine } from '../../schemas/text.js';
import { normaliseBatchNumber } from '../../crypto/index.js';
import { pageQuerySchema } from '../../schemas/page.js';
import { treatmentTypeSchema } from '../templates/templates.schemas.js';

/** Single-line text (a name, an area, a unit). */
const text = (max: number) => singleLine(z.string().trim().min(1, 'must not be empty').max(max));
/** Free text (notes, a reason): tab, CR and LF allowed. */
const prose = (max: number) => freeText(z.string().trim().min(1, 'must not be empty').max(max));

export const productSchema = z
  .strictObject({
    name: text(200),
    batchNumber: text(100).refine(
      (value) => normaliseBatchNumber(value) !== null,
      'must be a batch number',
    ),
    quantity: z.number().positive().max(1_000_000).optional(),
    unit: text(20).optional(),
    supplier: text(200)
      .optional()
      .describe('The last supplier (for inks the Tattoo Act §9 requires it)'),
  })
  .meta({ id: 'JournalProductInput' });

/** An entry's fields, shared by a direct write and a draft (where each is optional). */
const entryFields = {
  treatmentType: treatmentTypeSchema,
  performedAt: dateTimeInput(),
  notes: prose(20_000),
  treatedAreas: z.array(text(100)).max(50).optional(),
  products: z.array(productSchema).max(50).optional(),
  performedBy: z
    .uuid()
    .optional()
    .describe(
      "Who performed the treatment (default: the caller); a practitioner of the client's clinic",
    ),
  responsibleId: z
    .uuid()
    .optional()
    .describe(
      "The authorised practitioner of the client's clinic responsible for a delegated treatment",
    ),
};

export const createEntrySchema = z.strictObject(entryFields).meta({
  id: 'JournalEntryCreate',
  requestExample: {
    treatmentType: 'botox',
    performedAt: '2026-01-15T10:30:00Z',
    notes: 'Glabella 20 E; no bruising.',
    treatedAreas: ['glabella'],
    products: [{ name: 'Botox 100 E', batchNumber: 'C3709C3', quantity: 20, unit: 'E' }],
  },
});

export type CreateEntryInput = z.output<typeof createEntrySchema>;

export const createAmendmentSchema = z
  .strictObject({ notes: prose(20_000), reason: prose(1000) })
  .meta({
    id: 'JournalAmendmentCreate',
    requestExample: { notes: 'Glabella 15 E, not 20 E.', reason: 'Dose recorded wrongly' },
  });

export type CreateAmendmentInput = z.output<typeof createAmendmentSchema>;

export const amendmentSchema = z
  .object({
    id: z.uuid(),
    entryId: z.uuid(),
    authorId: z.uuid(),
    notes: z.string(),
    reason: z.string(),
    createdAt: z.iso.datetime(),
  })
  .meta({ id: 'JournalAmendment' });

export const statementSchema = z
  .object({
    id: z.uuid(),
    entryId: z.uuid(),
    text: z.string().describe("The client's own words"),
    recordedBy: z.uuid(),
    createdAt: z.iso.datetime(),
  })
  .meta({ id: 'JournalStatement' });

export const createStatementSchema = z.strictObject({ text: text(20_000) }).meta({
  id: 'JournalStatementCreate',
  requestExample: { text: 'I was told about bruising, not about the swelling.' },
});

export const enteredInErrorSchema = z.strictObject({ reason: text(1000) }).meta({
  id: 'JournalEnteredInError',
  requestExample: { reason: 'Written on the wrong client' },
});

export const entrySchema = z
  .object({
    id: z.uuid(),
    clientId: z.uuid(),
    authorId: z.uuid().describe('Who entered (signed) it'),
    performedBy: z.uuid().describe('Who performed the treatment'),
    responsibleId: z
      .uuid()
      .nullable()
      .describe('The authorised practitioner responsible for a delegated treatment'),
    consentId: z.uuid().describe('The consent the treatment relied on'),
    treatmentType: z.string(),
    performedAt: z.iso.datetime(),
    notes: z.string(),
    treatedAreas: z.array(z.string()),
    products: z.array(
      z.object({
        name: z.string(),
        batchNumber: z.string(),
        quantity: z.number().nullable(),
        unit: z.string().nullable(),
        supplier: z.string().nullable(),
      }),
    ),
    recordedLate: z
      .boolean()
      .describe('Written (signed) more than LATE_ENTRY_HOURS (default 24) after performedAt'),
    createdAt: z.iso.datetime(),
    status: z.enum(['final', 'entered-in-error']),
    countersignedBy: z.uuid().nullable(),
    countersignedAt: z.iso.datetime().nullable(),
    enteredInError: z
      .object({ by: z.uuid(), at: z.iso.datetime(), reason: z.string() })
      .nullable()
      .describe('Set when the entry was written on the wrong client'),
    amendments: z.array(amendmentSchema).describe('Oldest first'),
    statements: z.array(statementSchema).describe('Oldest first'),
  })
  .meta({ id: 'JournalEntry' });

export type Entry = z.output<typeof entrySchema>;
export type Amendment = z.output<typeof amendmentSchema>;
export type Statement = z.output<typeof statementSchema>;

export const entryPageSchema = z
  .object({ items: z.array(entrySchema), nextCursor: z.string().nullable() })
  .meta({ id: 'JournalEntryPage' });

export const clientJournalParams = z.strictObject({ id: z.uuid() });
export const entryParams = z.strictObject({ id: z.uuid(), entryId: z.uuid() });
export const listEntriesQuery = pageQuerySchema.extend({
  includeEnteredInError: z
    .enum(['true', 'false'])
    .default('false')
    .transform((value) => value === 'true')
    .describe('Also list entries marked entered-in-error'),
});

/** A draft: any subset of an entry's fields (API.md "Journal", drafts). */
export const createDraftSchema = z
  .strictObject(entryFields)
  .partial()
  .meta({
    id: 'JournalDraftCreate',
    requestExample: { treatmentType: 'botox', notes: 'Glabella: started, 10 E so far.' },
  });
export type CreateDraftInput = z.output<typeof createDraftSchema>;

/** A change of a draft: the fields given replace the draft's; `null` removes one. */
export const updateDraftSchema = z
  .strictObject({
    treatmentType: entryFields.treatmentType.nullable(),
    performedAt: entryFields.performedAt.nullable(),
    notes: entryFields.notes.nullable(),
    treatedAreas: entryFields.treatedAreas.unwrap().nullable(),
    products: entryFields.products.unwrap().nullable(),
    performedBy: entryFields.performedBy.unwrap().nullable(),
    responsibleId: entryFields.responsibleId.unwrap().nullable(),
  })
  .partial()
  .refine((body) => Object.keys(body).length > 0, 'name at least one field to change')
  .meta({ id: 'JournalDraftUpdate', requestExample: { notes: 'Glabella 20 E; no bruising.' } });
export type UpdateDraftInput = z.output<typeof updateDraftSchema>;

const draftFieldsOut = {
  treatmentType: z.string().optional(),
  performedAt: z.iso.datetime({ offset: true }).optional(),
  notes: z.string().optional(),
  treatedAreas: z.array(z.string()).optional(),
  products: z
    .array(
      z.object({
        name: z.string(),
        batchNumber: z.string(),
        quantity: z.number().nullable(),
        unit: z.string().nullable(),
        supplier: z.string().nullable(),
      }),
    )
    .optional(),
  performedBy: z.uuid().optional(),
  responsibleId: z.uuid().optional(),
};

export const draftSchema = z
  .object({
    id: z.uuid(),
    clientId: z.uuid(),
    authorId: z.uuid(),
    ...draftFieldsOut,
    createdAt: z.iso.datetime(),
    updatedAt: z.iso.datetime(),
  })
  .meta({ id: 'JournalDraft', description: 'Not yet part of the record' });
export type Draft = z.output<typeof draftSchema>;

/** The caller's drafts as a work list: no clinical text. */
export const draftSummarySchema = z
  .object({
    id: z.uuid(),
    clientId: z.uuid(),
    treatmentType: z.string().nullable(),
    performedAt: z.iso.datetime({ offset: true }).nullable(),
    createdAt: z.iso.datetime(),
    updatedAt: z.iso.datetime(),
  })
  .meta({ id: 'JournalDraftSummary' });
export type DraftSummary = z.output<typeof draftSummarySchema>;
export const draftSummaryPageSchema = z
  .object({ items: z.array(draftSummarySchema), nextCursor: z.string().nullable() })
  .meta({ id: 'JournalDraftSummaryPage' });

export const draftParams = z.strictObject({ id: z.uuid(), draftId: z.uuid() });
