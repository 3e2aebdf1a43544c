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
import type { Socket } from 'node:net';
import type { ServerResponse } from 'node:http';
import type { Readable } from 'node:stream';
import { createSiblingPool } from '../../db/pool.js';
import { CSV_COLUMNS } from './audit.csv.js';
import { createExportGate, DEFAULT_EXPORT_LIMITS, type ExportLimits } from './audit.export-gate.js';
import { createAuditService } from './audit.service.js';

/** What any signed-in read of the audit log can answer besides 200. */
const READ_PROBLEMS = problemResponses(...AUTHENTICATED_PROBLEMS);

/**
 * The auditor's routes (API.md "Audit") and a client's access log. Exports run on their own
 * small pool behind a gate (audit.export-gate.ts): the main pool never waits behind them.
 */
export const auditRoutes: FastifyPluginAsyncZod<{ exportLimits?: Partial<ExportLimits> }> = async (
  app,
  options,
) => {
  const limits: ExportLimits = { ...DEFAULT_EXPORT_LIMITS, ...options.exportLimits };
  const exportPool = createSiblingPool(app.pool, {
    max: limits.capacity,
    applicationName: 'clinic-journal-api-export',
  });
  const exportGate = createExportGate(limits);
  /** Running exports' response streams, ended when the app closes so their pool can end. */
  const running = new Set<Readable>();
  app.addHook('onClose', async () => {
    for (const stream of running) stream.destroy();
    await exportPool.end();
  });
  const audit = createAuditService({
    db: app.db,
    exportPool,
    exportGate,
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
      running.add(stream);
      stream.once('close', () => running.delete(stream));
      cutOffIdleReader(request.raw.socket, reply.raw, stream, limits.idleMs);
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
          'Seals what is pending, then recomputes every link (of the events in from/to, if ' +
          'given). `ok: false` names the first event whose content or order no longer ' +
          'matches. Keep `head` outside the database and pass it back as `head=position:hash` ' +
          'to detect a cut tail.',
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

/**
 * A reader that takes nothing for `idleMs` is cut off: nothing moved on its socket (the
 * response waits on a full send buffer) for that long, so the socket and the export's stream
 * are destroyed, which gives the export's connection and slot back. The listener goes with the
 * response, so a kept-alive socket is not cut later for being idle between requests (the
 * server's own timeouts apply then). An injected request has no socket to watch.
 */
function cutOffIdleReader(
  socket: Socket | null | undefined,
  response: ServerResponse,
  stream: Readable,
  idleMs: number,
): void {
  if (!socket || typeof socket.setTimeout !== 'function') return;
  const onIdle = () => {
    stream.destroy();
    socket.destroy();
  };
  socket.setTimeout(idleMs);
  socket.on('timeout', onIdle);
  response.once('close', () => socket.off('timeout', onIdle));
}
