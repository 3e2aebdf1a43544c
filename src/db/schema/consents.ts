import { sql } from 'drizzle-orm';
import { pgTable, text, timestamp, uuid } from 'drizzle-orm/pg-core';
import { encrypted } from './columns.js';
import { clients } from './clients.js';
import { clinics } from './clinics.js';
import { consentTemplates } from './consent-templates.js';
import { users } from './users.js';

/** Signed consents; personal parts sealed under the client's data key. */
export const consents = pgTable('consents', {
  id: uuid('id').primaryKey(),
  clientId: uuid('client_id')
    .notNull()
    .references(() => clients.id),
  clinicId: uuid('clinic_id')
    .notNull()
    .references(() => clinics.id),
  templateId: uuid('template_id')
    .notNull()
    .references(() => consentTemplates.id),
  signerName: encrypted('signer_name_enc').notNull(),
  signatureImage: encrypted('signature_image_enc'),
  answers: encrypted<Record<string, unknown>>('answers_enc'),
  signedAt: timestamp('signed_at', { withTimezone: true }).notNull(),
  recordedAt: timestamp('recorded_at', { withTimezone: true }).notNull(),
  witnessedBy: uuid('witnessed_by')
    .notNull()
    .references(() => users.id),
  /** Only on rows signed before migration 0010 (cleared on erasure); since then sealed. */
  documentHash: text('document_hash'),
  documentHashEnc: encrypted('document_hash_enc'),
  status: text('status', { enum: ['active', 'withdrawn'] })
    .notNull()
    .default('active'),
  withdrawnAt: timestamp('withdrawn_at', { withTimezone: true }),
  withdrawnBy: uuid('withdrawn_by').references(() => users.id),
  withdrawalReason: encrypted('withdrawal_reason_enc'),
  informedBy: uuid('informed_by').references(() => users.id),
  informedAt: timestamp('informed_at', { withTimezone: true }),
  photoScopes: text('photo_scopes', { enum: ['clinical', 'marketing'] })
    .array()
    .notNull()
    .default(sql`'{}'`),
  expiresAt: timestamp('expires_at', { withTimezone: true }),
});
