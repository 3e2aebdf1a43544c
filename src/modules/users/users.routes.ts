import type { FastifyPluginAsyncZod } from 'fastify-type-provider-zod';
import { pageOf, pageQuerySchema } from '../../schemas/page.js';
import { AUTHENTICATED_PROBLEMS, problemResponses } from '../../schemas/responses.js';
import { createUsersService, userEtag } from './users.service.js';
import {
  createUserBodySchema,
  updateUserBodySchema,
  userIdParamsSchema,
  userSchema,
} from './users.schemas.js';

/** Staff accounts, managed by admins (API.md "Users and clinics"). */
export const usersRoutes: FastifyPluginAsyncZod = async (app) => {
  const users = createUsersService({
    db: app.db,
    passwords: app.identity.passwords,
    clock: app.clock,
    audit: app.audit,
  });

  app.post(
    '/v1/users',
    {
      config: {
        permission: 'users.manage',
        idempotent: true,
        idempotentReplay: (request, id) => users.get(request.ctx, id),
      },
      schema: {
        tags: ['users'],
        operationId: 'createUser',
        summary: 'Create a user',
        body: createUserBodySchema,
        response: {
          201: userSchema,
          ...problemResponses(400, 409, 413, 415, ...AUTHENTICATED_PROBLEMS),
        },
      },
    },
    async (request, reply) => {
      const user = await users.create(request.ctx, request.body);
      return reply.code(201).send(user);
    },
  );

  app.get(
    '/v1/users',
    {
      config: { permission: 'users.manage' },
      schema: {
        tags: ['users'],
        operationId: 'listUsers',
        summary: 'List users',
        querystring: pageQuerySchema,
        response: { 200: pageOf(userSchema), ...problemResponses(400, ...AUTHENTICATED_PROBLEMS) },
      },
    },
    async (request) => users.list(request.ctx, request.query),
  );

  app.get(
    '/v1/users/:id',
    {
      config: { permission: 'users.manage' },
      schema: {
        tags: ['users'],
        operationId: 'getUser',
        summary: 'Read a user',
        params: userIdParamsSchema,
        response: { 200: userSchema, ...problemResponses(400, 404, ...AUTHENTICATED_PROBLEMS) },
        responseHeaders: { 200: ['ETag'] },
      },
    },
    async (request, reply) => {
      const user = await users.get(request.ctx, request.params.id);
      const etag = userEtag(user);
      if (etag) reply.header('etag', etag);
      return user;
    },
  );

  app.patch(
    '/v1/users/:id',
    {
      config: {
        permission: 'users.manage',
        idempotent: true,
        idempotentReplay: (request, id) => users.get(request.ctx, id),
      },
      schema: {
        tags: ['users'],
        operationId: 'updateUser',
        summary:
          'Change a user (role, name, clinics, disabled); ends their sessions on a change of rights',
        params: userIdParamsSchema,
        body: updateUserBodySchema,
        response: {
          200: userSchema,
          ...problemResponses(400, 404, 409, 412, 413, 415, ...AUTHENTICATED_PROBLEMS),
        },
        requestHeaders: ['If-Match'],
        responseHeaders: { 200: ['ETag'] },
      },
    },
    async (request, reply) => {
      const ifMatch = request.headers['if-match'];
      const user = await users.update(request.ctx, request.params.id, request.body, {
        ifMatch: typeof ifMatch === 'string' ? ifMatch : undefined,
      });
      const etag = userEtag(user);
      if (etag) reply.header('etag', etag);
      return user;
    },
  );
};
