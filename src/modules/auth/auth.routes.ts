import type { FastifyPluginAsyncZod } from 'fastify-type-provider-zod';
import { z } from 'zod';
import {
  AUTHENTICATED_PROBLEMS,
  BODY_PROBLEMS,
  problemResponses,
} from '../../schemas/responses.js';
import { userSchema } from '../../schemas/user.js';
import { userIdParamsSchema } from '../users/users.schemas.js';
import {
  loginBodySchema,
  loginResponseSchema,
  mfaConfirmBodySchema,
  mfaConfirmResponseSchema,
  mfaEnrollBodySchema,
  mfaEnrollResponseSchema,
  refreshBodySchema,
  refreshResponseSchema,
} from './auth.schemas.js';
import { createAuthService } from './auth.service.js';

/** Login, refresh, logout, the caller, and the second factor (API.md "Auth"). */
export const authRoutes: FastifyPluginAsyncZod = async (app) => {
  const auth = createAuthService({
    db: app.db,
    audit: app.audit,
    clock: app.clock,
    ...app.identity,
  });

  app.post(
    '/v1/auth/login',
    {
      // The login checks its body for control characters itself: such an attempt is a failed
      // login (audited, throttled) answered 400.
      config: { public: true, inputGuard: 'route' },
      schema: {
        tags: ['auth'],
        operationId: 'login',
        summary: 'Log in with username and password (and a one-time code once enrolled)',
        description:
          'Repeated failures for one username or from one address answer 429 with Retry-After; such a refusal is answered after a one-second delay.',
        body: loginBodySchema,
        response: { 200: loginResponseSchema, ...problemResponses(400, 401, 413, 415, 429, 503) },
      },
    },
    async (request) => auth.login(request.ctx, request.body),
  );

  app.post(
    '/v1/auth/refresh',
    {
      config: { public: true },
      schema: {
        tags: ['auth'],
        operationId: 'refreshTokens',
        summary: 'Exchange a refresh token for a new pair (the old one stops working)',
        body: refreshBodySchema,
        response: { 200: refreshResponseSchema, ...problemResponses(400, 401, 413, 415, 429, 503) },
      },
    },
    async (request) => auth.refresh(request.ctx, request.body.refreshToken),
  );

  app.post(
    '/v1/auth/logout',
    {
      config: { permission: 'self', mfaEnrollment: true },
      schema: {
        tags: ['auth'],
        operationId: 'logout',
        summary: "End the caller's session: its tokens stop working at once",
        response: {
          204: z.null().describe('Logged out'),
          ...problemResponses(...BODY_PROBLEMS, ...AUTHENTICATED_PROBLEMS),
        },
      },
    },
    async (request, reply) => {
      await auth.logout(request.ctx);
      return reply.code(204).send(null);
    },
  );

  app.get(
    '/v1/auth/me',
    {
      config: { permission: 'self', mfaEnrollment: true },
      schema: {
        tags: ['auth'],
        operationId: 'getCurrentUser',
        summary: 'The caller',
        response: { 200: userSchema, ...problemResponses(404, ...AUTHENTICATED_PROBLEMS) },
      },
    },
    async (request) => auth.me(request.ctx),
  );

  app.post(
    '/v1/auth/mfa/enroll',
    {
      config: { permission: 'self', mfaEnrollment: true },
      // The body is optional (most enrolments follow a fresh login): none reads as {}.
      preValidation: async (request) => {
        request.body ??= {};
      },
      schema: {
        tags: ['auth'],
        operationId: 'enrollMfa',
        summary: 'Start TOTP enrolment: a new secret for an authenticator app',
        description:
          'Needs a login less than 5 minutes old, or `password` in the body (401 otherwise). A body is optional.',
        body: mfaEnrollBodySchema,
        response: {
          200: mfaEnrollResponseSchema,
          ...problemResponses(404, 409, ...BODY_PROBLEMS, ...AUTHENTICATED_PROBLEMS),
        },
      },
    },
    async (request) => auth.enroll(request.ctx, request.body),
  );

  app.post(
    '/v1/users/:id/mfa/reset',
    {
      config: { permission: 'users.manage', idempotent: true },
      schema: {
        tags: ['users'],
        operationId: 'resetUserMfa',
        summary: "Remove another user's second factor and end their sessions",
        description:
          'The user logs in with the password alone until they enrol again (unless their role ' +
          'requires a second factor: then the login gives an enrolment-only session). Your own: 403.',
        params: userIdParamsSchema,
        response: {
          204: z.null().describe('Second factor removed; their sessions ended'),
          ...problemResponses(404, ...BODY_PROBLEMS, ...AUTHENTICATED_PROBLEMS),
        },
      },
    },
    async (request, reply) => {
      await auth.reset(request.ctx, request.params.id);
      return reply.code(204).send(null);
    },
  );

  app.post(
    '/v1/auth/mfa/confirm',
    {
      config: { permission: 'self', mfaEnrollment: true },
      schema: {
        tags: ['auth'],
        operationId: 'confirmMfa',
        summary: 'Confirm TOTP enrolment with a current code; from then on login needs an otp',
        description:
          'Answers the ten recovery codes, once: each logs in a single time instead of an otp. ' +
          'A reset of the factor, and a new enrolment, void them.',
        body: mfaConfirmBodySchema,
        response: {
          200: mfaConfirmResponseSchema,
          ...problemResponses(400, 404, 409, 413, 415, ...AUTHENTICATED_PROBLEMS),
        },
      },
    },
    async (request) => auth.confirm(request.ctx, request.body.code),
  );
};
