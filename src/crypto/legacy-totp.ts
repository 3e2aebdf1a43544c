import { createDecipheriv, hkdfSync } from 'node:crypto';
import { DecryptionFailed } from './errors.js';

/**
 * The version id of TOTP secrets sealed before the keyring owned them (migration 0009): they
 * were sealed under a key derived (HKDF-SHA-256, info "totp-secret") from MASTER_KEY alone,
 * in the layout version (1) | nonce (12) | ciphertext | tag (16), with
 * "users.totp_secret:<user id>:v1" as associated data. The keyring still opens them under any
 * configured master key, and rotate-master-key re-wraps them like any other version.
 */
export const LEGACY_TOTP_KEK_ID = 'legacy:totp-hkdf';

export function openLegacyTotp(masterKeys: Iterable<Buffer>, userId: string, sealed: Buffer) {
  if (sealed.length < 1 + 12 + 16 || sealed[0] !== 1) throw new DecryptionFailed();
  for (const masterKey of masterKeys) {
    const key = Buffer.from(hkdfSync('sha256', masterKey, Buffer.alloc(0), 'totp-secret', 32));
    try {
      const decipher = createDecipheriv('aes-256-gcm', key, sealed.subarray(1, 13), {
        authTagLength: 16,
      });
      decipher.setAAD(Buffer.from(`users.totp_secret:${userId}:v1`));
      decipher.setAuthTag(sealed.subarray(sealed.length - 16));
      return Buffer.concat([
        decipher.update(sealed.subarray(13, sealed.length - 16)),
        decipher.final(),
      ]);
    } catch {
      // not this key: try the next one
    }
  }
  throw new DecryptionFailed();
}
