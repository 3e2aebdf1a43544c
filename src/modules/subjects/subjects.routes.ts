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
          "The client, newsletter-consent history, legal hold, signed consents with the template text as signed, the journal with amendments, attachments' metadata, and the access log (streamed, whatever its length). Audited as a data-subject export. An access log longer than 500 events streams on the export capacity (API.md \"Audit\"): beyond the caller's share 429, beyond the service's 503, both with Retry-After; a reader idle for 60 s is cut off. `?format=zip` (data portability) streams a ZIP of `export.json` (the same document, built in memory so the archive's exact Content-Length is known) and every attachment's content under `attachments/<id>.<ext>`, decrypted chunk by chunk in constant memory; each attachment is audited as a download too. When a stored chunk fails its integrity check the connection is closed short of Content-Length, before the archive's central directory, so a partial archive cannot pass for a whole one (logged and audited as a failed download).",
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
        const stream = await subjects.export(request.ctx, id);
        app.auditExports.track(stream, request.raw.socket, reply.raw);
        // Streamed as is (no serializer): subjects.document.ts writes what the schema would.
        return reply
          .type('application/json; charset=utf-8')
          .header('content-disposition', `attachment; filename="export-${id}.json"`)
          .send(stream as never);
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
