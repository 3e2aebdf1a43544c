import { pgTable, text, timestamp, uuid } from 'drizzle-orm/pg-core';
import { bytea } from './columns.js';

/** One wrapped data key per client (src/crypto/client-keys.ts); deleting a row shreds a client. */
export const clientDataKeys = pgTable('client_data_keys', {
  clientId: uuid('client_id').primaryKey(),
  kekId: text('kek_id').notNull(),
  wrapped: bytea('wrapped').notNull(),
  createdAt: timestamp('created_at', { withTimezone: true }).notNull().defaultNow(),
  rewrappedAt: timestamp('rewrapped_at', { withTimezone: true }),
});
