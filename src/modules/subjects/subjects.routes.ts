import type { FastifyPluginAsyncZod } from 'fastify-type-provider-zod';
import { AUTHENTICATED_PROBLEMS, problemResponses } from '../../schemas/responses.js';
import type { AttachmentStore } from '../attachments/attachments.store.js';
import { clientIdParams } from '../clients/clients.schemas.js';
import { createClientsService, type RetentionSource } from '../clients/clients.service.js';
import {
  subjectExportQuery,
  subjectExportSchema,
  subjectExportZipSchema,
} from './subjects.schemas.js';
import { createJournalService } from '../journal/journal.service.js';
import { createSubjectsService } from './subjects.service.js';
import { zipExport } from './subjects.zip.js';

/** Data-subject requests that span domains (API.md "Clients": export). */
export const subjectsRoutes: FastifyPluginAsyncZod<{
  retention: RetentionSource;
  retentionYears: number;
  attachmentStore: AttachmentStore;
}> = async (app, options) => {
  const deps = { db: app.db, pool: app.pool, keys: app.keys, audit: app.audit, clock: app.clock };
  const subjects = createSubjectsService({
    ...deps,
    store: options.attachmentStore,
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
          "The client, newsletter-consent history, legal hold, signed consents with the template text as signed, the journal with amendments, attachments' metadata, and the access log. Audited as a data-subject export. `?format=zip` (data portability) streams a ZIP of `export.json` (the same document) and every attachment's content under `attachments/<id>.<ext>`, decrypted chunk by chunk in constant memory, with its exact Content-Length; each attachment is audited as a download too. When a stored chunk fails its integrity check the connection is closed short of Content-Length, before the archive's central directory, so a partial archive cannot pass for a whole one (logged and audited as a failed download).",
        params: clientIdParams,
        querystring: subjectExportQuery,
        response: {
          200: {
            description: 'The export: JSON (the default) or, with `format=zip`, a ZIP archive',
            content: {
              'application/json': { schema: subjectExportSchema },
              'application/zip': { schema: subjectExportZipSchema },
            },
          },
          ...problemResponses(400, 404, ...AUTHENTICATED_PROBLEMS),
        },
        responseHeaders: { 200: ['Content-Disposition'] },
      },
    },
    async (request, reply) => {
      const { id } = request.params;
      if (request.query.format === 'json') {
        const document = await subjects.export(request.ctx, id);
        return reply
          .header('content-disposition', `attachment; filename="export-${id}.json"`)
          .send(document);
      }
      const ctx = request.ctx;
      const { document, files } = await subjects.exportZip(ctx, id);
      const { stream, size } = zipExport(document, files, (attachmentId) => {
        request.log.error({ attachmentId }, 'attachment failed its integrity check mid-export');
        void subjects.zipContentFailed(ctx, id, attachmentId).catch(() => undefined);
      });
      return (
        reply
          .type('application/zip')
          .header('content-length', String(size))
          .header('content-disposition', `attachment; filename="export-${id}.zip"`)
          // A stream is piped as is (no serializer); the 200 schema documents its bytes.
          .send(stream as unknown as string)
      );
    },
  );
};
