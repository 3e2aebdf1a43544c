import type { WrappedKey } from './keyring.js';

/**
 * Everything sealed under the master key, by kind. Rotation re-wraps every kind, and each
 * kind names what a wrapped value belongs to (its wrap context), so a value copied to another
 * row fails to unwrap. Add a kind here and in the store, and rotation covers it.
 */
export const WRAPPED_KINDS = ['dataKey', 'indexRoot', 'chainKey', 'totpSecret'] as const;
export type WrappedKind = (typeof WRAPPED_KINDS)[number];
/** Random keys of the service itself, one per version: the blind-index root, the audit chain's. */
export type RootKind = 'indexRoot' | 'chainKey';
/** Small secrets sealed for their owner (a user's TOTP secret). */
export type SecretKind = Exclude<WrappedKind, 'dataKey' | RootKind>;

/** One batch of a rotation pass over one kind. */
export interface RewrapBatch {
  /** Rows read (locked) in this batch; 0 ends the pass. */
  seen: number;
  /** Where the next batch starts (the last row's id in the store's order). */
  last: string | undefined;
  rewrapped: number;
  /** Values no configured master key opens (left as they are). */
  unreadable: number;
}

/**
 * Where wrapped keys live. The encryption door (client-keys.ts) is written against this
 * interface, not against a database: `src/db/key-store.ts` implements it on PostgreSQL, and
 * `E` is that implementation's executor (a connection or an open transaction), passed
 * through untouched so a key commits with the rows it seals.
 */
export interface KeyStore<E> {
  findDataKey(executor: E | undefined, clientId: string): Promise<WrappedKey | null>;
  insertDataKey(executor: E, clientId: string, key: WrappedKey): Promise<void>;
  /** Whether a key existed. */
  deleteDataKey(executor: E, clientId: string): Promise<boolean>;
  findRootKey(kind: RootKind, version: number): Promise<WrappedKey | null>;
  /** The first insert wins: processes starting on a new database race here. */
  insertRootKey(kind: RootKind, version: number, key: WrappedKey): Promise<void>;
  /**
   * One transaction: up to `limit` values of `kind` wrapped under another master key than
   * `currentKekId`, after `after` in the store's order, locked (rows locked by others are
   * skipped), each replaced by what `rewrap` returns (null: left as it is).
   */
  rewrapBatch(
    kind: WrappedKind,
    currentKekId: string,
    after: string | undefined,
    limit: number,
    rewrap: (id: string, key: WrappedKey) => Promise<WrappedKey | null>,
  ): Promise<RewrapBatch>;
  /** Values of `kind` not under `currentKekId`. */
  countNotUnder(kind: WrappedKind, currentKekId: string): Promise<number>;
}
