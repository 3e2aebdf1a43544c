import { createCipheriv, createDecipheriv, randomBytes } from 'node:crypto';
import { DecryptionFailed } from './errors.js';

/**
 * The one sealed-value format, used for field values and for wrapped keys alike:
 *
 *   [version 1 byte = 0x01][nonce 12 bytes][tag 16 bytes][ciphertext]
 *
 * AES-256-GCM with a fresh random 96-bit nonce per value. Random nonces are safe up to about
 * 2^32 values per key; a data key is per client and seals far fewer. The version byte is
 * also part of the associated data, so a future format cannot be confused with this one.
 */
export const ENVELOPE_VERSION = 0x01;
export const NONCE_BYTES = 12;
export const TAG_BYTES = 16;
export const KEY_BYTES = 32;
const HEADER_BYTES = 1 + NONCE_BYTES + TAG_BYTES;

/**
 * Associated data from labelled parts, each length-prefixed so that no two different lists
 * encode to the same bytes (`a|bc` vs `ab|c`).
 */
export function associatedData(purpose: string, parts: readonly string[]): Buffer {
  const chunks: Buffer[] = [Buffer.from([ENVELOPE_VERSION])];
  for (const part of [purpose, ...parts]) {
    const bytes = Buffer.from(part, 'utf8');
    const length = Buffer.alloc(4);
    length.writeUInt32BE(bytes.length);
    chunks.push(length, bytes);
  }
  return Buffer.concat(chunks);
}

export function sealBytes(key: Buffer, plaintext: Buffer, aad: Buffer): Buffer {
  if (key.length !== KEY_BYTES) throw new Error('an AES-256 key must be 32 bytes');
  const nonce = randomBytes(NONCE_BYTES);
  const cipher = createCipheriv('aes-256-gcm', key, nonce, { authTagLength: TAG_BYTES });
  cipher.setAAD(aad);
  const ciphertext = Buffer.concat([cipher.update(plaintext), cipher.final()]);
  return Buffer.concat([Buffer.from([ENVELOPE_VERSION]), nonce, cipher.getAuthTag(), ciphertext]);
}

/**
 * Opens an envelope or throws DecryptionFailed, whatever went wrong: nothing of the cause
 * (node's message, the part that failed) is kept, and no partial plaintext is returned.
 */
export function openBytes(key: Buffer, envelope: Uint8Array, aad: Buffer): Buffer {
  if (key.length !== KEY_BYTES || envelope.length < HEADER_BYTES) throw new DecryptionFailed();
  const bytes = Buffer.from(envelope.buffer, envelope.byteOffset, envelope.byteLength);
  if (bytes[0] !== ENVELOPE_VERSION) throw new DecryptionFailed();
  let plaintext: Buffer;
  try {
    const decipher = createDecipheriv(
      'aes-256-gcm',
      key,
      bytes.subarray(1, 1 + NONCE_BYTES),
      // Enforced: a shortened tag is refused rather than checked on fewer bits.
      { authTagLength: TAG_BYTES },
    );
    decipher.setAAD(aad);
    decipher.setAuthTag(bytes.subarray(1 + NONCE_BYTES, HEADER_BYTES));
    plaintext = Buffer.concat([decipher.update(bytes.subarray(HEADER_BYTES)), decipher.final()]);
  } catch {
    throw new DecryptionFailed();
  }
  return plaintext;
}
