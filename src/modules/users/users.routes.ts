import type { FastifyPluginAsyncZod } from 'fastify-type-provider-zod';
import { pageOf, pageQuerySchema } from '../../schemas/page.js';
import { AUTHENTICATED_PROBLEMS, problemResponses } from '../../schemas/responses.js';
import { createUsersService } from './users.service.js';
import {
  createUserBodySchema,
  updateUserBodySchema,
  userIdParamsSchema,
  userSchema,
} from './users.schemas.js';

/** Staff accounts, managed by admins (API.md "Users and clinics"). */
export const usersRoutes: FastifyPluginAsyncZod = async (app) => {
  const audit = app.audit;
  const users = createUsersService({
    db: app.db,
    passwords: app.identity.passwords,
    now: app.identity.now,
    audit,
  });

  app.post(
    '/v1/users',
    {
      config: { permission: 'users.manage' },
      schema: {
        tags: ['users'],
        summary: 'Create a user',
        security: [{ bearerAuth: [] }],
        body: createUserBodySchema,
        response: {
          201: userSchema,
          ...problemResponses(400, 409, 413, 415, ...AUTHENTICATED_PROBLEMS),
        },
      },
    },
    async (request, reply) => {
      const user = await users.create(request.body, request);
      return reply.code(201).send(user);
    },
  );

  app.get(
    '/v1/users',
    {
      config: { permission: 'users.manage' },
      schema: {
        tags: ['users'],
        summary: 'List users',
        security: [{ bearerAuth: [] }],
        querystring: pageQuerySchema,
        response: { 200: pageOf(userSchema), ...problemResponses(400, ...AUTHENTICATED_PROBLEMS) },
      },
    },
    async (request) => {
      const page = await users.list(request.query);
      await audit.record(
        request,
        page.items.map((user) => ({
          action: 'user.read',
          outcome: 'success' as const,
          resourceType: 'user',
          resourceId: user.id,
        })),
      );
      return page;
    },
  );

  app.get(
    '/v1/users/:id',
    {
      config: { permission: 'users.manage' },
      schema: {
        tags: ['users'],
        summary: 'Read a user',
        security: [{ bearerAuth: [] }],
        params: userIdParamsSchema,
        response: { 200: userSchema, ...problemResponses(400, 404, ...AUTHENTICATED_PROBLEMS) },
      },
    },
    async (request) => {
      const user = await users.get(request.params.id);
      await audit.record(request, [
        { action: 'user.read', outcome: 'success', resourceType: 'user', resourceId: user.id },
      ]);
      return user;
    },
  );

  app.patch(
    '/v1/users/:id',
    {
      config: { permission: 'users.manage' },
      schema: {
        tags: ['users'],
        summary:
          'Change a user (role, name, clinics, disabled); ends their sessions on a change of rights',
        security: [{ bearerAuth: [] }],
        params: userIdParamsSchema,
        body: updateUserBodySchema,
        response: {
          200: userSchema,
          ...problemResponses(400, 404, 409, 413, 415, ...AUTHENTICATED_PROBLEMS),
        },
      },
    },
    async (request) => users.update(request.auth!, request.params.id, request.body, request),
  );
};
