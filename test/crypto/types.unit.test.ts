import t from 'tap';
import type { Database } from '../../src/db/pool.js';
import type { BlindIndex, ClientCipher } from '../../src/crypto/index.js';
import { ADDRESS, EMAIL, people } from '../helpers/crypto-tables.js';

/**
 * Compile-time guarantees, checked by `tsc --noEmit` (npm run check): a personal field cannot
 * be written as plaintext, and a sealed value opens only as what its field holds. Never run.
 */
export function typeChecks(db: Database, cipher: ClientCipher, id: string, index: BlindIndex) {
  const row = {
    id,
    clientId: id,
    emailEnc: cipher.seal(EMAIL, id, 'anna@example.dk'),
    addressEnc: cipher.seal(ADDRESS, id, {
      street: 's',
      postalCode: 'p',
      city: 'c',
      country: 'DK',
    }),
    emailIndex: index,
  };
  void db.insert(people).values(row); // the well-typed row compiles
  // @ts-expect-error a plain string is not a sealed value
  void db.insert(people).values({ ...row, emailEnc: 'anna@example.dk' });
  // @ts-expect-error nor is an arbitrary buffer
  void db.insert(people).values({ ...row, emailEnc: Buffer.from('x') });
  // @ts-expect-error nor is an unbranded buffer a blind index
  void db.insert(people).values({ ...row, emailIndex: Buffer.alloc(32) });
  // @ts-expect-error a text field seals a string, not an object
  cipher.seal(EMAIL, id, { street: 'x' });
  // @ts-expect-error an address field seals an address
  cipher.seal(ADDRESS, id, 'Nørregade 1');
  const sealed = cipher.seal(EMAIL, id, 'anna@example.dk');
  // @ts-expect-error an email sealed value cannot go into the address column
  void db.update(people).set({ addressEnc: sealed });
  const email: string = cipher.open(EMAIL, id, sealed);
  return email;
}

t.pass('checked by the type checker');
