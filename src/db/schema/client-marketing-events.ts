import { boolean, pgTable, timestamp, uuid } from 'drizzle-orm/pg-core';
import { clients } from './clients.js';

/** Every change of a client's newsletter opt-in, with when and who. */
export const clientMarketingEvents = pgTable('client_marketing_events', {
  id: uuid('id').primaryKey(),
  clientId: uuid('client_id')
    .notNull()
    .references(() => clients.id),
  optIn: boolean('opt_in').notNull(),
  actorId: uuid('actor_id'),
  at: timestamp('at', { withTimezone: true }).notNull().defaultNow(),
});
