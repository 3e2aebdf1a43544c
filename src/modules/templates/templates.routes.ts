import type { FastifyPluginAsyncZod } from 'fastify-type-provider-zod';
import { idCursor } from '../../schemas/cursor.js';
import { AUTHENTICATED_PROBLEMS, problemResponses } from '../../schemas/responses.js';
import {
  listTemplatesQuery,
  publishTemplateSchema,
  templateIdParams,
  templatePageSchema,
  templateSchema,
} from './templates.schemas.js';
import { createTemplatesService } from './templates.service.js';

/** Consent templates (API.md "Consent templates"): global, versioned, never changed. */
export const templatesRoutes: FastifyPluginAsyncZod = async (app) => {
  const templates = createTemplatesService({ db: app.db, audit: app.audit, clock: app.clock });

  app.post(
    '/v1/consent-templates',
    {
      config: {
        permission: 'templates.publish',
        idempotent: true,
        idempotentReplay: (request, id) => templates.get(request.ctx, id),
      },
      schema: {
        tags: ['consent templates'],
        operationId: 'publishConsentTemplate',
        summary: 'Publish a consent template (a new version of its key)',
        description:
          'Version 1 for a new key, the previous version + 1 otherwise. A published version never changes.',
        body: publishTemplateSchema,
        response: {
          201: templateSchema,
          ...problemResponses(400, 413, 415, ...AUTHENTICATED_PROBLEMS),
        },
      },
    },
    async (request, reply) =>
      reply.code(201).send(await templates.publish(request.ctx, request.body)),
  );

  app.get(
    '/v1/consent-templates',
    {
      config: { permission: 'templates.read' },
      schema: {
        tags: ['consent templates'],
        operationId: 'listConsentTemplates',
        summary: 'List the latest version of each consent template',
        querystring: listTemplatesQuery,
        response: {
          200: templatePageSchema,
          ...problemResponses(400, ...AUTHENTICATED_PROBLEMS),
        },
      },
    },
    async (request) => {
      const after = idCursor.decode(request.query.cursor);
      const page = await templates.listLatest(request.ctx, { limit: request.query.limit, after });
      return {
        items: page.items,
        nextCursor: page.last === null ? null : idCursor.encode(page.last),
      };
    },
  );

  app.get(
    '/v1/consent-templates/:id',
    {
      config: { permission: 'templates.read' },
      schema: {
        tags: ['consent templates'],
        operationId: 'getConsentTemplate',
        summary: 'Read one version of a consent template',
        params: templateIdParams,
        response: { 200: templateSchema, ...problemResponses(400, 404, ...AUTHENTICATED_PROBLEMS) },
      },
    },
    async (request) => templates.get(request.ctx, request.params.id),
  );
};
