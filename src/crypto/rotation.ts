import { DecryptionFailed } from './errors.js';
import { WRAPPED_KINDS, type KeyStore, type WrappedKind } from './key-store.js';
import type { KeyEncryptionKeys, WrappedKey } from './keyring.js';
import { wrapContext } from './wrap-context.js';

export interface RewrapProgress {
  pass: number;
  kind: WrappedKind;
  rewrapped: number;
  unreadable: number;
}

export interface KindResult {
  rewrapped: number;
  /** Values this keyring cannot unwrap (wrapped under a master key it no longer has). */
  unreadable: number;
  /** Values still under another master key when the run ended (unreadable ones included). */
  remaining: number;
}

export interface RewrapResult extends KindResult {
  kekId: string;
  /** The same counts per kind of sealed value. */
  byKind: Record<WrappedKind, KindResult>;
}

/** Passes over each kind; rows locked by a concurrent writer are skipped, so go round again. */
const MAX_PASSES = 5;

/**
 * Re-wraps every value of every kind not under the current master key, kind by kind, batch
 * by batch. Values themselves never change, only their wrapping; readers are not blocked.
 */
export async function rewrapAll<E>(
  store: KeyStore<E>,
  keyring: KeyEncryptionKeys,
  options: { batchSize?: number; onProgress?: (progress: RewrapProgress) => void } = {},
): Promise<RewrapResult> {
  const batchSize = options.batchSize ?? 500;
  if (!Number.isInteger(batchSize) || batchSize < 1) throw new Error('batchSize must be >= 1');
  const byKind = {} as Record<WrappedKind, KindResult>;
  for (const kind of WRAPPED_KINDS) {
    const rewrap = async (id: string, key: WrappedKey): Promise<WrappedKey | null> => {
      const context = wrapContext(kind, id);
      try {
        return await keyring.wrap(await keyring.unwrap(key.kekId, key.wrapped, context), context);
      } catch (error) {
        if (error instanceof DecryptionFailed) return null;
        throw error;
      }
    };
    const result: KindResult = { rewrapped: 0, unreadable: 0, remaining: 0 };
    for (let pass = 1; pass <= MAX_PASSES; pass++) {
      const before = result.rewrapped;
      let unreadable = 0;
      let after: string | undefined;
      for (;;) {
        const batch = await store.rewrapBatch(kind, keyring.currentId, after, batchSize, rewrap);
        if (batch.seen === 0) break;
        result.rewrapped += batch.rewrapped;
        unreadable += batch.unreadable;
        after = batch.last;
        options.onProgress?.({ pass, kind, rewrapped: result.rewrapped, unreadable });
      }
      result.unreadable = unreadable;
      result.remaining = await store.countNotUnder(kind, keyring.currentId);
      if (result.remaining <= result.unreadable || result.rewrapped === before) break;
    }
    byKind[kind] = result;
  }
  const total = (field: keyof KindResult) =>
    WRAPPED_KINDS.reduce((sum, kind) => sum + byKind[kind][field], 0);
  return {
    kekId: keyring.currentId,
    rewrapped: total('rewrapped'),
    unreadable: total('unreadable'),
    remaining: total('remaining'),
    byKind,
  };
}
