import type { FastifyRequest } from 'fastify';
import { BREAK_GLASS_HEADER, parseBreakGlass } from '../../access/break-glass.js';
import type { Actor } from '../../access/context.js';
import { allows, type Permission } from '../../access/permissions.js';
import { purposeOfUse, requestContext } from '../../access/request-context.js';
import type { Database } from '../../db/pool.js';
import { Forbidden, TooManyRequests } from '../../errors.js';
import { isApiRoute } from '../../plugins/route-policy.js';
import { bumpCounter, touchSession, type SessionState } from './auth.repository.js';
import { sessionEndReason } from './session.js';
import { invalidToken, type AccessTokens } from './tokens.js';

const BEARER = /^Bearer ([A-Za-z0-9_-]+\.[A-Za-z0-9_-]*\.[A-Za-z0-9_-]*)$/;

export interface AuthHookDeps {
  db: Database;
  tokens: AccessTokens;
  clock: () => Date;
  findSessionState: (sessionId: string) => Promise<SessionState | null>;
  apiRateLimitPerMinute: number | undefined;
}

/**
 * The onRequest step of every request: it builds the request's context (access/context.ts)
 * once, and for /v1 routes that are not public it authenticates first. Each request's token
 * is verified and its session, user and clinics are read from PostgreSQL (no cache), so
 * logout, disabling and a change of rights take effect on the next request. Then the route's
 * permission, the per-user rate limit and break-glass are decided; refusals carry their audit
 * event (recorded before the answer by the audit module).
 */
export function createAuthHook(deps: AuthHookDeps) {
  const { db, tokens, clock } = deps;

  async function authenticate(
    request: FastifyRequest,
  ): Promise<{ actor: Actor; enrollmentOnly: boolean }> {
    const header = request.headers.authorization;
    const match = typeof header === 'string' ? BEARER.exec(header) : null;
    if (!match) throw invalidToken();
    const claims = tokens.verify(match[1]!);
    const state = await deps.findSessionState(claims.sid);
    const at = clock();
    if (!state || state.user.id !== claims.sub) throw invalidToken();
    if (sessionEndReason(state, at) !== null)
      throw invalidToken('The session has ended; log in again.');
    if (state.user.role !== claims.role) throw invalidToken('The session has ended; log in again.');
    if (at.getTime() - state.lastSeenAt.getTime() >= 60_000) await touchSession(db, state.id, at);
    return {
      actor: {
        userId: state.user.id,
        sessionId: state.id,
        username: state.user.username,
        role: state.user.role,
        clinicIds: state.user.clinicIds,
      },
      enrollmentOnly: state.kind === 'mfa_enrollment',
    };
  }

  async function rateLimit(actor: Actor) {
    if (deps.apiRateLimitPerMinute === undefined) return;
    const counter = await bumpCounter(db, `api:user:${actor.userId}`, clock(), 60_000);
    if (counter.count > deps.apiRateLimitPerMinute) {
      const retryAfter = (counter.windowStartedAt.getTime() + 60_000 - clock().getTime()) / 1000;
      throw new TooManyRequests('Too many requests from this user; slow down.', retryAfter);
    }
  }

  return async function onRequest(request: FastifyRequest) {
    const route = request.routeOptions;
    const facts = { id: request.id, ip: request.ip, headers: request.headers };
    const purpose = purposeOfUse(facts);
    if (!isApiRoute(route.url) || route.config.public === true) {
      request.ctx = requestContext(facts, { actor: null, purposeOfUse: purpose, breakGlass: null });
      return;
    }
    const permission: Permission | undefined = route.config.permission;
    const { actor, enrollmentOnly } = await authenticate(request);
    // Decided now (the context holds it), answered only after the permission check below.
    let breakGlass: { reason: string } | null = null;
    let breakGlassError: Error | undefined;
    try {
      breakGlass = parseBreakGlass(request.headers[BREAK_GLASS_HEADER], actor, permission);
    } catch (error) {
      breakGlassError = error as Error;
    }
    request.ctx = requestContext(facts, { actor, purposeOfUse: purpose, breakGlass });

    if (enrollmentOnly && route.config.mfaEnrollment !== true) {
      throw new Forbidden(
        'Your role requires a second factor: enrol one (POST /v1/auth/mfa/enroll), then log in again.',
        {
          extensions: { mfaEnrollmentRequired: true },
          audit: {
            action: 'access.denied',
            resourceType: 'route',
            reason: 'mfa_enrollment_required',
          },
        },
      );
    }
    if (permission === undefined || !allows(permission, actor.role)) {
      throw new Forbidden('Your role does not allow this action.', {
        audit: {
          action: 'access.denied',
          resourceType: 'route',
          reason: `permission:${String(permission)}`,
        },
      });
    }
    await rateLimit(actor);
    if (breakGlassError !== undefined) throw breakGlassError;
  };
}
