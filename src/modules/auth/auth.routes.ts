import { setTimeout as delay } from 'node:timers/promises';
import type { FastifyPluginAsyncZod } from 'fastify-type-provider-zod';
import { z } from 'zod';
import {
  AUTHENTICATED_PROBLEMS,
  BODY_PROBLEMS,
  problemResponses,
} from '../../schemas/responses.js';
import { userSchema } from '../users/users.schemas.js';
import {
  loginBodySchema,
  loginResponseSchema,
  mfaConfirmBodySchema,
  mfaEnrollResponseSchema,
  refreshBodySchema,
  refreshResponseSchema,
} from './auth.schemas.js';
import { createAuthService } from './auth.service.js';

/** Login, refresh, logout, the caller, and the second factor (API.md "Auth"). */
export const authRoutes: FastifyPluginAsyncZod = async (app) => {
  const audit = app.audit;
  const auth = createAuthService({
    db: app.db,
    passwords: app.identity.passwords,
    tokens: app.identity.tokens,
    totpBox: app.identity.totpBox,
    now: app.identity.now,
    mfaRequiredRoles: app.identity.mfaRequiredRoles,
  });

  app.post(
    '/v1/auth/login',
    {
      config: { public: true },
      schema: {
        tags: ['auth'],
        summary: 'Log in with username and password (and a one-time code once enrolled)',
        description:
          'Repeated failures for one username or from one address answer 429 with Retry-After; such a refusal is answered after a one-second delay.',
        body: loginBodySchema,
        response: { 200: loginResponseSchema, ...problemResponses(400, 401, 413, 415, 429, 503) },
      },
    },
    async (request) => {
      const outcome = await auth.login(request.body, request.ip);
      if (!outcome.ok) {
        // Every refusal is audited, one event each, those the throttle's in-process pre-filter
        // makes without a counter read included: API.md audits every login, success or failure,
        // and this door is group-committed, so a storm's events share a few INSERTs. Fail
        // closed: if the event cannot be written, the answer is 503, not 401 or 429.
        await audit.record(request, [
          {
            action: 'auth.login',
            outcome: 'failure',
            resourceType: 'user',
            resourceId: outcome.userId,
            actorId: outcome.userId,
            actorRole: outcome.role,
            reason: outcome.reason,
          },
        ]);
        if (outcome.reason === 'throttled' && app.identity.throttledLoginDelayMs > 0) {
          await delay(app.identity.throttledLoginDelayMs);
        }
        throw outcome.error;
      }
      await audit.record(request, [
        {
          action: 'auth.login',
          outcome: 'success',
          resourceType: 'user',
          resourceId: outcome.userId,
          actorId: outcome.userId,
          actorRole: outcome.role,
          reason: outcome.mfaEnrollmentRequired ? 'mfa_enrollment_only' : null,
        },
      ]);
      return {
        ...outcome.tokens,
        user: outcome.user,
        mfaEnrollmentRequired: outcome.mfaEnrollmentRequired,
      };
    },
  );

  app.post(
    '/v1/auth/refresh',
    {
      config: { public: true },
      schema: {
        tags: ['auth'],
        summary: 'Exchange a refresh token for a new pair (the old one stops working)',
        body: refreshBodySchema,
        response: { 200: refreshResponseSchema, ...problemResponses(400, 401, 413, 415, 429, 503) },
      },
    },
    async (request) => {
      const outcome = await auth.refresh(request.body.refreshToken, request.ip);
      if (!outcome.ok) {
        await audit.record(request, [
          {
            action: 'auth.refresh',
            outcome: 'failure',
            resourceType: 'session',
            resourceId: outcome.sessionId,
            actorId: outcome.userId,
            reason: outcome.reason,
          },
        ]);
        throw outcome.error;
      }
      return outcome.tokens;
    },
  );

  app.post(
    '/v1/auth/logout',
    {
      config: { permission: 'self', mfaEnrollment: true },
      schema: {
        tags: ['auth'],
        summary: "End the caller's session: its tokens stop working at once",
        security: [{ bearerAuth: [] }],
        response: {
          204: z.null().describe('Logged out'),
          ...problemResponses(...BODY_PROBLEMS, ...AUTHENTICATED_PROBLEMS),
        },
      },
    },
    async (request, reply) => {
      await auth.logout(request.auth!);
      await audit.record(request, [
        {
          action: 'auth.logout',
          outcome: 'success',
          resourceType: 'session',
          resourceId: request.auth!.sessionId,
        },
      ]);
      return reply.code(204).send(null);
    },
  );

  app.get(
    '/v1/auth/me',
    {
      config: { permission: 'self', mfaEnrollment: true },
      schema: {
        tags: ['auth'],
        summary: 'The caller',
        security: [{ bearerAuth: [] }],
        response: { 200: userSchema, ...problemResponses(404, ...AUTHENTICATED_PROBLEMS) },
      },
    },
    async (request) => auth.me(request.auth!),
  );

  app.post(
    '/v1/auth/mfa/enroll',
    {
      config: { permission: 'self', mfaEnrollment: true },
      schema: {
        tags: ['auth'],
        summary: 'Start TOTP enrolment: a new secret for an authenticator app',
        security: [{ bearerAuth: [] }],
        response: {
          200: mfaEnrollResponseSchema,
          ...problemResponses(404, 409, ...BODY_PROBLEMS, ...AUTHENTICATED_PROBLEMS),
        },
      },
    },
    async (request) => {
      const enrollment = await auth.enroll(request.auth!);
      await audit.record(request, [
        {
          action: 'auth.mfa.enroll',
          outcome: 'success',
          resourceType: 'user',
          resourceId: request.auth!.userId,
        },
      ]);
      return enrollment;
    },
  );

  app.post(
    '/v1/auth/mfa/confirm',
    {
      config: { permission: 'self', mfaEnrollment: true },
      schema: {
        tags: ['auth'],
        summary: 'Confirm TOTP enrolment with a current code; from then on login needs an otp',
        security: [{ bearerAuth: [] }],
        body: mfaConfirmBodySchema,
        response: {
          204: z.null().describe('Second factor confirmed'),
          ...problemResponses(400, 404, 409, 413, 415, ...AUTHENTICATED_PROBLEMS),
        },
      },
    },
    async (request, reply) => {
      await auth.confirm(request.auth!, request.body.code);
      await audit.record(request, [
        {
          action: 'auth.mfa.confirm',
          outcome: 'success',
          resourceType: 'user',
          resourceId: request.auth!.userId,
        },
      ]);
      return reply.code(204).send(null);
    },
  );
};
