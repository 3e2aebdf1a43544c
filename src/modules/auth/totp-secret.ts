import { DecryptionFailed, type ClientKeys } from '../../crypto/index.js';
import { ServiceUnavailable } from '../../errors.js';

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

/**
 * The answer when a user's TOTP secret opens under no configured master key (e.g. a master key
 * retired before `rotate-master-key` re-wrapped it): the factor cannot be checked, which is
 * neither the user's fault (401) nor a crash (500).
 */
export const totpSecretUnavailable = () =>
  new ServiceUnavailable(
    'The second factor cannot be checked: its secret is sealed under a master key this service does not have. An operator must restore the key (MASTER_KEYS_OLD) and run rotate-master-key.',
    60,
  );

/** Opens a stored TOTP secret; a secret no configured key opens is a 503 problem, never a 500. */
export async function openTotpSecret(
  box: TotpSecretBox,
  userId: string,
  totpSecret: Buffer,
  totpKekId: string | null,
): Promise<Buffer> {
  try {
    return await box.open(userId, { totpSecret, totpKekId });
  } catch (error) {
    if (error instanceof DecryptionFailed) throw totpSecretUnavailable();
    throw error;
  }
}
