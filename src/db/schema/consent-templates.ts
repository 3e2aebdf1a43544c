import { sql } from 'drizzle-orm';
import { boolean, integer, pgTable, text, timestamp, unique, uuid } from 'drizzle-orm/pg-core';
import { users } from './users.js';

/** Published consent texts (plaintext: not personal data); rows never change. */
export const consentTemplates = pgTable(
  'consent_templates',
  {
    id: uuid('id').primaryKey(),
    key: text('key').notNull(),
    version: integer('version').notNull(),
    title: text('title').notNull(),
    body: text('body').notNull(),
    bodyHash: text('body_hash').notNull(),
    treatmentTypes: text('treatment_types').array().notNull(),
    language: text('language').notNull(),
    minimumAge: integer('minimum_age'),
    coolingOffHours: integer('cooling_off_hours'),
    requiresAuthorisation: boolean('requires_authorisation').notNull().default(false),
    inkRecordRequired: boolean('ink_record_required').notNull().default(false),
    retentionYears: integer('retention_years'),
    validForDays: integer('valid_for_days'),
    reconsentRequired: boolean('reconsent_required').notNull().default(false),
    photoScopes: text('photo_scopes', { enum: ['clinical', 'marketing'] })
      .array()
      .notNull()
      .default(sql`'{}'`),
    createdBy: uuid('created_by')
      .notNull()
      .references(() => users.id),
    createdAt: timestamp('created_at', { withTimezone: true }).notNull().defaultNow(),
  },
  (table) => [unique().on(table.key, table.version)],
);
