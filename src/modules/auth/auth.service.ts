import { createHash } from 'node:crypto';
import type { AuthContext } from '../../access/types.js';
import type { Role } from '../../access/roles.js';
import { uuidv7 } from '../../db/ids.js';
import type { Database } from '../../db/pool.js';
import {
  BadRequest,
  Conflict,
  NotFound,
  TooManyRequests,
  Unauthorized,
  type HttpProblem,
} from '../../errors.js';
import { findUserById, findUserByUsername, updateUser } from '../users/users.repository.js';
import { toPublicUser } from '../users/users.service.js';
import {
  bumpCounter,
  claimTotpCounter,
  deleteCounter,
  findSessionState,
  insertRefreshToken,
  insertSession,
  lockRefreshToken,
  markRefreshTokenUsed,
  readCounters,
  revokeSession,
  setSessionLastSeen,
  type SessionKind,
  type SessionState,
} from './auth.repository.js';
import { KnownRefusals } from './known-refusals.js';
import type { PasswordHasher } from './password.js';
import {
  ACCESS_TOKEN_TTL_SECONDS,
  hashRefreshToken,
  newRefreshToken,
  type AccessTokens,
} from './tokens.js';
import { matchTotp, newTotpSecret, totpEnrollment } from './totp.js';
import type { TotpSecretBox } from './totp-secret.js';

/** Session lifetimes: idle (no request, no refresh) and absolute, whatever the activity. */
export const SESSION_IDLE_MS = 30 * 60 * 1000;
export const SESSION_ABSOLUTE_MS = 12 * 60 * 60 * 1000;
/** A session that may only enrol a second factor lives as long as one access token. */
export const ENROLLMENT_SESSION_MS = ACCESS_TOKEN_TTL_SECONDS * 1000;

/**
 * Throttling: fixed windows counted in PostgreSQL, so every process sees the same count.
 * Per username (hashed, so the table holds no names) and per address; an address is shared
 * by a clinic's tablets, so its limit is higher.
 */
export const THROTTLE = {
  windowMs: 15 * 60 * 1000,
  loginPerUsername: 10,
  loginPerAddress: 50,
  refreshPerAddress: 30,
} as const;

export type DeniedReason =
  | 'throttled'
  | 'unknown_user'
  | 'bad_password'
  | 'disabled'
  | 'otp_missing'
  | 'otp_invalid'
  | 'otp_replayed';

export interface TokenPair {
  accessToken: string;
  refreshToken: string;
  expiresIn: number;
  tokenType: 'Bearer';
}

export type LoginOutcome =
  | {
      ok: true;
      userId: string;
      role: Role;
      tokens: TokenPair;
      user: { id: string; username: string; role: Role; clinicIds: string[] };
      mfaEnrollmentRequired: boolean;
    }
  | {
      ok: false;
      userId: string | null;
      role: Role | null;
      reason: DeniedReason;
      error: HttpProblem;
    };

/** One body for an unknown username and a wrong password (and a disabled account). */
export const BAD_CREDENTIALS = 'The username or password is not correct.';

/** Why a session no longer works, or null if it does. */
export function sessionEndReason(state: SessionState, now: Date): string | null {
  if (state.revokedAt) return 'revoked';
  if (state.user.disabled) return 'user_disabled';
  if (now.getTime() >= state.expiresAt.getTime()) return 'expired';
  if (now.getTime() >= state.lastSeenAt.getTime() + SESSION_IDLE_MS) return 'idle';
  return null;
}

function usernameKey(username: string) {
  return `login:user:${createHash('sha256').update(username.toLowerCase(), 'utf8').digest('hex')}`;
}

export interface AuthServiceDeps {
  db: Database;
  passwords: PasswordHasher;
  tokens: AccessTokens;
  totpBox: TotpSecretBox;
  now: () => Date;
  mfaRequiredRoles: readonly Role[];
  /** Throttle keys this process knows PostgreSQL refuses; one per app (default 10,000 keys). */
  knownRefusals?: KnownRefusals;
}

export type AuthService = ReturnType<typeof createAuthService>;

export function createAuthService(deps: AuthServiceDeps) {
  const { db, passwords, tokens, totpBox, now } = deps;
  const refusals = deps.knownRefusals ?? new KnownRefusals();

  /**
   * Seconds until the caller may try again, or null. A key this process already knows to be
   * over its limit is refused without a counter read (KnownRefusals); otherwise PostgreSQL's
   * counters decide, and a refusal there is remembered until its window ends.
   */
  async function throttled(limits: [string, number][]): Promise<number | null> {
    const at = now().getTime();
    const keys = limits.map(([key]) => key);
    const known = refusals.retryAfterMs(keys, at);
    if (known !== null) return known / 1000;
    const counters = await readCounters(db, keys);
    let retryAfterMs = 0;
    for (const counter of counters) {
      const limit = limits.find(([key]) => key === counter.key)?.[1] ?? Infinity;
      const windowEnd = counter.windowStartedAt.getTime() + THROTTLE.windowMs;
      if (counter.count >= limit && windowEnd > at) {
        retryAfterMs = Math.max(retryAfterMs, windowEnd - at);
        refusals.remember(counter.key, windowEnd, at);
      }
    }
    return retryAfterMs > 0 ? retryAfterMs / 1000 : null;
  }

  /** Whether this process already knows one of the keys to be refused (no database). */
  function knownRefused(limits: [string, number][]): number | null {
    const ms = refusals.retryAfterMs(
      limits.map(([key]) => key),
      now().getTime(),
    );
    return ms === null ? null : ms / 1000;
  }

  async function countFailure(limits: [string, number][]) {
    for (const [key, limit] of limits) {
      const at = now();
      const counter = await bumpCounter(db, key, at, THROTTLE.windowMs);
      // This failure took the shared counter to its limit: every process's next check refuses.
      if (counter.count >= limit) {
        refusals.remember(key, counter.windowStartedAt.getTime() + THROTTLE.windowMs, at.getTime());
      }
    }
  }

  async function openSession(userId: string, role: Role, kind: SessionKind): Promise<TokenPair> {
    const at = now();
    const sessionId = uuidv7(at.getTime());
    const refresh = newRefreshToken();
    await db.transaction(async (tx) => {
      await insertSession(tx, {
        id: sessionId,
        userId,
        kind,
        now: at,
        expiresAt: new Date(
          at.getTime() + (kind === 'full' ? SESSION_ABSOLUTE_MS : ENROLLMENT_SESSION_MS),
        ),
      });
      await insertRefreshToken(tx, refresh.hash, sessionId, at);
    });
    return {
      accessToken: tokens.sign({ userId, sessionId, role }),
      refreshToken: refresh.token,
      expiresIn: ACCESS_TOKEN_TTL_SECONDS,
      tokenType: 'Bearer',
    };
  }

  return {
    async login(
      input: { username: string; password: string; otp?: string | undefined },
      address: string,
    ): Promise<LoginOutcome> {
      const userKey = usernameKey(input.username);
      const addressKey = `login:ip:${address}`;
      const limits: [string, number][] = [
        [userKey, THROTTLE.loginPerUsername],
        [addressKey, THROTTLE.loginPerAddress],
      ];
      // The user is looked up even for a refusal, so its audit event names the account tried
      // (as before the pre-filter): "every access is traceable".
      const user = await findUserByUsername(db, input.username);
      const refuse = (retryAfter: number): LoginOutcome => ({
        ok: false,
        userId: user?.id ?? null,
        role: user?.role ?? null,
        reason: 'throttled',
        error: new TooManyRequests('Too many failed logins; try again later.', retryAfter),
      });
      const fail = async (reason: DeniedReason, error: HttpProblem): Promise<LoginOutcome> => {
        await countFailure(limits);
        return { ok: false, userId: user?.id ?? null, role: user?.role ?? null, reason, error };
      };

      const retryAfter = await throttled(limits);
      if (retryAfter !== null) return refuse(retryAfter);

      // A storm's attempts all pass the check above at once and then queue for a hashing slot;
      // by the time one gets its slot, the failures ahead of it may have taken a counter to its
      // limit. Such an attempt is refused then, without hashing, for known and unknown names
      // alike (so the answer's timing still does not tell whether the name exists).
      const lateRefusal = () => knownRefused(limits) !== null;
      if (!user) {
        // Same work as a real check, so the answer's timing does not tell that the name is unknown.
        const dummy = await passwords.verifyDummy(input.password, lateRefusal);
        if (dummy.skipped) return refuse(knownRefused(limits) ?? 1);
        return fail('unknown_user', new Unauthorized(BAD_CREDENTIALS));
      }
      const verified = await passwords.verify(user.passwordHash, input.password, lateRefusal);
      if (verified.skipped) return refuse(knownRefused(limits) ?? 1);
      if (!verified.ok) return fail('bad_password', new Unauthorized(BAD_CREDENTIALS));
      if (user.disabled) return fail('disabled', new Unauthorized(BAD_CREDENTIALS));
      if (verified.needsRehash) {
        await updateUser(db, user.id, {
          passwordHash: await passwords.hash(input.password),
          updatedAt: now(),
        });
      }

      let kind: SessionKind = 'full';
      if (user.totpConfirmedAt && user.totpSecret) {
        if (input.otp === undefined) {
          return fail(
            'otp_missing',
            new Unauthorized('A one-time code from your authenticator is required.', {
              mfaRequired: true,
            }),
          );
        }
        const counter = matchTotp(
          totpBox.open(user.id, user.totpSecret),
          input.otp,
          now().getTime(),
        );
        if (counter === null)
          return fail('otp_invalid', new Unauthorized('The one-time code is not valid.'));
        if (!(await claimTotpCounter(db, user.id, counter, now()))) {
          return fail('otp_replayed', new Unauthorized('The one-time code is not valid.'));
        }
      } else if (deps.mfaRequiredRoles.includes(user.role)) {
        // The role needs a second factor the user has not set up: a session that can only enrol one.
        kind = 'mfa_enrollment';
      }

      await deleteCounter(db, userKey);
      // Only a race (failures reaching the limit while this attempt was hashing) can have taught
      // this process a refusal for the name; another process that learnt it keeps refusing the
      // name until the window ends, as if the success had come a moment later.
      refusals.forget(userKey);
      return {
        ok: true,
        userId: user.id,
        role: user.role,
        tokens: await openSession(user.id, user.role, kind),
        user: { id: user.id, username: user.username, role: user.role, clinicIds: user.clinicIds },
        mfaEnrollmentRequired: kind === 'mfa_enrollment',
      };
    },

    /**
     * Rotates a refresh token: the presented one is spent and a new pair is issued. A spent
     * token presented again means it was copied: the whole session is revoked.
     */
    async refresh(
      refreshToken: string,
      address: string,
    ): Promise<
      | { ok: true; tokens: TokenPair; userId: string; sessionId: string }
      | {
          ok: false;
          reason: string;
          userId: string | null;
          sessionId: string | null;
          error: HttpProblem;
        }
    > {
      const addressKey = `refresh:ip:${address}`;
      const retryAfter = await throttled([[addressKey, THROTTLE.refreshPerAddress]]);
      if (retryAfter !== null) {
        return {
          ok: false,
          reason: 'throttled',
          userId: null,
          sessionId: null,
          error: new TooManyRequests('Too many failed refreshes; try again later.', retryAfter),
        };
      }
      const invalid = () => new Unauthorized('The refresh token is not valid.');
      const hash = hashRefreshToken(refreshToken);
      const result = await db.transaction(async (tx) => {
        const row = await lockRefreshToken(tx, hash);
        if (!row) return { ok: false as const, reason: 'unknown', userId: null, sessionId: null };
        const state = await findSessionState(tx, row.sessionId);
        if (!state) return { ok: false as const, reason: 'unknown', userId: null, sessionId: null };
        const base = { userId: state.user.id, sessionId: state.id };
        if (row.usedAt) {
          await revokeSession(tx, state.id, 'refresh_reuse', now());
          return { ok: false as const, reason: 'reuse', ...base };
        }
        const ended = sessionEndReason(state, now());
        if (ended) return { ok: false as const, reason: ended, ...base };
        const next = newRefreshToken();
        await markRefreshTokenUsed(tx, hash, now());
        await insertRefreshToken(tx, next.hash, state.id, now());
        await setSessionLastSeen(tx, state.id, now());
        return { ok: true as const, refreshToken: next.token, role: state.user.role, ...base };
      });
      if (!result.ok) {
        await countFailure([[addressKey, THROTTLE.refreshPerAddress]]);
        return { ...result, error: invalid() };
      }
      return {
        ok: true,
        userId: result.userId,
        sessionId: result.sessionId,
        tokens: {
          accessToken: tokens.sign({
            userId: result.userId,
            sessionId: result.sessionId,
            role: result.role,
          }),
          refreshToken: result.refreshToken,
          expiresIn: ACCESS_TOKEN_TTL_SECONDS,
          tokenType: 'Bearer',
        },
      };
    },

    async logout(auth: AuthContext) {
      await revokeSession(db, auth.sessionId, 'logout', now());
    },

    async me(auth: AuthContext) {
      const user = await findUserById(db, auth.userId);
      if (!user) throw new NotFound('No such user.');
      return toPublicUser(user);
    },

    /** A new secret, pending until confirmed; enrolling again replaces a pending one. */
    async enroll(auth: AuthContext) {
      const user = await findUserById(db, auth.userId);
      if (!user) throw new NotFound('No such user.');
      if (user.totpConfirmedAt)
        throw new Conflict('A second factor is already set up for this account.');
      const secret = newTotpSecret();
      await updateUser(db, user.id, {
        totpSecret: totpBox.seal(user.id, secret),
        totpConfirmedAt: null,
        updatedAt: now(),
      });
      return totpEnrollment(secret, user.username);
    },

    async confirm(auth: AuthContext, code: string) {
      const user = await findUserById(db, auth.userId);
      if (!user) throw new NotFound('No such user.');
      if (user.totpConfirmedAt)
        throw new Conflict('A second factor is already set up for this account.');
      if (!user.totpSecret) throw new Conflict('Start enrolment first (POST /v1/auth/mfa/enroll).');
      const invalid = new BadRequest('The one-time code is not valid.', [
        { path: 'body.code', message: 'does not match the enrolled secret' },
      ]);
      const counter = matchTotp(totpBox.open(user.id, user.totpSecret), code, now().getTime());
      if (counter === null) throw invalid;
      if (!(await claimTotpCounter(db, user.id, counter, now()))) throw invalid;
      await updateUser(db, user.id, { totpConfirmedAt: now(), updatedAt: now() });
    },
  };
}
