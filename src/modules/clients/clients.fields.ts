import {
  jsonField,
  textField,
  type ClientCipher,
  type ClientKeys,
  type EncryptedField,
  type Sealed,
} from '../../crypto/index.js';
import type { Executor } from '../../db/pool.js';
import type { ClientRow, NewClientRow } from './clients.repository.js';
import type { Address, Client, CreateClientInput } from './clients.schemas.js';

/** Where each personal field of a client row is sealed (bound into its ciphertext). */
export const CLIENT_FIELDS = {
  firstName: textField('clients', 'first_name_enc'),
  lastName: textField('clients', 'last_name_enc'),
  dateOfBirth: textField('clients', 'date_of_birth_enc'),
  nationalId: textField('clients', 'national_id_enc'),
  email: textField('clients', 'email_enc'),
  phone: textField('clients', 'phone_enc'),
  address: jsonField<Address>('clients', 'address_enc'),
  legalHoldReason: textField('clients', 'legal_hold_reason_enc'),
  restrictionReason: textField('clients', 'restriction_reason_enc'),
} as const;

/** A client row as the API shows it, its personal fields opened. */
export function presentClient(cipher: ClientCipher, row: ClientRow): Client {
  const open = <T>(field: EncryptedField<T>, sealed: Sealed<T> | null): T | null =>
    sealed === null ? null : cipher.open(field, row.id, sealed);
  return {
    id: row.id,
    clinicId: row.clinicId,
    firstName: cipher.open(CLIENT_FIELDS.firstName, row.id, row.firstName),
    lastName: cipher.open(CLIENT_FIELDS.lastName, row.id, row.lastName),
    dateOfBirth: cipher.open(CLIENT_FIELDS.dateOfBirth, row.id, row.dateOfBirth),
    nationalId: open(CLIENT_FIELDS.nationalId, row.nationalId),
    email: open(CLIENT_FIELDS.email, row.email),
    phone: open(CLIENT_FIELDS.phone, row.phone),
    address: open(CLIENT_FIELDS.address, row.address),
    // While processing is restricted no marketing may go out, whatever the preference.
    marketingOptIn: row.marketingOptIn && !row.restricted,
    restricted: row.restricted,
    createdAt: row.createdAt.toISOString(),
    updatedAt: row.updatedAt.toISOString(),
  };
}

/** Seals what is given; `null` clears a field, `undefined` leaves it alone. */
export function sealClientChanges(
  cipher: ClientCipher,
  id: string,
  input: Partial<CreateClientInput>,
): Partial<NewClientRow> {
  const changes: Partial<NewClientRow> = {};
  const sealOptional = <T>(field: EncryptedField<T>, value: T | null): Sealed<T> | null =>
    value === null ? null : cipher.seal(field, id, value);
  if (input.firstName !== undefined)
    changes.firstName = cipher.seal(CLIENT_FIELDS.firstName, id, input.firstName);
  if (input.lastName !== undefined)
    changes.lastName = cipher.seal(CLIENT_FIELDS.lastName, id, input.lastName);
  if (input.dateOfBirth !== undefined) {
    changes.dateOfBirth = cipher.seal(CLIENT_FIELDS.dateOfBirth, id, input.dateOfBirth);
  }
  if (input.nationalId !== undefined) {
    changes.nationalId = sealOptional(CLIENT_FIELDS.nationalId, input.nationalId);
  }
  if (input.email !== undefined) changes.email = sealOptional(CLIENT_FIELDS.email, input.email);
  if (input.phone !== undefined) changes.phone = sealOptional(CLIENT_FIELDS.phone, input.phone);
  if (input.address !== undefined) {
    changes.address = sealOptional(CLIENT_FIELDS.address, input.address);
  }
  return changes;
}

/**
 * The blind indexes of what is given (`null` clears one). Computed before a transaction
 * opens: the index key is loaded through the pool on first use (and again after a failed
 * load), so computing it inside a transaction waited for a second connection while holding
 * one, and with as many concurrent writes as the pool has connections none ever came (every
 * create then answered 503 after the connect timeout).
 */
export async function clientIndexes(
  keys: Pick<ClientKeys<Executor>, 'blindIndex'>,
  input: Partial<CreateClientInput>,
): Promise<Partial<NewClientRow>> {
  const indexes: Partial<NewClientRow> = {};
  if (input.nationalId !== undefined) {
    indexes.nationalIdIndex =
      input.nationalId === null ? null : await keys.blindIndex('nationalId', input.nationalId);
  }
  if (input.email !== undefined) {
    indexes.emailIndex = input.email === null ? null : await keys.blindIndex('email', input.email);
  }
  if (input.phone !== undefined) {
    indexes.phoneIndex = input.phone === null ? null : await keys.blindIndex('phone', input.phone);
  }
  return indexes;
}
