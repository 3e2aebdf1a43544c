import { createHmac, hkdfSync } from 'node:crypto';
import { CHAIN_INFO } from './audit.chain-link.js';

/**
 * The keys the audit chain is sealed and verified with (audit.chain.ts says which): the stored
 * random chain key, and the keys derived from master keys for links sealed before it.
 */

export interface ChainKey {
  id: string;
  key: Buffer;
}

export interface ChainKeyring {
  current: ChainKey;
  byId: Map<string, Buffer>;
}

export function deriveChainKey(masterKey: Buffer): ChainKey {
  const key = Buffer.from(hkdfSync('sha256', masterKey, Buffer.alloc(0), CHAIN_INFO, 32));
  return { id: chainKeyId(key), key };
}

/** A chain key's id as links record it: a fingerprint of the key, saying nothing about it. */
export function chainKeyId(key: Buffer): string {
  return createHmac('sha256', key).update('audit-chain/key-id').digest('hex').slice(0, 16);
}

/**
 * Keys derived from the master keys (the chain before the keyring owned its key, and tests
 * that seal without a database key): the current master key's seals; older ones
 * (MASTER_KEYS_OLD) still verify the segments they sealed: each link records the fingerprint
 * of the key that made it.
 */
export function chainKeyring(
  config: { masterKey: Buffer; masterKeysOld: Buffer[] },
  stored?: Buffer,
): ChainKeyring {
  const derived = deriveChainKey(config.masterKey);
  const current = stored ? { id: chainKeyId(stored), key: stored } : derived;
  const byId = new Map<string, Buffer>([
    [current.id, current.key],
    [derived.id, derived.key],
  ]);
  for (const old of config.masterKeysOld) {
    const key = deriveChainKey(old);
    if (!byId.has(key.id)) byId.set(key.id, key.key);
  }
  return { current, byId };
}

/** A keyring, or how to load one (the stored chain key is read on first use). */
export type ChainKeySource = ChainKeyring | (() => Promise<ChainKeyring>);

/**
 * The keyring the service seals and verifies with: the stored chain key (current) plus the
 * derived keys of every configured master key (older links). Loaded once; a failed load is
 * tried again next time.
 */
export function storedChainKeyring(
  config: { masterKey: Buffer; masterKeysOld: Buffer[] },
  loadKey: () => Promise<Buffer>,
): () => Promise<ChainKeyring> {
  let loaded: Promise<ChainKeyring> | undefined;
  return () => {
    loaded ??= loadKey()
      .then((key) => chainKeyring(config, key))
      .catch((error: unknown) => {
        loaded = undefined;
        throw error;
      });
    return loaded;
  };
}

export async function resolveChainKeys(source: ChainKeySource): Promise<ChainKeyring> {
  return typeof source === 'function' ? source() : source;
}
