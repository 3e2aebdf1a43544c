import type { FastifyPluginAsyncZod } from 'fastify-type-provider-zod';
import { AUTHENTICATED_PROBLEMS, problemResponses } from '../../schemas/responses.js';
import { clientIdParams } from '../clients/clients.schemas.js';
import { createClientsService, type RetentionSource } from '../clients/clients.service.js';
import { subjectExportSchema } from './subjects.schemas.js';
import { createJournalService } from '../journal/journal.service.js';
import { createSubjectsService } from './subjects.service.js';

/** Data-subject requests that span domains (API.md "Clients": export). */
export const subjectsRoutes: FastifyPluginAsyncZod<{
  retention: RetentionSource;
  retentionYears: number;
}> = async (app, options) => {
  const deps = { db: app.db, pool: app.pool, keys: app.keys, audit: app.audit, clock: app.clock };
  const subjects = createSubjectsService({
    ...deps,
    journal: createJournalService(deps),
    clients: createClientsService({
      ...deps,
      retentionYears: options.retentionYears,
      retention: options.retention,
    }),
  });

  app.get(
    '/v1/clients/:id/export',
    {
      config: { permission: 'subjects.manage' },
      schema: {
        tags: ['data-subject requests'],
        operationId: 'exportClient',
        summary: 'Everything held about a client, decrypted',
        description:
          'The client, newsletter-consent history, legal hold, signed consents with the template text as signed, the journal with amendments, and the access log. Audited as a data-subject export.',
        params: clientIdParams,
        response: {
          200: subjectExportSchema,
          ...problemResponses(400, 404, ...AUTHENTICATED_PROBLEMS),
        },
      },
    },
    async (request) => subjects.export(request.ctx, request.params.id),
  );
};
