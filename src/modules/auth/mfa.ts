import { actorOf, type RequestContext } from '../../access/context.js';
import type { Database } from '../../db/pool.js';
import { BadRequest, Conflict, Forbidden, NotFound } from '../../errors.js';
import type { AuditDoor } from '../audit/audit.types.js';
import {
  claimTotpCounter,
  findUserById,
  revokeUserSessions,
  updateCredentials,
} from './auth.repository.js';
import { matchTotp, newTotpSecret, totpEnrollment } from './totp.js';
import type { TotpSecretBox } from './totp-secret.js';

export interface MfaDeps {
  db: Database;
  audit: AuditDoor;
  totpBox: TotpSecretBox;
  clock: () => Date;
}

/** TOTP enrolment (API.md "Auth"): each change of the factor commits with its audit event. */
export function createMfa(deps: MfaDeps) {
  const { db, audit, totpBox, clock } = deps;
  const event = (action: string, userId: string) => ({
    action,
    outcome: 'success' as const,
    resourceType: 'user',
    resourceId: userId,
  });

  return {
    /** A new secret, pending until confirmed; enrolling again replaces a pending one. */
    async enroll(ctx: RequestContext) {
      const actor = actorOf(ctx);
      return db.transaction(async (tx) => {
        const user = await findUserById(tx, actor.userId);
        if (!user) throw new NotFound('No such user.');
        if (user.totpConfirmedAt)
          throw new Conflict('A second factor is already set up for this account.');
        const secret = newTotpSecret();
        await updateCredentials(tx, user.id, {
          totpSecret: totpBox.seal(user.id, secret),
          totpConfirmedAt: null,
          updatedAt: clock(),
        });
        await audit.write(tx, ctx, [event('auth.mfa.enroll', user.id)]);
        return totpEnrollment(secret, user.username);
      });
    },

    async confirm(ctx: RequestContext, code: string): Promise<void> {
      const actor = actorOf(ctx);
      const user = await findUserById(db, actor.userId);
      if (!user) throw new NotFound('No such user.');
      if (user.totpConfirmedAt)
        throw new Conflict('A second factor is already set up for this account.');
      if (!user.totpSecret) throw new Conflict('Start enrolment first (POST /v1/auth/mfa/enroll).');
      const invalid = new BadRequest('The one-time code is not valid.', [
        { path: 'body.code', message: 'does not match the enrolled secret' },
      ]);
      const counter = matchTotp(totpBox.open(user.id, user.totpSecret), code, clock().getTime());
      if (counter === null) throw invalid;
      if (!(await claimTotpCounter(db, user.id, counter, clock()))) throw invalid;
      await db.transaction(async (tx) => {
        await updateCredentials(tx, user.id, { totpConfirmedAt: clock(), updatedAt: clock() });
        await audit.write(tx, ctx, [event('auth.mfa.confirm', user.id)]);
      });
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
          totpConfirmedAt: null,
          updatedAt: at,
        });
        await revokeUserSessions(tx, user.id, 'mfa_reset', at);
        await audit.write(tx, ctx, [event('auth.mfa.reset', user.id)]);
      });
    },
  };
}
