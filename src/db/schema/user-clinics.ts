import { pgTable, primaryKey, uuid } from 'drizzle-orm/pg-core';
import { clinics } from './clinics.js';
import { users } from './users.js';

export const userClinics = pgTable(
  'user_clinics',
  {
    userId: uuid('user_id')
      .notNull()
      .references(() => users.id, { onDelete: 'cascade' }),
    clinicId: uuid('clinic_id')
      .notNull()
      .references(() => clinics.id),
  },
  (table) => [primaryKey({ columns: [table.userId, table.clinicId] })],
);
