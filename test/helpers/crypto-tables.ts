import { randomBytes } from 'node:crypto';
import { pgTable, uuid } from 'drizzle-orm/pg-core';
import type pg from 'pg';
import { jsonField, textField } from '../../src/crypto/index.js';
import { blindIndexColumn, encrypted } from '../../src/db/schema/columns.js';
import { uuidv7 } from '../../src/db/ids.js';

export interface Address {
  street: string;
  postalCode: string;
  city: string;
  country: string;
}

/**
 * A stand-in for the clients table (built later by another module), declared the way a
 * domain declares its personal fields: encrypted columns and a blind index.
 */
export const people = pgTable('crypto_test_people', {
  id: uuid('id').primaryKey(),
  clientId: uuid('client_id').notNull(),
  emailEnc: encrypted('email_enc').notNull(),
  addressEnc: encrypted<Address>('address_enc').notNull(),
  emailIndex: blindIndexColumn('email_bidx').notNull(),
});

export const EMAIL = textField('crypto_test_people', 'email_enc');
export const ADDRESS = jsonField<Address>('crypto_test_people', 'address_enc');

export async function createPeopleTable(pool: pg.Pool): Promise<void> {
  await pool.query(`CREATE TABLE crypto_test_people (
    id uuid PRIMARY KEY,
    client_id uuid NOT NULL,
    email_enc bytea NOT NULL,
    address_enc bytea NOT NULL,
    email_bidx bytea NOT NULL
  )`);
}

export const newId = () => uuidv7();
export const newKey = () => randomBytes(32);
