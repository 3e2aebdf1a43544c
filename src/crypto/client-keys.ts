import { randomBytes } from 'node:crypto';
import { and, asc, eq, gt, ne, sql } from 'drizzle-orm';
import type { Database, Executor } from '../db/pool.js';
import { blindIndexKeys } from '../db/schema/blind-index-keys.js';
import { clientDataKeys } from '../db/schema/client-data-keys.js';
import { BLIND_INDEX_VERSION, createBlindIndexer, type BlindIndexer } from './blind-index.js';
import { createDataKeyCache, type DataKeyCache } from './cache.js';
import { KEY_BYTES } from './envelope.js';
import { DataKeyNotFound, DecryptionFailed } from './errors.js';
import {
  openField,
  sealField,
  type BlindIndex,
  type EncryptedField,
  type Sealed,
} from './fields.js';
import type { KeyEncryptionKeys } from './keyring.js';
import type { BlindIndexKind } from './normalise.js';

/** Seals and opens the fields of one client's rows under that client's data key. */
export interface ClientCipher {
  readonly clientId: string;
  seal<T>(field: EncryptedField<T>, rowId: string, value: T): Sealed<T>;
  /** Throws DecryptionFailed if the value was tampered with, moved, or sealed under another key. */
  open<T>(field: EncryptedField<T>, rowId: string, sealed: Sealed<T> | Uint8Array): T;
}

export interface RewrapProgress {
  pass: number;
  rewrapped: number;
  unreadable: number;
}

export interface RewrapResult {
  kekId: string;
  /** Data keys (and blind-index root keys) re-wrapped under the current master key. */
  rewrapped: number;
  /** Keys this keyring cannot unwrap (wrapped under a master key it no longer has). */
  unreadable: number;
  /** Keys still under another master key when the run ended (unreadable ones included). */
  remaining: number;
}

export interface ClientKeys {
  /** Id of the master key version new data keys are wrapped under. */
  readonly currentKekId: string;
  /**
   * Creates the client's data key in the caller's transaction (so the key and the client row
   * commit together) and returns a cipher for the rows written in that same transaction.
   */
  createForClient(executor: Executor, clientId: string): Promise<ClientCipher>;
  /** The cipher for an existing client; throws DataKeyNotFound when there is no key (any more). */
  cipherFor(executor: Executor, clientId: string): Promise<ClientCipher>;
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
  destroy(executor: Executor, clientId: string): Promise<boolean>;
  /**
   * Re-wraps every key not under the current master key, in batches (one transaction each,
   * rows locked with SKIP LOCKED), while reads go on. Data keys themselves never change.
   */
  rewrapAll(options?: {
    batchSize?: number;
    onProgress?: (progress: RewrapProgress) => void;
  }): Promise<RewrapResult>;
  /** HMAC blind index of the normalised value; throws InvalidIndexValue when it does not normalise. */
  blindIndex(kind: BlindIndexKind, value: string): Promise<BlindIndex>;
}

/** A client's data key as stored: wrapped under the master key version `kekId`. */
export interface WrappedDataKey {
  kekId: string;
  wrapped: Buffer;
}

export interface ClientKeysOptions {
  db: Database;
  keyring: KeyEncryptionKeys;
  cache?: DataKeyCache;
}

/**
 * Wrap contexts name what a wrapped key belongs to, so a wrapped key copied into another
 * client's row (or into the index-key table) fails to unwrap.
 */
const clientContext = (clientId: string) => `client:${clientId.toLowerCase()}`;
const indexContext = (version: number) => `blind-index:${version}`;

function cipher(clientId: string, dataKey: Buffer): ClientCipher {
  return {
    clientId,
    seal: (field, rowId, value) => sealField(dataKey, field, rowId, value),
    open: (field, rowId, sealed) => openField(dataKey, field, rowId, sealed),
  };
}

/**
 * The encryption door: per-client data keys (envelope encryption under the keyring), the
 * cache of unwrapped keys, rotation and shredding, and blind indexes.
 *
 * Why the blind-index key is its own random root key, stored wrapped, and not derived from
 * the master key: an index key derived from the *current* master key would change at every
 * rotation and break every search until all tables were re-indexed, so rotation could no
 * longer be a quick online re-wrap; derived from the *oldest* key, it would die when that key
 * is retired. A random root wrapped under the master key is re-wrapped by rotation like any
 * data key, so indexes survive rotation and retirement, while rotating the index key itself
 * stays a separate, deliberate re-index (README, "Keys and encryption").
 */
export function createClientKeys(options: ClientKeysOptions): ClientKeys {
  const { db, keyring } = options;
  const cache = options.cache ?? createDataKeyCache();
  let indexer: Promise<BlindIndexer> | undefined;

  async function loadIndexer(): Promise<BlindIndexer> {
    const read = () =>
      db
        .select({ kekId: blindIndexKeys.kekId, wrapped: blindIndexKeys.wrapped })
        .from(blindIndexKeys)
        .where(eq(blindIndexKeys.version, BLIND_INDEX_VERSION));
    let [row] = await read();
    if (!row) {
      // First use on this database: concurrent processes race; the first insert wins.
      const root = randomBytes(KEY_BYTES);
      const { kekId, wrapped } = await keyring.wrap(root, indexContext(BLIND_INDEX_VERSION));
      await db
        .insert(blindIndexKeys)
        .values({ version: BLIND_INDEX_VERSION, kekId, wrapped })
        .onConflictDoNothing();
      [row] = await read();
      if (!row) throw new Error('the blind-index key could not be stored');
    }
    const root = await keyring.unwrap(row.kekId, row.wrapped, indexContext(BLIND_INDEX_VERSION));
    return createBlindIndexer(root);
  }

  async function rewrapIndexKeys(): Promise<{ rewrapped: number; unreadable: number }> {
    return db.transaction(async (tx) => {
      const rows = await tx
        .select()
        .from(blindIndexKeys)
        .where(ne(blindIndexKeys.kekId, keyring.currentId))
        .for('update');
      let rewrapped = 0;
      let unreadable = 0;
      for (const row of rows) {
        try {
          const root = await keyring.unwrap(row.kekId, row.wrapped, indexContext(row.version));
          const next = await keyring.wrap(root, indexContext(row.version));
          await tx
            .update(blindIndexKeys)
            .set({ kekId: next.kekId, wrapped: next.wrapped, rewrappedAt: sql`now()` })
            .where(eq(blindIndexKeys.version, row.version));
          rewrapped += 1;
        } catch (error) {
          if (!(error instanceof DecryptionFailed)) throw error;
          unreadable += 1;
        }
      }
      return { rewrapped, unreadable };
    });
  }

  /** One pass over the data keys in client-id order; rows locked by others are skipped. */
  async function rewrapDataKeysPass(
    pass: number,
    batchSize: number,
    totals: RewrapProgress,
    onProgress: ((progress: RewrapProgress) => void) | undefined,
  ): Promise<number> {
    let after: string | undefined;
    let unreadable = 0;
    for (;;) {
      const batch = await db.transaction(async (tx) => {
        const rows = await tx
          .select()
          .from(clientDataKeys)
          .where(
            and(
              ne(clientDataKeys.kekId, keyring.currentId),
              after === undefined ? undefined : gt(clientDataKeys.clientId, after),
            ),
          )
          .orderBy(asc(clientDataKeys.clientId))
          .limit(batchSize)
          .for('update', { skipLocked: true });
        let rewrapped = 0;
        let failed = 0;
        for (const row of rows) {
          let dataKey: Buffer;
          try {
            dataKey = await keyring.unwrap(row.kekId, row.wrapped, clientContext(row.clientId));
          } catch (error) {
            if (!(error instanceof DecryptionFailed)) throw error;
            failed += 1;
            continue;
          }
          const next = await keyring.wrap(dataKey, clientContext(row.clientId));
          await tx
            .update(clientDataKeys)
            .set({ kekId: next.kekId, wrapped: next.wrapped, rewrappedAt: sql`now()` })
            .where(eq(clientDataKeys.clientId, row.clientId));
          rewrapped += 1;
        }
        return { size: rows.length, last: rows.at(-1)?.clientId, rewrapped, failed };
      });
      totals.rewrapped += batch.rewrapped;
      unreadable += batch.failed;
      if (batch.size === 0) return unreadable;
      after = batch.last;
      onProgress?.({ pass, rewrapped: totals.rewrapped, unreadable });
    }
  }

  async function countRemaining(): Promise<number> {
    const [data] = await db
      .select({ count: sql<number>`count(*)::int` })
      .from(clientDataKeys)
      .where(ne(clientDataKeys.kekId, keyring.currentId));
    const [index] = await db
      .select({ count: sql<number>`count(*)::int` })
      .from(blindIndexKeys)
      .where(ne(blindIndexKeys.kekId, keyring.currentId));
    return (data?.count ?? 0) + (index?.count ?? 0);
  }

  async function cipherFromWrapped(
    clientId: string,
    stored: WrappedDataKey | null,
  ): Promise<ClientCipher> {
    const cached = cache.get(clientId);
    if (cached) return cipher(clientId, cached);
    if (!stored) throw new DataKeyNotFound(clientId);
    const dataKey = await keyring.unwrap(stored.kekId, stored.wrapped, clientContext(clientId));
    cache.set(clientId, dataKey);
    return cipher(clientId, dataKey);
  }

  return {
    currentKekId: keyring.currentId,

    async createForClient(executor, clientId) {
      const dataKey = randomBytes(KEY_BYTES);
      const { kekId, wrapped } = await keyring.wrap(dataKey, clientContext(clientId));
      // A key cached for this id by a transaction that rolled back must not outlive it.
      cache.delete(clientId);
      await executor.insert(clientDataKeys).values({ clientId, kekId, wrapped });
      return cipher(clientId, dataKey);
    },

    async cipherFor(executor, clientId) {
      const cached = cache.get(clientId);
      if (cached) return cipher(clientId, cached);
      const [row] = await executor
        .select({ kekId: clientDataKeys.kekId, wrapped: clientDataKeys.wrapped })
        .from(clientDataKeys)
        .where(eq(clientDataKeys.clientId, clientId));
      return cipherFromWrapped(clientId, row ?? null);
    },

    cipherFromWrapped,

    async destroy(executor, clientId) {
      cache.forget(clientId);
      const deleted = await executor
        .delete(clientDataKeys)
        .where(eq(clientDataKeys.clientId, clientId))
        .returning({ clientId: clientDataKeys.clientId });
      return deleted.length > 0;
    },

    async rewrapAll({ batchSize = 500, onProgress } = {}) {
      if (!Number.isInteger(batchSize) || batchSize < 1) throw new Error('batchSize must be >= 1');
      const index = await rewrapIndexKeys();
      const totals: RewrapProgress = { pass: 1, rewrapped: index.rewrapped, unreadable: 0 };
      let unreadable = 0;
      let remaining = 0;
      // Rows locked by a concurrent writer were skipped: go round again while that helps.
      for (let pass = 1; pass <= 5; pass++) {
        totals.pass = pass;
        const before = totals.rewrapped;
        unreadable =
          (await rewrapDataKeysPass(pass, batchSize, totals, onProgress)) + index.unreadable;
        remaining = await countRemaining();
        if (remaining <= unreadable || totals.rewrapped === before) break;
      }
      return { kekId: keyring.currentId, rewrapped: totals.rewrapped, unreadable, remaining };
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
