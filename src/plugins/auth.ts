import jwt from '@fastify/jwt';
import type { FastifyInstance, FastifyRequest } from 'fastify';
import fp from 'fastify-plugin';
import { allows, PERMISSIONS, type Permission } from '../access/permissions.js';
import { parseBreakGlass } from '../access/scope.js';
import type { AuthContext } from '../access/types.js';
import type { Config } from '../config.js';
import type { Role } from '../access/roles.js';
import { Forbidden, TooManyRequests } from '../errors.js';
import { bumpCounter, sessionStateReader, touchSession } from '../modules/auth/auth.repository.js';
import { sessionEndReason } from '../modules/auth/auth.service.js';
import {
  createPasswordHasher,
  PRODUCTION_PASSWORD_HASHING,
  type PasswordHasher,
  type PasswordHashingOptions,
} from '../modules/auth/password.js';
import {
  createAccessTokens,
  invalidToken,
  jwtPluginOptions,
  type AccessTokens,
} from '../modules/auth/tokens.js';
import { createTotpSecretBox, type TotpSecretBox } from '../modules/auth/totp-secret.js';

export interface Identity {
  now: () => Date;
  passwords: PasswordHasher;
  tokens: AccessTokens;
  totpBox: TotpSecretBox;
  mfaRequiredRoles: readonly Role[];
  /** How long a throttled login waits before its 429. */
  throttledLoginDelayMs: number;
}

/**
 * A login refused by the throttle is answered after this delay. A guesser that waits for each
 * answer (as scripts and the benchmark's storm do) then gets one attempt per second per
 * connection instead of as many as the service can refuse, and each refusal still costs it a
 * lookup and an audit event: without the delay, cheaper refusals only meant more of them, and
 * the storm took CPU from everyone else's reads. A real user over the limit waits for
 * Retry-After anyway.
 */
export const THROTTLED_LOGIN_DELAY_MS = 1000;

/** A /v1 route and its access policy, as registered (the permission-matrix test walks these). */
export interface ApiRoute {
  method: string;
  url: string;
  permission: Permission | undefined;
  public: boolean;
}

declare module 'fastify' {
  interface FastifyInstance {
    identity: Identity;
    /** Every /v1 route registered so far with its policy (HEAD twins left out). */
    apiRoutes: readonly ApiRoute[];
  }
  interface FastifyContextConfig {
    /** Usable by a session that may only enrol a second factor (me, logout, mfa/*). */
    mfaEnrollment?: boolean;
  }
}

export interface AuthPluginOptions {
  config: Config;
  /** The clock for token and session times (tests inject a fake one). */
  now?: () => Date;
  /** argon2id parameters; production's unless a test asks for cheaper ones. */
  passwordHashing?: PasswordHashingOptions;
  /** THROTTLED_LOGIN_DELAY_MS unless a test asks for none. */
  throttledLoginDelayMs?: number;
}

const BEARER = /^Bearer ([A-Za-z0-9_-]+\.[A-Za-z0-9_-]*\.[A-Za-z0-9_-]*)$/;

export function isApiRoute(url: string | undefined): boolean {
  return url !== undefined && (url === '/v1' || url.startsWith('/v1/'));
}

/**
 * Authentication on by default for every /v1 route: a route must declare the permission it
 * needs (src/access/permissions.ts) or say it is public, or the app refuses to start. Each
 * request's token is verified, and its session, user and clinics are read from PostgreSQL
 * (no cache), so logout, disabling and a change of rights take effect on the next request.
 */
async function authPlugin(app: FastifyInstance, options: AuthPluginOptions) {
  const { config } = options;
  const now = options.now ?? (() => new Date());
  await app.register(jwt, jwtPluginOptions(config.jwtSecret));

  const identity: Identity = {
    now,
    passwords: createPasswordHasher(options.passwordHashing ?? PRODUCTION_PASSWORD_HASHING),
    tokens: createAccessTokens(app.jwt, now),
    totpBox: createTotpSecretBox(config.masterKey),
    mfaRequiredRoles: config.mfaRequiredRoles,
    throttledLoginDelayMs: options.throttledLoginDelayMs ?? THROTTLED_LOGIN_DELAY_MS,
  };
  app.decorate('identity', identity);
  app.decorateRequest('auth', null);
  app.decorateRequest('breakGlass', null);
  const audit = app.audit;
  const findSessionState = sessionStateReader(app.db);

  const apiRoutes: ApiRoute[] = [];
  app.decorate('apiRoutes', apiRoutes);

  app.addHook('onRoute', (route) => {
    if (!isApiRoute(route.url)) return;
    const permission = route.config?.permission;
    const isPublic = route.config?.public === true;
    const methods = Array.isArray(route.method) ? route.method.join(',') : route.method;
    if (permission !== undefined && isPublic) {
      throw new Error(
        `${methods} ${route.url}: a route is either public or needs a permission, not both`,
      );
    }
    if (permission === undefined && !isPublic) {
      throw new Error(`${methods} ${route.url}: declare config.permission or config.public`);
    }
    if (permission !== undefined && !Object.hasOwn(PERMISSIONS, permission)) {
      throw new Error(`${methods} ${route.url}: unknown permission "${String(permission)}"`);
    }
    for (const method of [route.method].flat()) {
      if (method === 'HEAD') continue;
      apiRoutes.push({ method, url: route.url, permission, public: isPublic });
    }
  });

  async function authenticate(
    request: FastifyRequest,
  ): Promise<{ auth: AuthContext; enrollmentOnly: boolean }> {
    const header = request.headers.authorization;
    const match = typeof header === 'string' ? BEARER.exec(header) : null;
    if (!match) throw invalidToken();
    const claims = identity.tokens.verify(match[1]!);
    const state = await findSessionState(claims.sid);
    const at = now();
    if (!state || state.user.id !== claims.sub) throw invalidToken();
    if (sessionEndReason(state, at) !== null)
      throw invalidToken('The session has ended; log in again.');
    if (state.user.role !== claims.role) throw invalidToken('The session has ended; log in again.');
    if (at.getTime() - state.lastSeenAt.getTime() >= 60_000)
      await touchSession(app.db, state.id, at);
    return {
      auth: {
        userId: state.user.id,
        sessionId: state.id,
        username: state.user.username,
        role: state.user.role,
        clinicIds: state.user.clinicIds,
      },
      enrollmentOnly: state.kind === 'mfa_enrollment',
    };
  }

  async function refuse(request: FastifyRequest, rule: string, error: Forbidden): Promise<never> {
    await audit.record(request, [
      { action: 'access.denied', outcome: 'denied', resourceType: 'route', reason: rule },
    ]);
    throw error;
  }

  app.addHook('onRequest', async (request) => {
    const route = request.routeOptions;
    if (!isApiRoute(route.url) || route.config.public === true) return;
    const permission: Permission | undefined = route.config.permission;
    const { auth, enrollmentOnly } = await authenticate(request);
    request.auth = auth;

    if (enrollmentOnly && route.config.mfaEnrollment !== true) {
      await refuse(
        request,
        'mfa_enrollment_required',
        new Forbidden(
          'Your role requires a second factor: enrol one (POST /v1/auth/mfa/enroll), then log in again.',
          {
            mfaEnrollmentRequired: true,
          },
        ),
      );
    }
    if (permission === undefined || !allows(permission, auth.role)) {
      await refuse(
        request,
        `permission:${String(permission)}`,
        new Forbidden('Your role does not allow this action.'),
      );
    }

    if (config.apiRateLimitPerMinute !== undefined) {
      const counter = await bumpCounter(app.db, `api:user:${auth.userId}`, now(), 60_000);
      if (counter.count > config.apiRateLimitPerMinute) {
        const retryAfter = (counter.windowStartedAt.getTime() + 60_000 - now().getTime()) / 1000;
        throw new TooManyRequests('Too many requests from this user; slow down.', retryAfter);
      }
    }

    parseBreakGlass(request, auth, permission);
  });
}

export default fp(authPlugin, {
  name: 'auth',
  fastify: '5.x',
  dependencies: ['db', 'audit'],
});
