import { integer, pgTable, text, timestamp } from 'drizzle-orm/pg-core';
import { bytea } from './columns.js';

/** The audit chain's HMAC key per version, wrapped under a master key (src/crypto/client-keys.ts). */
export const auditChainKeys = pgTable('audit_chain_keys', {
  version: integer('version').primaryKey(),
  kekId: text('kek_id').notNull(),
  wrapped: bytea('wrapped').notNull(),
  createdAt: timestamp('created_at', { withTimezone: true }).notNull().defaultNow(),
  rewrappedAt: timestamp('rewrapped_at', { withTimezone: true }),
});
