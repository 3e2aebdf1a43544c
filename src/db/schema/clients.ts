import { boolean, pgTable, timestamp, uuid } from 'drizzle-orm/pg-core';
import { blindIndexColumn, encrypted } from '../../crypto/index.js';
import type { Address } from '../../modules/clients/clients.schemas.js';
import { clinics } from './clinics.js';

export const clients = pgTable('clients', {
  id: uuid('id').primaryKey(),
  clinicId: uuid('clinic_id')
    .notNull()
    .references(() => clinics.id),
  firstName: encrypted('first_name_enc').notNull(),
  lastName: encrypted('last_name_enc').notNull(),
  dateOfBirth: encrypted('date_of_birth_enc').notNull(),
  nationalId: encrypted('national_id_enc'),
  email: encrypted('email_enc'),
  phone: encrypted('phone_enc'),
  address: encrypted<Address>('address_enc'),
  emailIndex: blindIndexColumn('email_bidx'),
  phoneIndex: blindIndexColumn('phone_bidx'),
  nationalIdIndex: blindIndexColumn('national_id_bidx'),
  marketingOptIn: boolean('marketing_opt_in').notNull().default(false),
  legalHold: boolean('legal_hold').notNull().default(false),
  legalHoldReason: encrypted('legal_hold_reason_enc'),
  legalHoldSince: timestamp('legal_hold_since', { withTimezone: true }),
  createdAt: timestamp('created_at', { withTimezone: true }).notNull().defaultNow(),
  updatedAt: timestamp('updated_at', { withTimezone: true }).notNull().defaultNow(),
  erasedAt: timestamp('erased_at', { withTimezone: true }),
});
