import { setTimeout as delay } from 'node:timers/promises';
import type { RequestContext } from '../../access/context.js';
import type { Role } from '../../access/roles.js';
import { uuidv7 } from '../../db/ids.js';
import type { Database, Executor } from '../../db/pool.js';
import { DecryptionFailed } from '../../crypto/index.js';
import {
  BadRequest,
  ServiceUnavailable,
  TooManyRequests,
  Unauthorized,
  type HttpProblem,
} from '../../errors.js';
import { CONTROL_MESSAGE, hasControl } from '../../schemas/text.js';
import type { AuditDoor } from '../audit/audit.types.js';
import {
  claimTotpCounter,
  findUserByUsername,
  insertRefreshToken,
  insertSession,
  updateCredentials,
} from './auth.repository.js';
import type { PasswordHasher } from './password.js';
import { ENROLLMENT_SESSION_MS, SESSION_ABSOLUTE_MS, type SessionKind } from './session.js';
import { canonicalUsername, loginLimits, type Throttle } from './throttle.js';
import { ACCESS_TOKEN_TTL_SECONDS, newRefreshToken, type AccessTokens } from './tokens.js';
import { checkRecoveryCode, spendRecoveryCode } from './recovery-codes.js';
import { matchTotp } from './totp.js';
import type { TotpSecretBox } from './totp-secret.js';

export type DeniedReason =
  | 'throttled'
  | 'bad_input'
  | 'unknown_user'
  | 'bad_password'
  | 'disabled'
  | 'otp_missing'
  | 'otp_invalid'
  | 'otp_replayed'
  | 'otp_secret_unavailable'
  | 'recovery_code_invalid'
  | 'recovery_code_replayed';

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

export interface TokenPair {
  accessToken: string;
  refreshToken: string;
  expiresIn: number;
  tokenType: 'Bearer';
}

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
 * Opens a session with its first refresh token in the caller's transaction, and signs its
 * first access token.
 */
export async function openSession(
  tx: Executor,
  deps: Pick<LoginDeps, 'tokens' | 'clock'>,
  user: { id: string; role: Role },
  kind: SessionKind,
): Promise<TokenPair> {
  const at = deps.clock();
  const sessionId = uuidv7(at.getTime());
  const refresh = newRefreshToken();
  await insertSession(tx, {
    id: sessionId,
    userId: user.id,
    kind,
    now: at,
    expiresAt: new Date(
      at.getTime() + (kind === 'full' ? SESSION_ABSOLUTE_MS : ENROLLMENT_SESSION_MS),
    ),
  });
  await insertRefreshToken(tx, refresh.hash, sessionId, at);
  return {
    accessToken: deps.tokens.sign({ userId: user.id, sessionId, role: user.role }),
    refreshToken: refresh.token,
    expiresIn: ACCESS_TOKEN_TTL_SECONDS,
    tokenType: 'Bearer',
  };
}

/**
 * `POST /v1/auth/login`. Every attempt is audited: a refusal through the batched door before
 * it is answered, a success in the transaction that opens the session (with a rehash of the
 * password when its parameters changed), so the event and the session commit together.
 */
export function createLogin(deps: LoginDeps) {
  const { db, audit, passwords, totpBox, clock, throttle } = deps;

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
      if ('skipped' in recovery) return throttled(throttle.knownRefused(limits) ?? 1);
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
