import { actorOf, type RequestContext } from '../../access/context.js';
import type { Database } from '../../db/pool.js';
import { BadRequest, Conflict, Forbidden, NotFound, Unauthorized } from '../../errors.js';
import { openTotpSecret } from './totp-secret.js';
import type { AuditDoor } from '../audit/audit.types.js';
import {
  claimTotpCounter,
  findUserById,
  revokeUserSessions,
  sessionOpenedAt,
  updateCredentials,
} from './auth.repository.js';
import type { PasswordHasher } from './password.js';
import { loginLimits, type Throttle } from './throttle.js';
import { deleteRecoveryCodes, hashNewCodes, replaceRecoveryCodes } from './recovery-codes.js';
import { matchTotp, newTotpSecret, totpEnrollment } from './totp.js';
import type { TotpSecretBox } from './totp-secret.js';

export interface MfaDeps {
  db: Database;
  audit: AuditDoor;
  totpBox: TotpSecretBox;
  clock: () => Date;
  passwords: PasswordHasher;
  throttle: Throttle;
}

/** Enrolling a second factor needs a login younger than this, or the password again. */
export const ENROLL_FRESH_LOGIN_MS = 5 * 60 * 1000;

/** TOTP enrolment (API.md "Auth"): each change of the factor commits with its audit event. */
export function createMfa(deps: MfaDeps) {
  const { db, audit, totpBox, clock, passwords, throttle } = deps;
  const event = (action: string, userId: string) => ({
    action,
    outcome: 'success' as const,
    resourceType: 'user',
    resourceId: userId,
  });

  return {
    /**
     * A new secret, pending until confirmed; enrolling again replaces a pending one. Only with
     * a login less than 5 minutes old, or the password again: a session token left behind (or
     * stolen) must not be enough to bind someone else's authenticator to the account. A wrong
     * password counts as a failed login of the account at this address (throttle.ts).
     */
    async enroll(ctx: RequestContext, input: { password?: string | undefined } = {}) {
      const actor = actorOf(ctx);
      const refuse = (reason: string, detail: string) =>
        new Unauthorized(detail, {
          audit: {
            action: 'auth.mfa.enroll',
            resourceType: 'user',
            resourceId: actor.userId,
            reason,
          },
        });
      if (input.password === undefined) {
        const openedAt = await sessionOpenedAt(db, actor.sessionId);
        if (openedAt === null || clock().getTime() - openedAt.getTime() >= ENROLL_FRESH_LOGIN_MS) {
          throw refuse(
            'login_not_fresh',
            'Enrolling a second factor needs a login less than 5 minutes old, or your password in the body.',
          );
        }
      } else {
        const { limits } = loginLimits({ userId: actor.userId }, ctx.ip ?? 'unknown');
        const retryAfter = await throttle.retryAfter(limits);
        if (retryAfter !== null)
          throw refuse('throttled', 'Too many failed attempts; log in again later.');
        const user = await findUserById(db, actor.userId);
        if (!user) throw new NotFound('No such user.');
        const verified = await passwords.verify(user.passwordHash, input.password);
        if (!verified.ok) {
          await throttle.countFailure(limits);
          throw refuse('bad_password', 'The password is not correct.');
        }
      }
      return db.transaction(async (tx) => {
        const user = await findUserById(tx, actor.userId);
        if (!user) throw new NotFound('No such user.');
        if (user.totpConfirmedAt)
          throw new Conflict('A second factor is already set up for this account.');
        const secret = newTotpSecret();
        await updateCredentials(tx, user.id, {
          ...(await totpBox.seal(user.id, secret)),
          totpConfirmedAt: null,
          updatedAt: clock(),
        });
        await deleteRecoveryCodes(tx, user.id);
        await audit.write(tx, ctx, [event('auth.mfa.enroll', user.id)]);
        return totpEnrollment(secret, user.username);
      });
    },

    /** Confirms the pending factor; answers its ten recovery codes, shown only this once. */
    async confirm(ctx: RequestContext, code: string): Promise<{ recoveryCodes: string[] }> {
      const actor = actorOf(ctx);
      const user = await findUserById(db, actor.userId);
      if (!user) throw new NotFound('No such user.');
      if (user.totpConfirmedAt)
        throw new Conflict('A second factor is already set up for this account.');
      if (!user.totpSecret) throw new Conflict('Start enrolment first (POST /v1/auth/mfa/enroll).');
      const invalid = new BadRequest('The one-time code is not valid.', [
        { path: 'body.code', message: 'does not match the enrolled secret' },
      ]);
      const counter = matchTotp(
        await openTotpSecret(totpBox, user.id, user.totpSecret, user.totpKekId),
        code,
        clock().getTime(),
      );
      if (counter === null) throw invalid;
      if (!(await claimTotpCounter(db, user.id, counter, clock()))) throw invalid;
      const { codes, hashes } = await hashNewCodes(passwords);
      await db.transaction(async (tx) => {
        await updateCredentials(tx, user.id, { totpConfirmedAt: clock(), updatedAt: clock() });
        await replaceRecoveryCodes(tx, user.id, hashes, clock());
        await audit.write(tx, ctx, [event('auth.mfa.confirm', user.id)]);
      });
      return { recoveryCodes: codes };
    },

    /**
     * `POST /v1/users/:id/mfa/reset` (admin): another user's second factor is removed (confirmed
     * or pending) and their sessions end, with the event, in one transaction. Never one's own:
     * an admin who could reset their own factor would make a stolen password enough.
     */
    async reset(ctx: RequestContext, userId: string): Promise<void> {
      const actor = actorOf(ctx);
      if (userId === actor.userId) {
        throw new Forbidden('You cannot reset your own second factor; ask another admin.', {
          audit: {
            action: 'auth.mfa.reset',
            resourceType: 'user',
            resourceId: userId,
            reason: 'own_factor',
          },
        });
      }
      await db.transaction(async (tx) => {
        const user = await findUserById(tx, userId);
        if (!user) throw new NotFound('No such user.');
        const at = clock();
        await updateCredentials(tx, user.id, {
          totpSecret: null,
          totpKekId: null,
          totpConfirmedAt: null,
          updatedAt: at,
        });
        await deleteRecoveryCodes(tx, user.id);
        await revokeUserSessions(tx, user.id, 'mfa_reset', at);
        await audit.write(tx, ctx, [event('auth.mfa.reset', user.id)]);
        // A 204 of no client: nothing of the answer is kept, only that the key was used.
        await ctx.idempotency?.remember(tx, { clientId: null, body: null });
      });
    },
  };
}
