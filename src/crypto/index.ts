/**
 * The encryption door. Domains import from here only:
 * - schema: `encrypted<T>('x_enc')` and `blindIndexColumn('x_bidx')` columns;
 * - fields: `textField(table, column)`, `jsonField<T>(table, column)` descriptors;
 * - runtime: `app.keys` (ClientKeys): createForClient / cipherFor / destroy / blindIndex;
 * - validation: the normalisers the blind indexes use.
 */
export {
  createClientKeys,
  type ClientCipher,
  type ClientKeys,
  type ClientKeysOptions,
  type RewrapProgress,
  type RewrapResult,
  type WrappedDataKey,
} from './client-keys.js';
export { createDataKeyCache, type DataKeyCache, type DataKeyCacheOptions } from './cache.js';
export { DataKeyNotFound, DecryptionFailed, InvalidIndexValue } from './errors.js';
export {
  blindIndexColumn,
  encrypted,
  jsonField,
  textField,
  type BlindIndex,
  type EncryptedField,
  type Sealed,
} from './fields.js';
export { createLocalKeyring, masterKeyId, type KeyEncryptionKeys } from './keyring.js';
export {
  BLIND_INDEX_KINDS,
  birthDateFromNationalId,
  normaliseBatchNumber,
  normaliseEmail,
  normaliseNationalId,
  normalisePhone,
  type BlindIndexKind,
} from './normalise.js';
