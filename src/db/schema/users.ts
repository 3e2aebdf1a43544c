import { boolean, integer, pgTable, text, timestamp, uuid } from 'drizzle-orm/pg-core';
import { bytea } from './columns.js';

export const users = pgTable('users', {
  id: uuid('id').primaryKey(),
  username: text('username').notNull(),
  displayName: text('display_name').notNull(),
  role: text('role', { enum: ['reception', 'practitioner', 'auditor', 'admin'] }).notNull(),
  passwordHash: text('password_hash').notNull(),
  disabled: boolean('disabled').notNull().default(false),
  /** Wrapped by the keyring (app.keys.sealSecret) under the master-key version totp_kek_id. */
  totpSecret: bytea('totp_secret'),
  totpKekId: text('totp_kek_id'),
  totpRewrappedAt: timestamp('totp_rewrapped_at', { withTimezone: true }),
  totpConfirmedAt: timestamp('totp_confirmed_at', { withTimezone: true }),
  createdAt: timestamp('created_at', { withTimezone: true }).notNull().defaultNow(),
  updatedAt: timestamp('updated_at', { withTimezone: true }).notNull().defaultNow(),
  /** The Danish autorisations-ID (5 letters or digits, upper-case), or null. */
  authorisationId: text('authorisation_id'),
  profession: text('profession'),
  /** Bumped by every change of the user (migrations/0029): its strong ETag. */
  version: integer('version').notNull().default(1),
});
