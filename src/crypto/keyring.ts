import { createHmac } from 'node:crypto';
import { associatedData, KEY_BYTES, openBytes, sealBytes } from './envelope.js';
import { DecryptionFailed } from './errors.js';
import { LEGACY_TOTP_KEK_ID, openLegacyTotp } from './legacy-totp.js';

/**
 * A value (a data key, the blind-index root, a TOTP secret) wrapped under the master key
 * version `kekId`.
 */
export interface WrappedKey {
  kekId: string;
  wrapped: Buffer;
}

/**
 * Key-encryption keys: what wraps the per-client data keys. Behind this interface so that a
 * KMS (AWS KMS Encrypt/Decrypt with an encryption context, Vault transit) can replace the
 * local master keys without touching the rest of the door. `context` is bound to the
 * wrapped key (AAD / encryption context): a wrapped key copied to another client fails.
 */
export interface KeyEncryptionKeys {
  /** Id of the version new keys are wrapped under. */
  readonly currentId: string;
  /** Whether this keyring can still unwrap keys wrapped under `kekId`. */
  has(kekId: string): boolean;
  wrap(value: Buffer, context: string): Promise<WrappedKey>;
  /**
   * Throws DecryptionFailed for an unknown (retired) version, a wrong context or tampering.
   * The length of what comes out is the caller's to check (a data key is 32 bytes, a TOTP
   * secret 20).
   */
  unwrap(kekId: string, wrapped: Buffer, context: string): Promise<Buffer>;
}

/**
 * A master key's id: a fingerprint (HMAC-SHA-256 keyed by the key itself over a fixed label,
 * truncated to 64 bits). It needs no configuration, is the same in every process, and says
 * nothing about the key.
 */
export function masterKeyId(key: Buffer): string {
  return `mk1:${createHmac('sha256', key).update('master-key-id/v1').digest('hex').slice(0, 16)}`;
}

/** The wrap context of a TOTP secret (wrap-context.ts), whose legacy format names the user. */
const LEGACY_TOTP_CONTEXT = 'totp:';

const wrapAad = (kekId: string, context: string) => associatedData('data-key', [kekId, context]);

/**
 * The local keyring from configuration: `MASTER_KEY` is current, `MASTER_KEYS_OLD` still
 * unwrap until they are removed (retired). The keys live only in this closure.
 */
export function createLocalKeyring(
  current: Buffer,
  old: readonly Buffer[] = [],
): KeyEncryptionKeys {
  const keys = new Map<string, Buffer>();
  for (const key of [current, ...old]) {
    if (key.length !== KEY_BYTES) throw new Error('a master key must be 32 bytes');
    const id = masterKeyId(key);
    if (!keys.has(id)) keys.set(id, Buffer.from(key));
  }
  const currentId = masterKeyId(current);
  const currentKey = keys.get(currentId)!;
  return {
    currentId,
    has: (kekId) => keys.has(kekId) || kekId === LEGACY_TOTP_KEK_ID,
    wrap: async (value, context) => ({
      kekId: currentId,
      wrapped: sealBytes(currentKey, value, wrapAad(currentId, context)),
    }),
    unwrap: async (kekId, wrapped, context) => {
      if (kekId === LEGACY_TOTP_KEK_ID && context.startsWith(LEGACY_TOTP_CONTEXT)) {
        return openLegacyTotp(keys.values(), context.slice(LEGACY_TOTP_CONTEXT.length), wrapped);
      }
      const key = keys.get(kekId);
      if (!key) throw new DecryptionFailed();
      return openBytes(key, wrapped, wrapAad(kekId, context));
    },
  };
}
