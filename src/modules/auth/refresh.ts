import { actorOf, type RequestContext } from '../../access/context.js';
import type { Database } from '../../db/pool.js';
import { TooManyRequests, Unauthorized } from '../../errors.js';
import type { AuditDoor } from '../audit/audit.types.js';
import {
  findSessionState,
  insertRefreshToken,
  lockRefreshToken,
  markRefreshTokenUsed,
  revokeSession,
  setSessionLastSeen,
} from './auth.repository.js';
import type { TokenPair } from './open-session.js';
import { sessionEndReason } from './session.js';
import { THROTTLE, type Limit, type Throttle } from './throttle.js';
import {
  ACCESS_TOKEN_TTL_SECONDS,
  hashRefreshToken,
  newRefreshToken,
  type AccessTokens,
} from './tokens.js';

export interface SessionsDeps {
  db: Database;
  audit: AuditDoor;
  tokens: AccessTokens;
  clock: () => Date;
  throttle: Throttle;
}

/** Refresh-token rotation and logout (API.md "Auth"). */
export function createSessions(deps: SessionsDeps) {
  const { db, audit, tokens, clock, throttle } = deps;

  return {
    /**
     * Rotates a refresh token: the presented one is spent and a new pair is issued. A spent
     * token presented again means it was copied: the whole session is revoked. Refusals are
     * audited before they are answered.
     */
    async refresh(ctx: RequestContext, refreshToken: string): Promise<TokenPair> {
      const limits: Limit[] = [[`refresh:ip:${ctx.ip ?? 'unknown'}`, THROTTLE.refreshPerAddress]];
      const refuse = async (
        reason: string,
        who: { userId: string | null; sessionId: string | null },
        error: Error,
      ): Promise<never> => {
        await audit.record(ctx, [
          {
            action: 'auth.refresh',
            outcome: 'failure',
            resourceType: 'session',
            resourceId: who.sessionId,
            actorId: who.userId,
            reason,
          },
        ]);
        throw error;
      };
      const retryAfter = await throttle.retryAfter(limits);
      if (retryAfter !== null) {
        return refuse(
          'throttled',
          { userId: null, sessionId: null },
          new TooManyRequests('Too many failed refreshes; try again later.', retryAfter),
        );
      }
      const hash = hashRefreshToken(refreshToken);
      const result = await db.transaction(async (tx) => {
        const unknown = { ok: false as const, reason: 'unknown', userId: null, sessionId: null };
        const row = await lockRefreshToken(tx, hash);
        if (!row) return unknown;
        const state = await findSessionState(tx, row.sessionId);
        if (!state) return unknown;
        const who = { userId: state.user.id, sessionId: state.id };
        if (row.usedAt) {
          await revokeSession(tx, state.id, 'refresh_reuse', clock());
          return { ok: false as const, reason: 'reuse', ...who };
        }
        const ended = sessionEndReason(state, clock());
        if (ended) return { ok: false as const, reason: ended, ...who };
        const next = newRefreshToken();
        await markRefreshTokenUsed(tx, hash, clock());
        await insertRefreshToken(tx, next.hash, state.id, clock());
        await setSessionLastSeen(tx, state.id, clock());
        // A refresh leaves a trace (a stolen refresh token is seen before its reuse), named
        // after the session's user, committed with the rotation.
        await audit.write(tx, ctx, [
          {
            action: 'auth.refresh',
            outcome: 'success',
            resourceType: 'session',
            resourceId: state.id,
            actorId: state.user.id,
            actorRole: state.user.role,
          },
        ]);
        return { ok: true as const, refreshToken: next.token, role: state.user.role, ...who };
      });
      if (!result.ok) {
        await throttle.countFailure(limits);
        return refuse(result.reason, result, new Unauthorized('The refresh token is not valid.'));
      }
      return {
        accessToken: tokens.sign({
          userId: result.userId,
          sessionId: result.sessionId,
          role: result.role,
        }),
        refreshToken: result.refreshToken,
        expiresIn: ACCESS_TOKEN_TTL_SECONDS,
        tokenType: 'Bearer',
      };
    },

    /** Ends the caller's session; the revocation and its event commit together. */
    async logout(ctx: RequestContext): Promise<void> {
      const actor = actorOf(ctx);
      await db.transaction(async (tx) => {
        await revokeSession(tx, actor.sessionId, 'logout', clock());
        await audit.write(tx, ctx, [
          {
            action: 'auth.logout',
            outcome: 'success',
            resourceType: 'session',
            resourceId: actor.sessionId,
          },
        ]);
      });
    },
  };
}
