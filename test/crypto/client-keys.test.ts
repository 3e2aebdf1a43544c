import { eq } from 'drizzle-orm';
import t, { type Test } from 'tap';
import {
  DataKeyNotFound,
  DecryptionFailed,
  InvalidIndexValue,
  createDataKeyCache,
  createLocalKeyring,
  masterKeyId,
  type ClientKeys,
  type KeyEncryptionKeys,
} from '../../src/crypto/index.js';
import { createDatabase, type Database } from '../../src/db/pool.js';
import { clientDataKeys } from '../../src/db/schema/index.js';
import { createTestDatabase } from '../helpers/db.js';
import {
  ADDRESS,
  EMAIL,
  createPeopleTable,
  newId,
  newKey,
  people,
  type Address,
} from '../helpers/crypto-tables.js';
import { createDatabaseClientKeys } from '../../src/db/key-store.js';

const home: Address = { street: 'Nørregade 1', postalCode: '7100', city: 'Vejle', country: 'DK' };

async function setup(t: Test) {
  const database = await createTestDatabase(t);
  await createPeopleTable(database.pool);
  const db = createDatabase(database.pool);
  const service = (keyring: KeyEncryptionKeys, cache = createDataKeyCache()) =>
    createDatabaseClientKeys({ db, keyring, cache });
  return { database, db, service };
}

/** Creates a client key and one person row in one transaction, as the clients module will. */
async function createPerson(db: Database, keys: ClientKeys, email: string, address = home) {
  const clientId = newId();
  const emailIndex = await keys.blindIndex('email', email);
  await db.transaction(async (tx) => {
    const cipher = await keys.createForClient(tx, clientId);
    await tx.insert(people).values({
      id: clientId,
      clientId,
      emailEnc: cipher.seal(EMAIL, clientId, email),
      addressEnc: cipher.seal(ADDRESS, clientId, address),
      emailIndex,
    });
  });
  return clientId;
}

async function readPerson(db: Database, keys: ClientKeys, clientId: string) {
  const [row] = await db.select().from(people).where(eq(people.id, clientId));
  if (!row) throw new Error('no such row');
  const cipher = await keys.cipherFor(db, clientId);
  return {
    email: cipher.open(EMAIL, row.id, row.emailEnc),
    address: cipher.open(ADDRESS, row.id, row.addressEnc),
  };
}

t.test('a client key commits with its row, or not at all', async (t) => {
  const { db, service } = await setup(t);
  const k0 = newKey();
  const keys = service(createLocalKeyring(k0));
  const clientId = await createPerson(db, keys, 'anna@example.dk');

  const fresh = service(createLocalKeyring(k0));
  t.same(await readPerson(db, fresh, clientId), { email: 'anna@example.dk', address: home });

  const [stored] = await db
    .select()
    .from(clientDataKeys)
    .where(eq(clientDataKeys.clientId, clientId));
  t.equal(stored?.kekId, masterKeyId(k0), 'kek id recorded');
  t.equal(stored?.wrapped.length, 1 + 12 + 16 + 32, 'only the wrapped key is stored');

  const rolledBack = newId();
  await t.rejects(
    db.transaction(async (tx) => {
      const cipher = await keys.createForClient(tx, rolledBack);
      t.ok(await keys.cipherFor(tx, rolledBack), 'usable inside the transaction');
      cipher.seal(EMAIL, rolledBack, 'x');
      throw new Error('the client insert failed');
    }),
    /client insert failed/,
  );
  await t.rejects(fresh.cipherFor(db, rolledBack), DataKeyNotFound, 'no key after rollback');
  // The same id created again gets a new key, never the one cached inside the rolled-back tx.
  await db.transaction(async (tx) => {
    const cipher = await keys.createForClient(tx, rolledBack);
    await tx.insert(people).values({
      id: rolledBack,
      clientId: rolledBack,
      emailEnc: cipher.seal(EMAIL, rolledBack, 'retry@example.dk'),
      addressEnc: cipher.seal(ADDRESS, rolledBack, home),
      emailIndex: await keys.blindIndex('email', 'retry@example.dk'),
    });
  });
  t.equal((await readPerson(db, keys, rolledBack)).email, 'retry@example.dk');
});

t.test('a wrapped key or a ciphertext moved to another client fails', async (t) => {
  const { db, service } = await setup(t);
  const k0 = newKey();
  const keys = service(createLocalKeyring(k0));
  const anna = await createPerson(db, keys, 'anna@example.dk');
  const bo = await createPerson(db, keys, 'bo@example.dk');

  const [annaRow] = await db.select().from(people).where(eq(people.id, anna));
  const boCipher = await keys.cipherFor(db, bo);
  t.throws(() => boCipher.open(EMAIL, anna, annaRow!.emailEnc), DecryptionFailed, 'other key');
  const annaCipher = await keys.cipherFor(db, anna);
  t.throws(() => annaCipher.open(EMAIL, bo, annaRow!.emailEnc), DecryptionFailed, 'other row');
  t.throws(
    () => annaCipher.open(ADDRESS, anna, annaRow!.emailEnc),
    DecryptionFailed,
    'other column',
  );

  await t.rejects(
    service(createLocalKeyring(newKey())).cipherFor(db, bo),
    DecryptionFailed,
    'a keyring without the master key',
  );
  // Copy Anna's wrapped key over Bo's: it is bound to Anna's id, so it will not unwrap as Bo's.
  const [annaKey] = await db.select().from(clientDataKeys).where(eq(clientDataKeys.clientId, anna));
  await db
    .update(clientDataKeys)
    .set({ wrapped: annaKey!.wrapped })
    .where(eq(clientDataKeys.clientId, bo));
  await t.rejects(
    service(createLocalKeyring(k0)).cipherFor(db, bo),
    DecryptionFailed,
    'wrapped key bound to its client',
  );
});

t.test('crypto-shredding: after destroy nothing opens, whatever the cache', async (t) => {
  const { db, service } = await setup(t);
  const k0 = newKey();
  let now = 0;
  const clock = () => now;
  const keys = service(createLocalKeyring(k0), createDataKeyCache({ now: clock }));
  const other = service(createLocalKeyring(k0), createDataKeyCache({ now: clock }));
  const anna = await createPerson(db, keys, 'anna@example.dk');
  const bo = await createPerson(db, keys, 'bo@example.dk');
  await readPerson(db, keys, anna); // cached here
  await readPerson(db, other, anna); // and in another process

  // Destroy inside a transaction that rolls back: the key survives.
  await t.rejects(
    db.transaction(async (tx) => {
      t.equal(await keys.destroy(tx, anna), true);
      throw new Error('erasure aborted');
    }),
  );
  t.equal((await readPerson(db, keys, anna)).email, 'anna@example.dk', 'rolled back: still there');

  t.equal(await db.transaction((tx) => keys.destroy(tx, anna)), true);
  t.equal(await keys.destroy(db, anna), false, 'a second destroy finds nothing');
  await t.rejects(readPerson(db, keys, anna), DataKeyNotFound, 'this process: gone at once');
  await t.rejects(
    readPerson(db, service(createLocalKeyring(k0)), anna),
    DataKeyNotFound,
    'a fresh cache: gone',
  );
  // Another process keeps its cached key for at most the cache lifetime (60 s).
  now += 60_000;
  await t.rejects(readPerson(db, other, anna), DataKeyNotFound, 'the other process, after 60 s');
  t.equal((await readPerson(db, keys, bo)).email, 'bo@example.dk', 'other clients unaffected');
});

t.test('blind indexes: normalised, per kind, stable across services and rotation', async (t) => {
  const { service } = await setup(t);
  const k0 = newKey();
  const k1 = newKey();
  const a = service(createLocalKeyring(k0));
  const b = service(createLocalKeyring(k0));
  const email = await a.blindIndex('email', 'Anna@Example.dk');
  t.equal(email.length, 32);
  t.same(await b.blindIndex('email', '  anna@example.DK '), email, 'another process, same index');
  t.same(await a.blindIndex('phone', '12 34 56 78'), await b.blindIndex('phone', '+45 12345678'));
  t.same(await a.blindIndex('phone', '0045-1234-5678'), await a.blindIndex('phone', '12345678'));
  t.same(
    await a.blindIndex('nationalId', '010190-1234'),
    await a.blindIndex('nationalId', '0101901234'),
  );
  t.same(await a.blindIndex('batchNumber', ' ab 123 '), await a.blindIndex('batchNumber', 'AB123'));
  t.notSame(
    await a.blindIndex('batchNumber', 'anna@example.dk'),
    await a.blindIndex('email', 'anna@example.dk'),
    'each kind has its own key',
  );
  await t.rejects(a.blindIndex('nationalId', '320190-1234'), InvalidIndexValue);
  await t.rejects(a.blindIndex('phone', 'not a phone'), InvalidIndexValue);

  const rotated = service(createLocalKeyring(k1, [k0]));
  t.same(await rotated.blindIndex('email', 'anna@example.dk'), email, 'rotated keyring');
  const result = await rotated.rewrapAll();
  t.equal(result.rewrapped, 1, 'the index root is re-wrapped');
  t.same(
    await service(createLocalKeyring(k1)).blindIndex('email', 'anna@example.dk'),
    email,
    'after the old master key is retired',
  );

  const elsewhere = await setup(t);
  t.notSame(
    await elsewhere.service(createLocalKeyring(k0)).blindIndex('email', 'anna@example.dk'),
    email,
    'another database has its own random index root',
  );
});

t.test('retirement is real: a key wrapped only under a retired version fails', async (t) => {
  const { db, service } = await setup(t);
  const k0 = newKey();
  const k1 = newKey();
  const anna = await createPerson(db, service(createLocalKeyring(k0)), 'anna@example.dk');

  await t.rejects(
    readPerson(db, service(createLocalKeyring(k1)), anna),
    DecryptionFailed,
    'retired before the re-wrap: unreadable',
  );
  const rotating = service(createLocalKeyring(k1, [k0]));
  t.equal((await readPerson(db, rotating, anna)).email, 'anna@example.dk', 'old version opens');
  const result = await rotating.rewrapAll({ batchSize: 1 });
  t.match(result, { kekId: masterKeyId(k1), rewrapped: 2, unreadable: 0, remaining: 0 });
  t.equal(
    (await readPerson(db, service(createLocalKeyring(k1)), anna)).email,
    'anna@example.dk',
    're-wrapped: the new key alone opens it',
  );
  await t.rejects(
    readPerson(db, service(createLocalKeyring(k0)), anna),
    DecryptionFailed,
    'and the retired key alone no longer does',
  );
  t.match(await rotating.rewrapAll(), { rewrapped: 0, remaining: 0 }, 'a second run: nothing');
});

t.test('rotation under load: no failure for live data while the key rotates 3 times', async (t) => {
  const { db, service } = await setup(t);
  const masterKeys = [newKey(), newKey(), newKey(), newKey()];
  // Each process is deployed knowing every key first (MASTER_KEYS_OLD), then switched: the
  // two-step roll-out of the README, so old and new processes can read each other's keys.
  const fleet = masterKeys.map((current) =>
    service(
      createLocalKeyring(
        current,
        masterKeys.filter((key) => key !== current),
      ),
      createDataKeyCache({ ttlMs: 50 }),
    ),
  );
  let deployed = 1;
  const pick = () => fleet[Math.floor(Math.random() * deployed)]!;
  const expected = new Map<string, string>();
  for (let i = 0; i < 200; i++) {
    const email = `seed${i}@example.dk`;
    expected.set(await createPerson(db, fleet[0]!, email), email);
  }

  const failures: unknown[] = [];
  let operations = 0;
  let rotating = true;
  async function worker() {
    while (rotating || operations < 2000) {
      operations += 1;
      try {
        const roll = Math.random();
        if (roll < 0.2) {
          const email = `live${operations}@example.dk`;
          expected.set(await createPerson(db, pick(), email), email);
        } else {
          const ids = [...expected.keys()];
          const id = ids[Math.floor(Math.random() * ids.length)]!;
          const read = await readPerson(db, pick(), id);
          if (read.email !== expected.get(id)) failures.push(new Error('wrong value'));
        }
      } catch (error) {
        failures.push(error);
      }
    }
  }
  async function rotate() {
    try {
      for (let version = 1; version < masterKeys.length; version++) {
        deployed = version + 1;
        await fleet[version]!.rewrapAll({ batchSize: 25 });
      }
    } finally {
      rotating = false;
    }
  }
  await Promise.all([rotate(), worker(), worker(), worker(), worker(), worker()]);
  t.same(failures, [], `no failure in ${operations} operations during 3 rotations`);

  // Every process now runs the newest key; one last run picks up keys created meanwhile by
  // processes still on an older one; then the old versions are retired.
  const last = fleet[masterKeys.length - 1]!;
  t.match(await last.rewrapAll(), { remaining: 0, unreadable: 0 });
  const retired = service(createLocalKeyring(masterKeys.at(-1)!));
  let opened = 0;
  for (const [id, email] of expected) {
    if ((await readPerson(db, retired, id)).email === email) opened += 1;
  }
  t.equal(opened, expected.size, 'every client opens with the newest key alone');
});
