import { setTimeout as delay } from 'node:timers/promises';
import type { RequestContext } from '../../access/context.js';
import type { Role } from '../../access/roles.js';
import type { Database } from '../../db/pool.js';
import { BadRequest, TooManyRequests, Unauthorized, type HttpProblem } from '../../errors.js';
import { CONTROL_MESSAGE, hasControl } from '../../schemas/text.js';
import type { AuditDoor } from '../audit/audit.types.js';
import { findUserByUsername, updateCredentials } from './auth.repository.js';
import { openSession, type TokenPair } from './open-session.js';
import type { PasswordHasher } from './password.js';
import { spendRecoveryCode } from './recovery-codes.js';
import { checkSecondFactor, type SecondFactorRefusal } from './second-factor.js';
import { canonicalUsername, loginLimits, type Throttle } from './throttle.js';
import type { AccessTokens } from './tokens.js';
import type { TotpSecretBox } from './totp-secret.js';

export type DeniedReason =
  'throttled' | 'bad_input' | 'unknown_user' | 'bad_password' | 'disabled' | SecondFactorRefusal;

export interface LoginResult extends TokenPair {
  user: { id: string; username: string; role: Role; clinicIds: string[] };
  mfaEnrollmentRequired: boolean;
}

/** One body for an unknown username and a wrong password (and a disabled account). */
export const BAD_CREDENTIALS = 'The username or password is not correct.';

export interface LoginDeps {
  db: Database;
  audit: AuditDoor;
  passwords: PasswordHasher;
  tokens: AccessTokens;
  totpBox: TotpSecretBox;
  clock: () => Date;
  mfaRequiredRoles: readonly Role[];
  throttle: Throttle;
  /** How long a throttled login waits before its 429. */
  throttledLoginDelayMs: number;
}

/**
 * `POST /v1/auth/login`. Every attempt is audited: a refusal through the batched door before
 * it is answered, a success in the transaction that opens the session (with a rehash of the
 * password when its parameters changed), so the event and the session commit together.
 */
export function createLogin(deps: LoginDeps) {
  const { db, audit, passwords, clock, throttle } = deps;

  return async function login(
    ctx: RequestContext,
    input: {
      username: string;
      password: string;
      otp?: string | undefined;
      recoveryCode?: string | undefined;
    },
  ): Promise<LoginResult> {
    const username = canonicalUsername(input.username);
    // A control character (PostgreSQL cannot even compare U+0000) makes the attempt a failure
    // like any other: counted, audited, answered 400 without a lookup.
    const malformed = (['username', 'password', 'otp', 'recoveryCode'] as const).find((field) => {
      const value = input[field];
      return value !== undefined && hasControl(value);
    });
    // The user is looked up even for a refusal, so its audit event names the account tried:
    // "every access is traceable".
    const user = malformed ? undefined : await findUserByUsername(db, username);
    // Throttled per account at this address, per address, and per account (throttle.ts).
    const { limits, accountAtAddress } = loginLimits(
      user ? { userId: user.id } : { canonicalUsername: username },
      ctx.ip ?? 'unknown',
    );
    const refuse = async (reason: DeniedReason, error: HttpProblem): Promise<never> => {
      // Fail closed: if the event cannot be written, the answer is 503, not 401 or 429.
      await audit.record(ctx, [
        {
          action: 'auth.login',
          outcome: 'failure',
          resourceType: 'user',
          resourceId: user?.id ?? null,
          actorId: user?.id ?? null,
          actorRole: user?.role ?? null,
          reason,
        },
      ]);
      if (reason === 'throttled' && deps.throttledLoginDelayMs > 0) {
        await delay(deps.throttledLoginDelayMs);
      }
      throw error;
    };
    const throttled = (retryAfter: number) =>
      refuse(
        'throttled',
        new TooManyRequests('Too many failed logins; try again later.', retryAfter),
      );
    const fail = async (reason: DeniedReason, error: HttpProblem): Promise<never> => {
      await throttle.countFailure(limits);
      return refuse(reason, error);
    };

    const retryAfter = await throttle.retryAfter(limits);
    if (retryAfter !== null) return throttled(retryAfter);
    if (malformed) {
      return fail(
        'bad_input',
        new BadRequest('The request is not valid.', [
          { path: `body.${malformed}`, message: CONTROL_MESSAGE },
        ]),
      );
    }

    // A storm's attempts all pass the check above at once and then queue for a hashing slot;
    // by the time one gets its slot, the failures ahead of it may have taken a counter to its
    // limit. Such an attempt is refused then, without hashing, for known and unknown names
    // alike (so the answer's timing still does not tell whether the name exists).
    const lateRefusal = () => throttle.knownRefused(limits) !== null;
    if (!user) {
      // Same work as a real check, so the answer's timing does not tell that the name is unknown.
      const dummy = await passwords.verifyDummy(input.password, lateRefusal);
      if (dummy.skipped) return throttled(throttle.knownRefused(limits) ?? 1);
      return fail('unknown_user', new Unauthorized(BAD_CREDENTIALS));
    }
    const verified = await passwords.verify(user.passwordHash, input.password, lateRefusal);
    if (verified.skipped) return throttled(throttle.knownRefused(limits) ?? 1);
    if (!verified.ok) return fail('bad_password', new Unauthorized(BAD_CREDENTIALS));
    if (user.disabled) return fail('disabled', new Unauthorized(BAD_CREDENTIALS));

    const { kind, recoveryLookup } = await checkSecondFactor(deps, user, input, {
      fail,
      throttled: () => throttled(throttle.knownRefused(limits) ?? 1),
      lateRefusal,
    });

    const rehash = verified.needsRehash ? await passwords.hash(input.password) : null;
    const tokens = await db.transaction(async (tx) => {
      if (recoveryLookup && !(await spendRecoveryCode(tx, user.id, recoveryLookup, clock())))
        return null;
      if (rehash)
        await updateCredentials(tx, user.id, { passwordHash: rehash, updatedAt: clock() });
      const pair = await openSession(tx, deps, user, kind);
      await audit.write(tx, ctx, [
        {
          action: 'auth.login',
          outcome: 'success',
          resourceType: 'user',
          resourceId: user.id,
          actorId: user.id,
          actorRole: user.role,
          reason:
            kind === 'mfa_enrollment'
              ? 'mfa_enrollment_only'
              : recoveryLookup
                ? 'recovery_code'
                : null,
        },
      ]);
      return pair;
    });
    if (tokens === null) {
      // Another login spent the same code a moment earlier: of two, exactly one wins.
      return fail('recovery_code_replayed', new Unauthorized('The recovery code is not valid.'));
    }
    // The account's failures at this address are forgiven; the account's hourly ceiling and the
    // address's own count are not (a guesser's failures elsewhere still count against them).
    await throttle.reset(accountAtAddress);
    return {
      ...tokens,
      user: { id: user.id, username: user.username, role: user.role, clinicIds: user.clinicIds },
      mfaEnrollmentRequired: kind === 'mfa_enrollment',
    };
  };
}
