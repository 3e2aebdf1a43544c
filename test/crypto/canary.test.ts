import t from 'tap';
import { ADDRESS, EMAIL, createPeopleTable, newId, people } from '../helpers/crypto-tables.js';
import { buildTestApp } from '../helpers/app.js';
import { textField } from '../../src/crypto/index.js';
import { pgTable, uuid } from 'drizzle-orm/pg-core';
import { encrypted } from '../../src/db/schema/columns.js';

const NAME = textField('crypto_test_notes', 'name_enc');
const NATIONAL_ID = textField('crypto_test_notes', 'national_id_enc');
const notes = pgTable('crypto_test_notes', {
  id: uuid('id').primaryKey(),
  nameEnc: encrypted('name_enc').notNull(),
  nationalIdEnc: encrypted('national_id_enc').notNull(),
});

/** Every form in which a leaked value could show up in a text dump of the database. */
function forms(value: string): string[] {
  const bytes = Buffer.from(value, 'utf8');
  return [
    value,
    value.toLowerCase(),
    bytes.toString('hex'),
    bytes.toString('base64').replace(/=+$/, ''),
    bytes.toString('base64url'),
  ];
}

t.test('canary: personal values stored through the door never appear in a dump', async (t) => {
  const { app, db } = await buildTestApp(t);
  await createPeopleTable(db.pool);
  await db.pool.query(
    'CREATE TABLE crypto_test_notes (id uuid PRIMARY KEY, name_enc bytea NOT NULL, national_id_enc bytea NOT NULL)',
  );
  const canary = {
    email: 'canary.qz7wk3@kanariefugl.example',
    name: 'Kanariefugl Østergaard-Qz7wk3',
    nationalId: '2704837319',
    street: 'Kanarievej 77 Qz7wk3',
  };
  const clientId = newId();
  await app.db.transaction(async (tx) => {
    const cipher = await app.keys.createForClient(tx, clientId);
    await tx.insert(people).values({
      id: clientId,
      clientId,
      emailEnc: cipher.seal(EMAIL, clientId, canary.email),
      addressEnc: cipher.seal(ADDRESS, clientId, {
        street: canary.street,
        postalCode: '7100',
        city: 'Vejle',
        country: 'DK',
      }),
      emailIndex: await app.keys.blindIndex('email', canary.email),
    });
    await tx.insert(notes).values({
      id: clientId,
      nameEnc: cipher.seal(NAME, clientId, canary.name),
      nationalIdEnc: cipher.seal(NATIONAL_ID, clientId, canary.nationalId),
    });
  });

  // Stored, and readable through the door.
  const cipher = await app.keys.cipherFor(app.db, clientId);
  const [note] = await app.db.select().from(notes);
  t.equal(cipher.open(NAME, clientId, note!.nameEnc), canary.name);

  const { rows: tables } = await db.pool.query<{ schema: string; name: string }>(
    `SELECT schemaname AS schema, tablename AS name FROM pg_tables
      WHERE schemaname NOT IN ('pg_catalog', 'information_schema')`,
  );
  t.ok(tables.some((table) => table.name === 'client_data_keys'));
  let dump = '';
  for (const table of tables) {
    const { rows } = await db.pool.query<{ row: string }>(
      `SELECT row_to_json(t)::text AS row FROM "${table.schema}"."${table.name}" t`,
    );
    dump += `${table.name}\n${rows.map((row) => row.row).join('\n')}\n`;
  }
  t.match(dump, /crypto_test_notes/);
  t.ok(dump.length > 500, 'the dump holds the sealed rows');
  const haystack = dump.toLowerCase();
  for (const [label, value] of Object.entries(canary)) {
    for (const form of forms(value)) {
      t.notOk(haystack.includes(form.toLowerCase()), `${label} absent as ${form}`);
    }
  }
  t.notOk(haystack.includes('270483-7319'), 'CPR with its dash absent too');
});
