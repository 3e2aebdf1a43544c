import { boolean, pgTable, timestamp, uuid } from 'drizzle-orm/pg-core';
import { blindIndexColumn, encrypted } from './columns.js';
import { clients } from './clients.js';
import { clinics } from './clinics.js';
import { consents } from './consents.js';
import { users } from './users.js';

export interface JournalProduct {
  name: string;
  batchNumber: string;
  quantity: number | null;
  unit: string | null;
}

/** Journal entries: written once, never changed (a trigger refuses UPDATE and DELETE). */
export const journalEntries = pgTable('journal_entries', {
  id: uuid('id').primaryKey(),
  clientId: uuid('client_id')
    .notNull()
    .references(() => clients.id),
  clinicId: uuid('clinic_id')
    .notNull()
    .references(() => clinics.id),
  authorId: uuid('author_id')
    .notNull()
    .references(() => users.id),
  consentId: uuid('consent_id')
    .notNull()
    .references(() => consents.id),
  treatmentType: encrypted('treatment_type_enc').notNull(),
  performedAt: timestamp('performed_at', { withTimezone: true }).notNull(),
  notes: encrypted('notes_enc').notNull(),
  treatedAreas: encrypted<string[]>('treated_areas_enc'),
  products: encrypted<JournalProduct[]>('products_enc'),
  recordedLate: boolean('recorded_late').notNull(),
  createdAt: timestamp('created_at', { withTimezone: true }).notNull(),
});

/** Corrections beside the original entry; also append-only. */
export const journalAmendments = pgTable('journal_amendments', {
  id: uuid('id').primaryKey(),
  entryId: uuid('entry_id')
    .notNull()
    .references(() => journalEntries.id),
  clientId: uuid('client_id')
    .notNull()
    .references(() => clients.id),
  authorId: uuid('author_id')
    .notNull()
    .references(() => users.id),
  notes: encrypted('notes_enc').notNull(),
  reason: encrypted('reason_enc').notNull(),
  createdAt: timestamp('created_at', { withTimezone: true }).notNull(),
});

/** Batch numbers of the products used, as blind indexes only, for recalls. */
export const journalProducts = pgTable('journal_products', {
  id: uuid('id').primaryKey(),
  entryId: uuid('entry_id')
    .notNull()
    .references(() => journalEntries.id),
  clientId: uuid('client_id')
    .notNull()
    .references(() => clients.id),
  clinicId: uuid('clinic_id')
    .notNull()
    .references(() => clinics.id),
  batchIndex: blindIndexColumn('batch_bidx').notNull(),
  performedAt: timestamp('performed_at', { withTimezone: true }).notNull(),
});
