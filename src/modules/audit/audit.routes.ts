import type { FastifyPluginAsyncZod } from 'fastify-type-provider-zod';
import { AUTHENTICATED_PROBLEMS, problemResponses } from '../../schemas/responses.js';
import {
  accessLogParamsSchema,
  accessLogQuerySchema,
  auditExportQuerySchema,
  auditPageSchema,
  auditQuerySchema,
  auditVerifyQuerySchema,
  exportCsvSchema,
  exportNdjsonSchema,
  verifyResultSchema,
} from './audit.schemas.js';
import { CSV_COLUMNS } from './audit.csv.js';
import { createAuditService } from './audit.service.js';

/** What any signed-in read of the audit log can answer besides 200. */
const READ_PROBLEMS = problemResponses(...AUTHENTICATED_PROBLEMS);

/**
 * The auditor's routes (API.md "Audit") and a client's access log. Exports run on their own
 * small pool behind a gate (audit.exports.ts): the main pool never waits behind them.
 */
export const auditRoutes: FastifyPluginAsyncZod = async (app) => {
  const exports = app.auditExports;
  const audit = createAuditService({
    db: app.db,
    exportPool: exports.pool,
    exportGate: exports.gate,
    audit: app.audit,
    keys: app.keys,
    chain: app.auditChain,
  });

  app.get(
    '/v1/audit-events',
    {
      config: { permission: 'audit.read' },
      schema: {
        tags: ['audit'],
        operationId: 'listAuditEvents',
        summary: 'Query audit events, newest first',
        querystring: auditQuerySchema,
        response: { 200: auditPageSchema, ...READ_PROBLEMS },
      },
    },
    async (request) => {
      const { limit, cursor, ...filter } = request.query;
      return audit.query(request.ctx, filter, { limit, cursor });
    },
  );

  app.get(
    '/v1/audit-events/export',
    {
      config: { permission: 'audit.read' },
      schema: {
        tags: ['audit'],
        operationId: 'exportAuditEvents',
        summary: 'Export audit events, oldest first, streamed (NDJSON or CSV)',
        description:
          'Streamed from one COPY statement (one snapshot) in constant memory, whatever the size. CSV cells ' +
          'that a spreadsheet would run as a formula are prefixed with an apostrophe.',
        querystring: auditExportQuerySchema,
        response: {
          200: {
            description:
              'The events, oldest first, as a file: `format=ndjson` (the default) or `csv`',
            content: {
              'application/x-ndjson': { schema: exportNdjsonSchema },
              'text/csv': {
                schema: exportCsvSchema.describe(
                  `A header row (${CSV_COLUMNS.join(',')}), then one row per event; CRLF line ends`,
                ),
              },
            },
          },
          ...READ_PROBLEMS,
        },
        responseHeaders: { 200: ['Content-Disposition'] },
      },
    },
    async (request, reply) => {
      const { format, ...filter } = request.query;
      const stream = await audit.export(request.ctx, filter, format);
      exports.track(stream, request.raw.socket, reply.raw);
      const stamp = new Date().toISOString().replace(/[:.]/g, '-');
      return (
        reply
          .type(
            format === 'csv' ? 'text/csv; charset=utf-8' : 'application/x-ndjson; charset=utf-8',
          )
          .header('content-disposition', `attachment; filename="audit-events-${stamp}.${format}"`)
          // A stream is piped as is (no serializer); the 200 schemas document its bytes.
          .send(stream as unknown as string)
      );
    },
  );

  app.get(
    '/v1/audit-events/verify',
    {
      config: { permission: 'audit.read' },
      schema: {
        tags: ['audit'],
        operationId: 'verifyAuditChain',
        summary: 'Verify the tamper-evident chain',
        description:
          'Seals what is pending, then recomputes the links added since the last verified ' +
          "checkpoint (`since`), from that checkpoint's link, which the chain must still hold; " +
          'every link with `full=true`, or the links of the events in from/to. A run over the ' +
          'whole chain that finds nothing wrong leaves a new checkpoint at its head. The default ' +
          'run does not recompute links before the checkpoint: an event changed there is found ' +
          'by `full=true` (or a range over it). `ok: false` names the first event whose content ' +
          'or order no longer matches. Keep `head` outside the database and pass it back as ' +
          '`head=position:hash` to detect a cut tail.',
        querystring: auditVerifyQuerySchema,
        response: { 200: verifyResultSchema, ...READ_PROBLEMS },
      },
    },
    async (request) => audit.verify(request.ctx, request.query),
  );

  app.get(
    '/v1/clients/:id/access-log',
    {
      config: { permission: 'accessLog.read' },
      schema: {
        tags: ['audit'],
        operationId: 'getClientAccessLog',
        summary: "Who read or changed this client's data, newest first",
        params: accessLogParamsSchema,
        querystring: accessLogQuerySchema,
        response: { 200: auditPageSchema, ...problemResponses(404, ...AUTHENTICATED_PROBLEMS) },
      },
    },
    async (request) => audit.accessLog(request.ctx, request.params.id, request.query),
  );
};
