import type { ClientKeys } from '../../crypto/index.js';

/** A user's TOTP secret as stored: wrapped under the master-key version `totpKekId`. */
export interface SealedTotpSecret {
  totpSecret: Buffer;
  totpKekId: string;
}

/**
 * Seals a user's TOTP secret at rest through the keyring (app.keys): AES-256-GCM under the
 * current master key, bound to the user id (a sealed secret copied to another user's row does
 * not open), with the master-key version beside it, so it opens under any configured version
 * and `rotate-master-key` re-wraps it like a data key (README, "Rotating the master key").
 */
export interface TotpSecretBox {
  seal(userId: string, secret: Buffer): Promise<SealedTotpSecret>;
  /** Throws DecryptionFailed when no configured master key opens it (or it was tampered with). */
  open(userId: string, sealed: { totpSecret: Buffer; totpKekId: string | null }): Promise<Buffer>;
}

export function createTotpSecretBox(
  keys: Pick<ClientKeys, 'sealSecret' | 'openSecret'>,
): TotpSecretBox {
  return {
    async seal(userId, secret) {
      const { kekId, wrapped } = await keys.sealSecret('totpSecret', userId, secret);
      return { totpSecret: wrapped, totpKekId: kekId };
    },
    open: (userId, sealed) =>
      keys.openSecret('totpSecret', userId, {
        kekId: sealed.totpKekId ?? '',
        wrapped: sealed.totpSecret,
      }),
  };
}
