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
  /** The last supplier (the Tattoo Act §9 for inks); absent on entries written before it. */
  supplier?: string | null;
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
  /** Null on entries written before performers were recorded: the author performed them. */
  performedBy: uuid('performed_by').references(() => users.id),
  responsibleId: uuid('responsible_id').references(() => users.id),
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

/** The responsible practitioner's countersignature of a delegated entry (once). */
export const journalCountersignatures = pgTable('journal_countersignatures', {
  entryId: uuid('entry_id')
    .primaryKey()
    .references(() => journalEntries.id),
  clientId: uuid('client_id')
    .notNull()
    .references(() => clients.id),
  countersignedBy: uuid('countersigned_by')
    .notNull()
    .references(() => users.id),
  countersignedAt: timestamp('countersigned_at', { withTimezone: true }).notNull(),
});

/** An entry written on the wrong client: kept, marked, out of the way (once). */
export const journalEntryErrors = pgTable('journal_entry_errors', {
  entryId: uuid('entry_id')
    .primaryKey()
    .references(() => journalEntries.id),
  clientId: uuid('client_id')
    .notNull()
    .references(() => clients.id),
  markedBy: uuid('marked_by')
    .notNull()
    .references(() => users.id),
  markedAt: timestamp('marked_at', { withTimezone: true }).notNull(),
  reason: encrypted('reason_enc').notNull(),
});

/** The client's own words beside an entry (GDPR Art. 16 by addition); never changed. */
export const journalStatements = pgTable('journal_statements', {
  id: uuid('id').primaryKey(),
  entryId: uuid('entry_id')
    .notNull()
    .references(() => journalEntries.id),
  clientId: uuid('client_id')
    .notNull()
    .references(() => clients.id),
  recordedBy: uuid('recorded_by')
    .notNull()
    .references(() => users.id),
  text: encrypted('text_enc').notNull(),
  createdAt: timestamp('created_at', { withTimezone: true }).notNull(),
});

/** What a draft holds: any subset of an entry's fields. */
export interface JournalDraftContent {
  treatmentType?: string;
  performedAt?: string;
  notes?: string;
  treatedAreas?: string[];
  products?: JournalProduct[];
  performedBy?: string;
  responsibleId?: string;
}

/** A practitioner's unsigned draft; its content sealed as one value. */
export const journalDrafts = pgTable('journal_drafts', {
  id: uuid('id').primaryKey(),
  clientId: uuid('client_id')
    .notNull()
    .references(() => clients.id),
  authorId: uuid('author_id')
    .notNull()
    .references(() => users.id),
  content: encrypted<JournalDraftContent>('content_enc').notNull(),
  createdAt: timestamp('created_at', { withTimezone: true }).notNull(),
  updatedAt: timestamp('updated_at', { withTimezone: true }).notNull(),
});
