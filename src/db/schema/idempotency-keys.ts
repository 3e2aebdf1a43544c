import { pgTable, smallint, timestamp, unique, uuid } from 'drizzle-orm/pg-core';
import { bytea } from './columns.js';

/** Retry-safe writes (migrations/0016): a caller's Idempotency-Key and the answer it got. */
export const idempotencyKeys = pgTable(
  'idempotency_keys',
  {
    id: uuid('id').primaryKey(),
    actorId: uuid('actor_id').notNull(),
    keyHash: bytea('key_hash').notNull(),
    requestHash: bytea('request_hash').notNull(),
    clientId: uuid('client_id'),
    status: smallint('status').notNull(),
    /** The answer's JSON body, sealed under the client's data key; null when none is kept. */
    responseEnc: bytea('response_enc'),
    /**
     * A write of no client (user, clinic, template): the resource written, re-read on replay
     * (migrations/0029); null otherwise.
     */
    resourceId: uuid('resource_id'),
    createdAt: timestamp('created_at', { withTimezone: true }).notNull().defaultNow(),
    expiresAt: timestamp('expires_at', { withTimezone: true }).notNull(),
  },
  (table) => [unique().on(table.actorId, table.keyHash)],
);
