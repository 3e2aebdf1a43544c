import { randomBytes } from 'node:crypto';
import { BLIND_INDEX_VERSION, createBlindIndexer, type BlindIndexer } from './blind-index.js';
import { deriveAttachmentKey } from './chunked.js';
import { createDataKeyCache, type DataKeyCache } from './cache.js';
import { KEY_BYTES } from './envelope.js';
import { DataKeyNotFound, DecryptionFailed } from './errors.js';
import { openField, sealField, type EncryptedField } from './fields.js';
import type { KeyStore, RootKind, SecretKind } from './key-store.js';
import type { KeyEncryptionKeys, WrappedKey } from './keyring.js';
import type { BlindIndexKind } from './normalise.js';
import { rewrapAll, type RewrapProgress, type RewrapResult } from './rotation.js';
import type { BlindIndex, Sealed } from './sealed.js';
import { wrapContext } from './wrap-context.js';

export type { RewrapProgress, RewrapResult } from './rotation.js';

/** Seals and opens the fields of one client's rows under that client's data key. */
export interface ClientCipher {
  readonly clientId: string;
  seal<T>(field: EncryptedField<T>, rowId: string, value: T): Sealed<T>;
  /** Throws DecryptionFailed if the value was tampered with, moved, or sealed under another key. */
  open<T>(field: EncryptedField<T>, rowId: string, sealed: Sealed<T> | Uint8Array): T;
  /** The key of one attachment's content chunks (chunked.ts), derived from the data key. */
  attachmentKey(attachmentId: string): Buffer;
}

/** A client's data key as stored: wrapped under the master key version `kekId`. */
export type WrappedDataKey = WrappedKey;

export interface ClientKeys<E = unknown> {
  /** Id of the master key version new data keys are wrapped under. */
  readonly currentKekId: string;
  /**
   * Creates the client's data key in the caller's transaction (so the key and the client row
   * commit together) and returns a cipher for the rows written in that same transaction.
   */
  createForClient(executor: E, clientId: string): Promise<ClientCipher>;
  /** The cipher for an existing client; throws DataKeyNotFound when there is no key (any more). */
  cipherFor(executor: E | undefined, clientId: string): Promise<ClientCipher>;
  /**
   * The same from a wrapped key the caller has already read (e.g. joined to the client row,
   * saving a round trip); null when the client has no key. The cache is used first.
   */
  cipherFromWrapped(clientId: string, stored: WrappedDataKey | null): Promise<ClientCipher>;
  /**
   * Crypto-shredding: deletes the client's data key (in the caller's transaction) and drops it
   * from this process's cache. Other processes drop theirs within the cache lifetime (60 s).
   * The domain clears its own blind-index columns. Returns whether a key existed.
   */
  destroy(executor: E, clientId: string): Promise<boolean>;
  /**
   * Re-wraps everything sealed under an older master key (every kind of the store), in
   * batches (one transaction each, locked rows skipped and retried), while reads go on.
   * Data keys themselves never change.
   */
  rewrapAll(options?: {
    batchSize?: number;
    onProgress?: (progress: RewrapProgress) => void;
  }): Promise<RewrapResult>;
  /**
   * Seals a small secret of its owner `id` (a user's TOTP secret) under the current master
   * key: the same keyring, version ids and rotation as the data keys.
   */
  sealSecret(kind: SecretKind, id: string, secret: Buffer): Promise<WrappedKey>;
  /** Opens it under any configured version; throws DecryptionFailed when none opens it. */
  openSecret(kind: SecretKind, id: string, stored: WrappedKey): Promise<Buffer>;
  /**
   * The audit chain's HMAC key (version 1): random, stored wrapped like the blind-index root,
   * created on first use, so rotation re-wraps it and retiring a master key keeps the chain
   * verifiable.
   */
  chainKey(): Promise<Buffer>;
  /** HMAC blind index of the normalised value; throws InvalidIndexValue when it does not normalise. */
  blindIndex(kind: BlindIndexKind, value: string): Promise<BlindIndex>;
}

export interface ClientKeysOptions<E> {
  store: KeyStore<E>;
  keyring: KeyEncryptionKeys;
  cache?: DataKeyCache;
}

function cipher(clientId: string, dataKey: Buffer): ClientCipher {
  return {
    clientId,
    seal: (field, rowId, value) => sealField(dataKey, field, rowId, value),
    open: (field, rowId, sealed) => openField(dataKey, field, rowId, sealed),
    attachmentKey: (attachmentId) => deriveAttachmentKey(dataKey, attachmentId),
  };
}

/**
 * The encryption door: per-client data keys (envelope encryption under the keyring), the
 * cache of unwrapped keys, rotation and shredding, and blind indexes. Where keys are stored
 * is the store's business (src/db/key-store.ts).
 *
 * Why the blind-index key is its own random root key, stored wrapped, and not derived from
 * the master key: an index key derived from the *current* master key would change at every
 * rotation and break every search until all tables were re-indexed, so rotation could no
 * longer be a quick online re-wrap; derived from the *oldest* key, it would die when that key
 * is retired. A random root wrapped under the master key is re-wrapped by rotation like any
 * data key, so indexes survive rotation and retirement, while rotating the index key itself
 * stays a separate, deliberate re-index (README, "Keys and encryption").
 */
export function createClientKeys<E>(options: ClientKeysOptions<E>): ClientKeys<E> {
  const { store, keyring } = options;
  const cache = options.cache ?? createDataKeyCache();
  let indexer: Promise<BlindIndexer> | undefined;
  let chainKey: Promise<Buffer> | undefined;

  async function loadRootKey(kind: RootKind, version: number): Promise<Buffer> {
    const context = wrapContext(kind, String(version));
    let stored = await store.findRootKey(kind, version);
    if (!stored) {
      // First use on this database: concurrent processes race; the first insert wins.
      await store.insertRootKey(kind, version, await keyring.wrap(randomBytes(KEY_BYTES), context));
      stored = await store.findRootKey(kind, version);
      if (!stored) throw new Error(`the ${kind} key could not be stored`);
    }
    return unwrapKey(stored, context);
  }

  async function loadIndexer(): Promise<BlindIndexer> {
    return createBlindIndexer(await loadRootKey('indexRoot', BLIND_INDEX_VERSION));
  }

  async function unwrapKey(stored: WrappedKey, context: string): Promise<Buffer> {
    const key = await keyring.unwrap(stored.kekId, stored.wrapped, context);
    if (key.length !== KEY_BYTES) throw new DecryptionFailed();
    return key;
  }

  async function cipherFromWrapped(
    clientId: string,
    stored: WrappedDataKey | null,
  ): Promise<ClientCipher> {
    const cached = cache.get(clientId);
    if (cached) return cipher(clientId, cached);
    if (!stored) throw new DataKeyNotFound(clientId);
    const dataKey = await unwrapKey(stored, wrapContext('dataKey', clientId));
    cache.set(clientId, dataKey);
    return cipher(clientId, dataKey);
  }

  return {
    currentKekId: keyring.currentId,

    async createForClient(executor, clientId) {
      const dataKey = randomBytes(KEY_BYTES);
      const wrapped = await keyring.wrap(dataKey, wrapContext('dataKey', clientId));
      // A key cached for this id by a transaction that rolled back must not outlive it.
      cache.delete(clientId);
      await store.insertDataKey(executor, clientId, wrapped);
      return cipher(clientId, dataKey);
    },

    async cipherFor(executor, clientId) {
      const cached = cache.get(clientId);
      if (cached) return cipher(clientId, cached);
      return cipherFromWrapped(clientId, await store.findDataKey(executor, clientId));
    },

    cipherFromWrapped,

    async destroy(executor, clientId) {
      cache.forget(clientId);
      return store.deleteDataKey(executor, clientId);
    },

    sealSecret: (kind, id, secret) => keyring.wrap(secret, wrapContext(kind, id)),

    openSecret: (kind, id, stored) =>
      keyring.unwrap(stored.kekId, stored.wrapped, wrapContext(kind, id)),

    rewrapAll: (rewrapOptions) => rewrapAll(store, keyring, rewrapOptions),

    chainKey() {
      chainKey ??= loadRootKey('chainKey', 1).catch((error: unknown) => {
        chainKey = undefined;
        throw error;
      });
      return chainKey;
    },

    async blindIndex(kind, value) {
      indexer ??= loadIndexer().catch((error: unknown) => {
        indexer = undefined; // a database hiccup must not poison every later search
        throw error;
      });
      return (await indexer)(kind, value);
    },
  };
}
