import { bigint, integer, pgTable, primaryKey, text, timestamp, uuid } from 'drizzle-orm/pg-core';
import { bytea, encrypted } from './columns.js';
import { clients } from './clients.js';
import { clinics } from './clinics.js';
import { consents } from './consents.js';
import { journalEntries } from './journal.js';
import { users } from './users.js';

export const ATTACHMENT_KINDS = ['photo', 'document', 'consent-scan'] as const;
export const ATTACHMENT_TYPES = [
  'image/jpeg',
  'image/png',
  'image/heic',
  'application/pdf',
] as const;

/** Attachment metadata; the content lives in a store (attachment_chunks, or S3), sealed. */
export const attachments = pgTable('attachments', {
  id: uuid('id').primaryKey(),
  clientId: uuid('client_id')
    .notNull()
    .references(() => clients.id),
  clinicId: uuid('clinic_id')
    .notNull()
    .references(() => clinics.id),
  kind: text('kind', { enum: ATTACHMENT_KINDS }).notNull(),
  contentType: text('content_type', { enum: ATTACHMENT_TYPES }).notNull(),
  size: bigint('size', { mode: 'number' }).notNull(),
  chunkCount: integer('chunk_count').notNull(),
  sha256: encrypted('sha256_enc').notNull(),
  width: integer('width'),
  height: integer('height'),
  entryId: uuid('entry_id').references(() => journalEntries.id),
  consentId: uuid('consent_id').references(() => consents.id),
  takenAt: timestamp('taken_at', { withTimezone: true }),
  caption: encrypted('caption_enc'),
  createdBy: uuid('created_by')
    .notNull()
    .references(() => users.id),
  createdAt: timestamp('created_at', { withTimezone: true }).notNull(),
});

/** The PostgreSQL attachment store: sealed chunks, one row each. */
export const attachmentChunks = pgTable(
  'attachment_chunks',
  {
    attachmentId: uuid('attachment_id')
      .notNull()
      .references(() => attachments.id, { onDelete: 'cascade' }),
    idx: integer('idx').notNull(),
    data: bytea('data').notNull(),
  },
  (t) => [primaryKey({ columns: [t.attachmentId, t.idx] })],
);
