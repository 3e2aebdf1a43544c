import type { FastifyPluginAsyncZod } from 'fastify-type-provider-zod';
import { AUTHENTICATED_PROBLEMS, problemResponses } from '../../schemas/responses.js';
import { recallQuery, recallSchema } from './recalls.schemas.js';
import { createRecallsService } from './recalls.service.js';

/** Product recall by batch number (API.md "Journal"). */
export const recallsRoutes: FastifyPluginAsyncZod = async (app) => {
  const recalls = createRecallsService({ db: app.db, keys: app.keys, audit: app.audit });

  app.get(
    '/v1/recalls',
    {
      config: { permission: 'recalls.read' },
      schema: {
        tags: ['journal'],
        operationId: 'getRecall',
        summary:
          "Clients of the caller's clinics (an admin: of every clinic) treated with a product of a batch",
        description:
          'Matched through a blind index of the normalised batch number (case and spaces ignored). Paged by client (`limit`, `cursor`); each client carries all its matching entries. One audit event per client returned.',
        querystring: recallQuery,
        response: { 200: recallSchema, ...problemResponses(400, ...AUTHENTICATED_PROBLEMS) },
      },
    },
    async (request) => recalls.byBatch(request.ctx, request.query),
  );
};
