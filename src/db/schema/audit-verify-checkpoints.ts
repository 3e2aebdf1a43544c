import { bigint, pgTable, text, timestamp } from 'drizzle-orm/pg-core';
import { bytea } from './columns.js';

/** Heads a whole-chain verify reached with nothing wrong (audit.checkpoints.ts). Append-only. */
export const auditVerifyCheckpoints = pgTable('audit_verify_checkpoints', {
  position: bigint('position', { mode: 'bigint' }).primaryKey(),
  link: bytea('link').notNull(),
  keyId: text('key_id').notNull(),
  mac: bytea('mac').notNull(),
  verifiedAt: timestamp('verified_at', { withTimezone: true }).notNull(),
});
