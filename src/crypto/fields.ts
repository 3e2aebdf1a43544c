import { associatedData, openBytes, sealBytes } from './envelope.js';
import { DecryptionFailed } from './errors.js';
import type { Sealed } from './sealed.js';

export type { BlindIndex, Sealed } from './sealed.js';

/**
 * Where a sealed value lives. It is bound into the ciphertext (with the row id), so a value
 * copied to another table, column or row fails to open.
 */
export interface EncryptedField<T> {
  readonly table: string;
  readonly column: string;
  readonly codec: 'text' | 'json';
  /** Type-level only: what the field opens to. */
  readonly __value?: T;
}

export function textField(table: string, column: string): EncryptedField<string> {
  return Object.freeze({ table, column, codec: 'text' as const });
}

/** A JSON-serialisable value (e.g. an address object); it opens to what JSON.parse gives. */
export function jsonField<T>(table: string, column: string): EncryptedField<T> {
  return Object.freeze({ table, column, codec: 'json' as const });
}

/** The field's part of its associated data, computed once per field (fields are constants). */
const aadPrefixes = new WeakMap<EncryptedField<unknown>, Buffer>();

/**
 * `associatedData('field', [table, column, codec, rowId])`, byte for byte, without building
 * the field's constant part again for every value (a journal page opens dozens of fields).
 */
export function fieldAad(field: EncryptedField<unknown>, rowId: string): Buffer {
  if (rowId === '') throw new Error('a sealed field needs its row id');
  let prefix = aadPrefixes.get(field);
  if (!prefix) {
    prefix = associatedData('field', [field.table, field.column, field.codec]);
    aadPrefixes.set(field, prefix);
  }
  const idLength = Buffer.byteLength(rowId, 'utf8');
  const aad = Buffer.allocUnsafe(prefix.length + 4 + idLength);
  prefix.copy(aad, 0);
  aad.writeUInt32BE(idLength, prefix.length);
  aad.write(rowId, prefix.length + 4, 'utf8');
  return aad;
}

function encode<T>(field: EncryptedField<T>, value: T): Buffer {
  if (field.codec === 'text') {
    if (typeof value !== 'string') throw new TypeError('a text field seals a string');
    return Buffer.from(value, 'utf8');
  }
  const json = JSON.stringify(value);
  if (json === undefined) throw new TypeError('a json field seals a JSON-serialisable value');
  return Buffer.from(json, 'utf8');
}

/** Stateless between calls (no `stream` option), so one decoder serves every field. */
const utf8 = new TextDecoder('utf-8', { fatal: true });

function decode<T>(field: EncryptedField<T>, plaintext: Buffer): T {
  const text = utf8.decode(plaintext);
  return (field.codec === 'text' ? text : JSON.parse(text)) as T;
}

/** Seals one field value of one row under a data key (pure; the door supplies the key). */
export function sealField<T>(
  dataKey: Buffer,
  field: EncryptedField<T>,
  rowId: string,
  value: T,
): Sealed<T> {
  return sealBytes(dataKey, encode(field, value), fieldAad(field, rowId)) as Sealed<T>;
}

/** Opens one field value or throws DecryptionFailed; nothing is returned on any failure. */
export function openField<T>(
  dataKey: Buffer,
  field: EncryptedField<T>,
  rowId: string,
  sealed: Sealed<T> | Uint8Array,
): T {
  const plaintext = openBytes(dataKey, sealed, fieldAad(field, rowId));
  try {
    return decode(field, plaintext);
  } catch {
    // Authenticated but undecodable can only be a bug or a forged key; say no more.
    throw new DecryptionFailed();
  }
}
