import { createCipheriv, createDecipheriv, hkdfSync, randomBytes } from 'node:crypto';

/**
 * Seals a user's TOTP secret at rest: AES-256-GCM under a key derived from MASTER_KEY with
 * HKDF-SHA-256 (info "totp-secret"), a fresh 96-bit nonce each time, and the user id as
 * associated data so a sealed secret copied to another user's row does not open.
 * Layout: version (1 byte) | nonce (12) | ciphertext | tag (16).
 */
const VERSION = 1;

export interface TotpSecretBox {
  seal(userId: string, secret: Buffer): Buffer;
  open(userId: string, sealed: Buffer): Buffer;
}

export function createTotpSecretBox(masterKey: Buffer): TotpSecretBox {
  const key = Buffer.from(hkdfSync('sha256', masterKey, Buffer.alloc(0), 'totp-secret', 32));
  const aad = (userId: string) => Buffer.from(`users.totp_secret:${userId}:v${VERSION}`);
  return {
    seal(userId, secret) {
      const nonce = randomBytes(12);
      const cipher = createCipheriv('aes-256-gcm', key, nonce);
      cipher.setAAD(aad(userId));
      const body = Buffer.concat([cipher.update(secret), cipher.final()]);
      return Buffer.concat([Buffer.from([VERSION]), nonce, body, cipher.getAuthTag()]);
    },
    open(userId, sealed) {
      if (sealed.length < 1 + 12 + 16 || sealed[0] !== VERSION) {
        throw new Error('sealed TOTP secret has an unknown format');
      }
      const nonce = sealed.subarray(1, 13);
      const tag = sealed.subarray(sealed.length - 16);
      const decipher = createDecipheriv('aes-256-gcm', key, nonce);
      decipher.setAAD(aad(userId));
      decipher.setAuthTag(tag);
      return Buffer.concat([
        decipher.update(sealed.subarray(13, sealed.length - 16)),
        decipher.final(),
      ]);
    },
  };
}
