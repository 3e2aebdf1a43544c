import type { Role } from '../../access/roles.js';
import { DecryptionFailed } from '../../crypto/index.js';
import type { Database } from '../../db/pool.js';
import { Unauthorized, type HttpProblem } from '../../errors.js';
import type { UserWithClinics } from '../../schemas/user.js';
import { claimTotpCounter } from './auth.repository.js';
import type { PasswordHasher } from './password.js';
import { checkRecoveryCode } from './recovery-codes.js';
import type { SessionKind } from './session.js';
import { totpSecretUnavailable, type TotpSecretBox } from './totp-secret.js';
import { matchTotp } from './totp.js';

/** Why a login's second factor was refused (the refusal's audited reason). */
export type SecondFactorRefusal =
  | 'otp_missing'
  | 'otp_invalid'
  | 'otp_replayed'
  | 'otp_secret_unavailable'
  | 'recovery_code_invalid'
  | 'recovery_code_replayed';

export interface SecondFactorDeps {
  db: Database;
  passwords: PasswordHasher;
  totpBox: TotpSecretBox;
  clock: () => Date;
  mfaRequiredRoles: readonly Role[];
}

/** How the login refuses; each counts, audits and throws (login.ts). */
export interface SecondFactorRefusals {
  fail: (reason: SecondFactorRefusal, error: HttpProblem) => Promise<never>;
  /** The throttle refused the attempt while it waited for a hashing slot. */
  throttled: () => Promise<never>;
  lateRefusal: () => boolean;
}

/**
 * A login's step after the password: the one-time code, or a recovery code in its stead, for a
 * user with a confirmed second factor; a session that can only enrol one for a role that needs
 * one the user has not set up. Returns the session's kind and the recovery code to spend.
 */
export async function checkSecondFactor(
  deps: SecondFactorDeps,
  user: Pick<UserWithClinics, 'id' | 'role' | 'totpConfirmedAt' | 'totpSecret' | 'totpKekId'>,
  input: { otp?: string | undefined; recoveryCode?: string | undefined },
  refusals: SecondFactorRefusals,
): Promise<{ kind: SessionKind; recoveryLookup: string | null }> {
  const { db, passwords, totpBox, clock } = deps;
  const { fail, lateRefusal } = refusals;
  let kind: SessionKind = 'full';
  // A recovery code stands in for the one-time code (recovery-codes.ts); it is spent in the
  // transaction that opens the session, so a failed login never burns it.
  let recoveryLookup: string | null = null;
  if (user.totpConfirmedAt && user.totpSecret && input.recoveryCode !== undefined) {
    const recovery = await checkRecoveryCode(
      db,
      passwords,
      user.id,
      input.recoveryCode,
      lateRefusal,
    );
    if ('skipped' in recovery) return refusals.throttled();
    if (!recovery.ok)
      return fail(recovery.reason, new Unauthorized('The recovery code is not valid.'));
    recoveryLookup = recovery.lookup;
  } else if (user.totpConfirmedAt && user.totpSecret) {
    if (input.otp === undefined) {
      return fail(
        'otp_missing',
        new Unauthorized('A one-time code from your authenticator is required.', {
          extensions: { mfaRequired: true },
        }),
      );
    }
    let secret: Buffer;
    try {
      secret = await totpBox.open(user.id, {
        totpSecret: user.totpSecret,
        totpKekId: user.totpKekId,
      });
    } catch (error) {
      if (!(error instanceof DecryptionFailed)) throw error;
      // Audited and counted like any refused attempt, after the password was checked.
      return fail('otp_secret_unavailable', totpSecretUnavailable());
    }
    const counter = matchTotp(secret, input.otp, clock().getTime());
    if (counter === null)
      return fail('otp_invalid', new Unauthorized('The one-time code is not valid.'));
    if (!(await claimTotpCounter(db, user.id, counter, clock()))) {
      return fail('otp_replayed', new Unauthorized('The one-time code is not valid.'));
    }
  } else if (deps.mfaRequiredRoles.includes(user.role)) {
    // The role needs a second factor the user has not set up: a session that can only enrol one.
    kind = 'mfa_enrollment';
  }
  return { kind, recoveryLookup };
}
