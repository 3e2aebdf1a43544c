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
    exports: app.auditExports,
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
          'The client, newsletter-consent history, legal hold, signed consents with the template text as signed, the journal with amendments, and the access log (streamed, whatever its length). Audited as a data-subject export. An access log longer than 500 events streams on the export capacity (API.md "Audit"): beyond the caller\'s share 429, beyond the service\'s 503, both with Retry-After; a reader idle for 60 s is cut off.',
        params: clientIdParams,
        response: {
          200: subjectExportSchema,
          ...problemResponses(400, 404, ...AUTHENTICATED_PROBLEMS),
        },
      },
    },
    async (request, reply) => {
      const stream = await subjects.export(request.ctx, request.params.id);
      app.auditExports.track(stream, request.raw.socket, reply.raw);
      // Streamed as is (no serializer): subjects.document.ts writes what the schema would.
      return reply.type('application/json; charset=utf-8').send(stream as never);
    },
  );
};
