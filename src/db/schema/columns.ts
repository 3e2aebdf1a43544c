import { customType } from 'drizzle-orm/pg-core';
import type { BlindIndex, Sealed } from '../../crypto/sealed.js';

/** drizzle-orm has no bytea column type; ciphertexts, hashes and wrapped keys use this. */
export const bytea = customType<{ data: Buffer; driverData: Buffer }>({
  dataType: () => 'bytea',
});

/**
 * An encrypted personal field: `bytea`, typed `Sealed<T>`, so the schema itself refuses
 * plaintext. `email: encrypted('email_enc')`, `address: encrypted<Address>('address_enc')`.
 */
export function encrypted<T = string>(name: string) {
  return customType<{ data: Sealed<T>; driverData: Buffer }>({
    dataType: () => 'bytea',
    fromDriver: (value) => value as Sealed<T>,
  })(name);
}

/** A blind index (`bytea`, 32 bytes), typed so only an index fits. */
export function blindIndexColumn(name: string) {
  return customType<{ data: BlindIndex; driverData: Buffer }>({
    dataType: () => 'bytea',
    fromDriver: (value) => value as BlindIndex,
  })(name);
}
