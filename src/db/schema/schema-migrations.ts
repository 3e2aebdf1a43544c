import { pgTable, text, timestamp } from 'drizzle-orm/pg-core';

/** Which files of migrations/ are applied; written only by the migrator. */
export const schemaMigrations = pgTable('schema_migrations', {
  name: text('name').primaryKey(),
  checksum: text('checksum').notNull(),
  appliedAt: timestamp('applied_at', { withTimezone: true }).notNull().defaultNow(),
});
