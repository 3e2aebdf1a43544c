import type { Socket } from 'node:net';
import type { ServerResponse } from 'node:http';
import type { Readable } from 'node:stream';
import type { FastifyInstance } from 'fastify';
import fp from 'fastify-plugin';
import type pg from 'pg';
import { createSiblingPool } from '../../db/pool.js';
import {
  createExportGate,
  DEFAULT_EXPORT_LIMITS,
  type ExportGate,
  type ExportLimits,
} from './audit.export-gate.js';

/**
 * The capacity every streamed export of audit events runs on (API.md "Audit": exports never
 * starve other requests): a small pool of its own beside the main one, the gate that admits
 * to it (429 per user, 503 beyond capacity), and the cut-off of idle readers. The auditor's
 * export and the access log of a data-subject export both run here.
 */
export interface AuditExports {
  pool: pg.Pool;
  gate: ExportGate;
  limits: ExportLimits;
  /**
   * Watches a response stream: destroyed when its reader takes nothing for `idleMs`, and
   * when the app closes (so the export pool can end).
   */
  track(stream: Readable, socket: Socket | null | undefined, response: ServerResponse): void;
}

declare module 'fastify' {
  interface FastifyInstance {
    auditExports: AuditExports;
  }
}

async function auditExportsPlugin(
  app: FastifyInstance,
  options: { exportLimits?: Partial<ExportLimits> },
) {
  const limits: ExportLimits = { ...DEFAULT_EXPORT_LIMITS, ...options.exportLimits };
  const pool = createSiblingPool(app.pool, {
    max: limits.capacity,
    applicationName: 'clinic-journal-api-export',
  });
  const running = new Set<Readable>();
  app.addHook('onClose', async () => {
    for (const stream of running) stream.destroy();
    await pool.end();
  });
  app.decorate('auditExports', {
    pool,
    gate: createExportGate(limits),
    limits,
    track(stream, socket, response) {
      running.add(stream);
      stream.once('close', () => running.delete(stream));
      cutOffIdleReader(socket, response, stream, limits.idleMs);
    },
  } satisfies AuditExports);
}

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

export default fp(auditExportsPlugin, {
  name: 'audit-exports',
  fastify: '5.x',
  dependencies: ['db'],
});
