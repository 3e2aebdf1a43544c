import { randomBytes } from 'node:crypto';
import fc from 'fast-check';
import t from 'tap';
import { NONCE_BYTES, openBytes, sealBytes, associatedData } from '../../src/crypto/envelope.js';
import {
  DecryptionFailed,
  createLocalKeyring,
  jsonField,
  masterKeyId,
  textField,
} from '../../src/crypto/index.js';
import { fieldAad, openField, sealField } from '../../src/crypto/fields.js';

const key = randomBytes(32);
const email = textField('clients', 'email_enc');
const phone = textField('clients', 'phone_enc');
const address = jsonField<{ street: string; postalCode: string; city: string; country: string }>(
  'clients',
  'address_enc',
);
const rowId = '01900000-0000-7000-8000-0000000000aa';
const otherRow = '01900000-0000-7000-8000-0000000000bb';

/** Runs `open` and says whether it failed the one generic way, with nothing else leaking. */
function failsGenerically(open: () => unknown): boolean {
  try {
    open();
    return false;
  } catch (error) {
    return (
      error instanceof DecryptionFailed &&
      error.message === 'The encrypted value could not be opened.' &&
      error.cause === undefined
    );
  }
}

t.test('round trips: text (any unicode, empty) and JSON objects', async (t) => {
  for (const value of ['', 'anna@example.dk', 'Søren Ærø Øster 🙂', 'x'.repeat(10_000)]) {
    t.equal(openField(key, email, rowId, sealField(key, email, rowId, value)), value);
  }
  const home = { street: 'Nørregade 1', postalCode: '7100', city: 'Vejle', country: 'DK' };
  t.same(openField(key, address, rowId, sealField(key, address, rowId, home)), home);
  fc.assert(
    fc.property(fc.string({ unit: 'grapheme', maxLength: 200 }), (value) => {
      return openField(key, email, rowId, sealField(key, email, rowId, value)) === value;
    }),
    { numRuns: 2000 },
  );
  fc.assert(
    fc.property(fc.jsonValue(), (value) => {
      const json = jsonField<unknown>('t', 'c');
      const opened = openField(key, json, rowId, sealField(key, json, rowId, value));
      return JSON.stringify(opened) === JSON.stringify(value);
    }),
    { numRuns: 1000 },
  );
});

t.test('the envelope: version byte, 12-byte nonce, 16-byte tag, ciphertext', async (t) => {
  const sealed = sealField(key, email, rowId, 'abc');
  t.equal(sealed[0], 1);
  t.equal(sealed.length, 1 + 12 + 16 + 3);
  t.notOk(sealed.includes(Buffer.from('abc')), 'no plaintext inside');
});

t.test('any single-bit change anywhere in an envelope fails to open', async (t) => {
  fc.assert(
    fc.property(fc.string({ maxLength: 64 }), fc.nat(), (value, position) => {
      const sealed = sealField(key, email, rowId, value);
      const bit = position % (sealed.length * 8);
      const tampered = Buffer.from(sealed);
      tampered[bit >> 3]! ^= 1 << (bit & 7);
      return failsGenerically(() => openField(key, email, rowId, tampered));
    }),
    { numRuns: 5000 },
  );
  t.pass('5000 flipped bits, 5000 generic failures');
});

t.test('truncated or extended envelopes fail, a short tag included', async (t) => {
  fc.assert(
    fc.property(fc.string({ maxLength: 64 }), fc.nat(), (value, cut) => {
      const sealed = sealField(key, email, rowId, value);
      const length = cut % sealed.length;
      return failsGenerically(() => openField(key, email, rowId, sealed.subarray(0, length)));
    }),
    { numRuns: 2000 },
  );
  const sealed = sealField(key, email, rowId, '');
  // A 12-byte tag (GCM allows it) must not be accepted: the envelope is then too short.
  t.ok(failsGenerically(() => openField(key, email, rowId, sealed.subarray(0, 1 + 12 + 12))));
  t.ok(
    failsGenerically(() => openField(key, email, rowId, Buffer.concat([sealed, Buffer.from([0])]))),
    'an appended byte',
  );
});

t.test('cut and paste: another row, column, table or codec fails', async (t) => {
  const sealed = sealField(key, email, rowId, 'anna@example.dk');
  t.ok(
    failsGenerically(() => openField(key, email, otherRow, sealed)),
    'other row',
  );
  t.ok(
    failsGenerically(() => openField(key, phone, rowId, sealed)),
    'column',
  );
  const journal = textField('journal_entries', 'email_enc');
  t.ok(
    failsGenerically(() => openField(key, journal, rowId, sealed)),
    'table',
  );
  const json = jsonField<string>('clients', 'email_enc');
  t.ok(
    failsGenerically(() => openField(key, json, rowId, sealed)),
    'codec',
  );
  t.ok(
    failsGenerically(() => openField(randomBytes(32), email, rowId, sealed)),
    'wrong key',
  );
});

t.test('associated data cannot be made ambiguous by moving a separator', async (t) => {
  t.not(
    associatedData('field', ['ab', 'c']).toString('hex'),
    associatedData('field', ['a', 'bc']).toString('hex'),
  );
  const sealed = sealBytes(key, Buffer.from('x'), associatedData('field', ['ab', 'c']));
  t.ok(failsGenerically(() => openBytes(key, sealed, associatedData('field', ['a', 'bc']))));
});

t.test('nonces never repeat over 10^6 seals', async (t) => {
  const seen = new Set<string>();
  const plaintext = Buffer.alloc(1);
  const aad = associatedData('field', ['t', 'c', 'text', rowId]);
  for (let i = 0; i < 1_000_000; i++) {
    const sealed = sealBytes(key, plaintext, aad);
    seen.add(sealed.toString('latin1', 1, 1 + NONCE_BYTES));
  }
  t.equal(seen.size, 1_000_000);
});

t.test('keyring: fingerprint ids, context-bound wrapping, retirement', async (t) => {
  const k1 = randomBytes(32);
  const k2 = randomBytes(32);
  t.match(masterKeyId(k1), /^mk1:[0-9a-f]{16}$/);
  t.equal(masterKeyId(k1), masterKeyId(Buffer.from(k1)), 'same key, same id, no config');
  t.not(masterKeyId(k1), masterKeyId(k2));
  t.notMatch(masterKeyId(k1), k1.toString('hex').slice(0, 8), 'the id is not the key');

  const old = createLocalKeyring(k1);
  const dataKey = randomBytes(32);
  const { kekId, wrapped } = await old.wrap(dataKey, 'client:a');
  t.equal(kekId, masterKeyId(k1));
  t.same(await old.unwrap(kekId, wrapped, 'client:a'), dataKey);
  await t.rejects(old.unwrap(kekId, wrapped, 'client:b'), DecryptionFailed, 'other context');

  const rotated = createLocalKeyring(k2, [k1]);
  t.equal(rotated.currentId, masterKeyId(k2));
  t.ok(rotated.has(kekId));
  t.same(await rotated.unwrap(kekId, wrapped, 'client:a'), dataKey, 'old version still opens');
  await t.rejects(
    rotated.unwrap(rotated.currentId, wrapped, 'client:a'),
    DecryptionFailed,
    'the kek id is bound too',
  );

  const retired = createLocalKeyring(k2);
  t.notOk(retired.has(kekId));
  await t.rejects(retired.unwrap(kekId, wrapped, 'client:a'), DecryptionFailed, 'retired');
});

t.test('the cached field prefix gives the same associated data, byte for byte', async (t) => {
  fc.assert(
    fc.property(
      fc.string({ minLength: 1 }),
      fc.string({ minLength: 1 }),
      fc.constantFrom('text' as const, 'json' as const),
      fc.string({ minLength: 1, unit: 'grapheme' }),
      (table, column, codec, id) => {
        const field = codec === 'text' ? textField(table, column) : jsonField(table, column);
        const expected = associatedData('field', [table, column, codec, id]);
        // Twice: the first call fills the cache, the second reads it.
        return fieldAad(field, id).equals(expected) && fieldAad(field, id).equals(expected);
      },
    ),
  );
  // A value sealed with the associated data spelled out opens through the field.
  const sealed = sealBytes(
    key,
    Buffer.from('anna@example.dk'),
    associatedData('field', ['clients', 'email_enc', 'text', rowId]),
  );
  t.equal(openField(key, email, rowId, sealed), 'anna@example.dk');
  t.ok(
    failsGenerically(() => openField(key, phone, rowId, sealed)),
    'another field: no',
  );
  t.ok(
    failsGenerically(() => openField(key, email, otherRow, sealed)),
    'another row: no',
  );
});

t.test('one shared decoder: a field that fails to decode does not spoil the next', async (t) => {
  const bad = sealBytes(
    key,
    Buffer.from([0xe2, 0x82]), // a truncated UTF-8 sequence
    associatedData('field', ['clients', 'email_enc', 'text', rowId]),
  );
  t.ok(failsGenerically(() => openField(key, email, rowId, bad)));
  t.equal(openField(key, email, rowId, sealField(key, email, rowId, 'æøå')), 'æøå');
});
