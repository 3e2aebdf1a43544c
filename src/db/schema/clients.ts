import { integer, boolean, pgTable, timestamp, uuid } from 'drizzle-orm/pg-core';
import { blindIndexColumn, encrypted } from './columns.js';
import { clinics } from './clinics.js';

/** A postal address as sealed in `address_enc` (the API validates it: clients.schemas.ts). */
export interface StoredAddress {
  street: string;
  postalCode: string;
  city: string;
  country: string;
}

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
  address: encrypted<StoredAddress>('address_enc'),
  emailIndex: blindIndexColumn('email_bidx'),
  phoneIndex: blindIndexColumn('phone_bidx'),
  nationalIdIndex: blindIndexColumn('national_id_bidx'),
  marketingOptIn: boolean('marketing_opt_in').notNull().default(false),
  legalHold: boolean('legal_hold').notNull().default(false),
  legalHoldReason: encrypted('legal_hold_reason_enc'),
  legalHoldSince: timestamp('legal_hold_since', { withTimezone: true }),
  /** Restriction of processing (GDPR Art. 18): out of lists, searches, recalls, marketing. */
  restricted: boolean('restricted').notNull().default(false),
  restrictionReason: encrypted('restriction_reason_enc'),
  restrictionChangedAt: timestamp('restriction_changed_at', { withTimezone: true }),
  createdAt: timestamp('created_at', { withTimezone: true }).notNull().defaultNow(),
  updatedAt: timestamp('updated_at', { withTimezone: true }).notNull().defaultNow(),
  erasedAt: timestamp('erased_at', { withTimezone: true }),
  /** Bumped by every change; the client's ETag (migrations/0017). */
  version: integer('version').notNull().default(1),
});
