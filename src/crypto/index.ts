/**
 * The encryption door: pure functions and the keyring, nothing that knows a database.
 * - fields: `textField(table, column)`, `jsonField<T>(table, column)` descriptors;
 * - runtime: `app.keys` (ClientKeys): createForClient / cipherFor / destroy / blindIndex,
 *   over a KeyStore (src/db/key-store.ts implements it on PostgreSQL);
 * - validation: the normalisers the blind indexes use.
 * The schema's column types (`encrypted<T>()`, `blindIndexColumn()`) live in
 * src/db/schema/columns.ts, typed with the brand types of sealed.ts.
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
export {
  WRAPPED_KINDS,
  type KeyStore,
  type RewrapBatch,
  type RootKind,
  type SecretKind,
  type WrappedKind,
} from './key-store.js';
export { LEGACY_TOTP_KEK_ID } from './legacy-totp.js';
export {
  CHUNK_BYTES,
  CHUNK_OVERHEAD,
  chunkCount,
  decryptChunks,
  encryptChunks,
  type SealedChunk,
} from './chunked.js';
export { createDataKeyCache, type DataKeyCache, type DataKeyCacheOptions } from './cache.js';
export { DataKeyNotFound, DecryptionFailed, InvalidIndexValue } from './errors.js';
export {
  jsonField,
  textField,
  type BlindIndex,
  type EncryptedField,
  type Sealed,
} from './fields.js';
export {
  createLocalKeyring,
  masterKeyId,
  type KeyEncryptionKeys,
  type WrappedKey,
} from './keyring.js';
export {
  BLIND_INDEX_KINDS,
  birthDateFromNationalId,
  normaliseBatchNumber,
  normaliseEmail,
  normaliseNationalId,
  normalisePhone,
  type BlindIndexKind,
} from './normalise.js';
