import t from 'tap';
import { DecryptionFailed, createLocalKeyring, masterKeyId } from '../../src/crypto/index.js';
import { createDatabase } from '../../src/db/pool.js';
import { createTestDatabase } from '../helpers/db.js';
import { runCli } from '../helpers/process.js';
import {
  ADDRESS,
  EMAIL,
  createPeopleTable,
  newId,
  newKey,
  people,
} from '../helpers/crypto-tables.js';
import { createDatabaseClientKeys } from '../../src/db/key-store.js';

/** `npm run cli -- rotate-master-key ...` as a real process against the test database. */
async function rotateMasterKey(env: Record<string, string>, args: string[] = []) {
  const result = await runCli('rotate-master-key', args, env);
  return { code: result.code, stdout: `${result.stdout}${result.stderr}` };
}

t.test('rotate-master-key re-wraps every key, then the old key can be retired', async (t) => {
  const database = await createTestDatabase(t);
  await createPeopleTable(database.pool);
  const db = createDatabase(database.pool);
  const k0 = newKey();
  const k1 = newKey();
  const before = createDatabaseClientKeys({ db, keyring: createLocalKeyring(k0) });
  const index = await before.blindIndex('email', 'anna@example.dk');
  const ids: string[] = [];
  for (let i = 0; i < 30; i++) {
    const id = newId();
    ids.push(id);
    await db.transaction(async (tx) => {
      const cipher = await before.createForClient(tx, id);
      await tx.insert(people).values({
        id,
        clientId: id,
        emailEnc: cipher.seal(EMAIL, id, `person${i}@example.dk`),
        addressEnc: cipher.seal(ADDRESS, id, {
          street: 's',
          postalCode: '1',
          city: 'c',
          country: 'DK',
        }),
        emailIndex: await before.blindIndex('email', `person${i}@example.dk`),
      });
    });
  }

  const env = {
    DATABASE_URL: database.url,
    MASTER_KEY: k1.toString('base64'),
    MASTER_KEYS_OLD: k0.toString('base64'),
  };
  const first = await rotateMasterKey(env, ['--batch-size', '7']);
  t.equal(first.code, 0, first.stdout);
  t.match(first.stdout, `rotating to master key ${masterKeyId(k1)} in batches of 7`);
  t.match(
    first.stdout,
    /dataKey pass 1: 7 re-wrapped, 0 unreadable\ndataKey pass 1: 14 re-wrapped/,
    'progress per batch and kind',
  );
  t.match(
    first.stdout,
    / {2}dataKey: 30 re-wrapped, 0 unreadable, 0 remaining/,
    'a count per kind',
  );
  t.match(first.stdout, / {2}indexRoot: 1 re-wrapped, 0 unreadable, 0 remaining/);
  t.match(first.stdout, /done: 31 key\(s\) re-wrapped .*; 0 remain/, '30 data keys + index root');
  t.notMatch(first.stdout, k0.toString('base64'), 'no key material printed');
  t.notMatch(first.stdout, k1.toString('base64'));

  const { rows } = await database.pool.query<{ kek_id: string; n: number }>(
    'SELECT kek_id, count(*)::int AS n FROM client_data_keys GROUP BY kek_id',
  );
  t.same(rows, [{ kek_id: masterKeyId(k1), n: 30 }]);

  // Retire k0: the new key alone opens everything and finds the same blind index.
  const after = createDatabaseClientKeys({ db, keyring: createLocalKeyring(k1) });
  t.same(await after.blindIndex('email', 'anna@example.dk'), index);
  const row = (await db.select().from(people)).find((person) => person.id === ids[3]);
  t.equal(
    (await after.cipherFor(db, ids[3]!)).open(EMAIL, ids[3]!, row!.emailEnc),
    'person3@example.dk',
  );
  await t.rejects(
    createDatabaseClientKeys({ db, keyring: createLocalKeyring(k0) }).cipherFor(db, ids[3]!),
    DecryptionFailed,
    'the retired key no longer opens anything',
  );

  const again = await rotateMasterKey(env);
  t.equal(again.code, 0);
  t.match(again.stdout, /done: 0 key\(s\) re-wrapped/, 'idempotent');

  // A key wrapped under a master key nobody configured: reported, and the exit code says so.
  const lost = newId();
  await createDatabaseClientKeys({ db, keyring: createLocalKeyring(newKey()) }).createForClient(
    db,
    lost,
  );
  const partial = await rotateMasterKey(env);
  t.equal(partial.code, 1);
  t.match(partial.stdout, /1 remain .*1 cannot be unwrapped/);

  const bad = await rotateMasterKey(env, ['--batch-size', 'lots']);
  t.equal(bad.code, 2);

  const audited = await database.pool.query<{ outcome: string; resource_id: string }>(
    "SELECT outcome, resource_id FROM audit_events WHERE action = 'keys.rotate' ORDER BY seq",
  );
  t.same(
    audited.rows.map((row) => row.outcome),
    ['success', 'success', 'failure'],
    'every run is audited, a partial one as a failure',
  );
  t.ok(audited.rows.every((row) => row.resource_id === masterKeyId(k1)));
});
