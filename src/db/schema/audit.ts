import { sql } from 'drizzle-orm';
import { bigint, boolean, customType, pgTable, text, timestamp, uuid } from 'drizzle-orm/pg-core';
import { bytea } from './columns.js';

/** PostgreSQL's 64-bit transaction id (pg_current_xact_id()), carried as a decimal string. */
const xid8 = customType<{ data: string; driverData: string }>({ dataType: () => 'xid8' });

/** Append-only (migrations/0004_audit.sql): written by the audit door, never changed. */
export const auditEvents = pgTable('audit_events', {
  id: uuid('id').primaryKey(),
  seq: bigint('seq', { mode: 'bigint' })
    .notNull()
    .default(sql`nextval('audit_events_seq')`),
  at: timestamp('at', { withTimezone: true }).notNull(),
  actorId: uuid('actor_id'),
  actorRole: text('actor_role'),
  action: text('action').notNull(),
  outcome: text('outcome').notNull(),
  resourceType: text('resource_type'),
  resourceId: text('resource_id'),
  clientId: uuid('client_id'),
  requestId: text('request_id'),
  ip: text('ip'),
  userAgent: text('user_agent'),
  breakGlass: boolean('break_glass').notNull().default(false),
  reason: text('reason'),
  purposeOfUse: text('purpose_of_use'),
  xid: xid8('xid')
    .notNull()
    .default(sql`pg_current_xact_id()`),
});

/** The tamper-evident chain over audit_events, written by the sealer only. */
export const auditChain = pgTable('audit_chain', {
  position: bigint('position', { mode: 'bigint' }).primaryKey(),
  eventId: uuid('event_id').notNull().unique(),
  eventXid: xid8('event_xid').notNull(),
  eventSeq: bigint('event_seq', { mode: 'bigint' }).notNull(),
  keyId: text('key_id').notNull(),
  link: bytea('link').notNull(),
  sealedAt: timestamp('sealed_at', { withTimezone: true }).notNull().defaultNow(),
});
