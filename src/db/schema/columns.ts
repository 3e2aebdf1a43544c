import { customType } from 'drizzle-orm/pg-core';

/** drizzle-orm has no bytea column type; ciphertexts, hashes and wrapped keys use this. */
export const bytea = customType<{ data: Buffer; driverData: Buffer }>({
  dataType: () => 'bytea',
});
