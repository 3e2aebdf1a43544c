import { Readable } from 'node:stream';
import type pg from 'pg';
import { actorOf, type RequestContext } from '../../access/context.js';
import { allows, type Permission } from '../../access/permissions.js';
import type { ClientKeys } from '../../crypto/index.js';
import type { Database, Executor } from '../../db/pool.js';
import { Forbidden, ServiceUnavailable } from '../../errors.js';
import { timeIdCursor } from '../../schemas/cursor.js';
import { scopedClient } from '../clients/clients.scope.js';
import { crlfRows } from './audit.csv.js';
import { csvWholeRows, reasonOpener } from './audit.export-reasons.js';
import { openAuditExport } from './audit.export.js';
import type { ExportGate } from './audit.export-gate.js';
import { ndjsonFromCopy } from './audit.ndjson.js';
import { listAuditEvents, type AuditFilter } from './audit.queries.js';
import { openReasons } from './audit.reasons.js';
import type { AuditEvent } from './audit.schemas.js';
import type { AuditDoor } from './audit.types.js';
import type { VerifyOptions, VerifyResult } from './audit.verify.js';

export interface AuditServiceDeps {
  db: Database;
  /** The export pool (never the main one): its size is the gate's capacity. */
  exportPool: pg.Pool;
  exportGate: ExportGate;
  audit: AuditDoor;
  /** Opens the sealed free-text reasons of the events returned (audit.reasons.ts). */
  keys: Pick<ClientKeys<Executor>, 'cipherFor'>;
  chain: {
    sealNow(): Promise<number>;
    verify(options?: VerifyOptions & { full?: boolean }): Promise<VerifyResult>;
  };
}

/** Verifications running at once in one process; more answer 503 with Retry-After. */
export const MAX_CONCURRENT_VERIFIES = 2;

export interface Page<T> {
  items: T[];
  nextCursor: string | null;
}

/**
 * Defence in depth behind the auth hook: these reads need a signed-in caller whose role
 * holds the permission, whether or not the hook ran.
 */
function caller(ctx: RequestContext, permission: Permission): void {
  if (!allows(permission, actorOf(ctx).role)) {
    throw new Forbidden('Your role does not allow this action.');
  }
}

/**
 * Reading the audit log, itself audited: every query, export, verification and access-log
 * read records an event before anything is returned (and fails closed with 503 when it
 * cannot).
 */
export function createAuditService(deps: AuditServiceDeps) {
  const { db, exportPool, exportGate, audit, chain, keys } = deps;
  let verifying = 0;

  return {
    async query(
      ctx: RequestContext,
      filter: AuditFilter,
      page: { limit: number; cursor?: string | undefined },
    ): Promise<Page<AuditEvent>> {
      caller(ctx, 'audit.read');
      const result = await listAuditEvents(db, filter, {
        limit: page.limit,
        cursor: timeIdCursor.decode(page.cursor),
      });
      await audit.record(ctx, [
        {
          action: 'audit.query',
          outcome: 'success',
          resourceType: 'auditEvent',
          clientId: filter.clientId ?? null,
        },
      ]);
      return {
        items: await openReasons(keys, result.items),
        nextCursor: result.next && timeIdCursor.encode(result.next),
      };
    },

    /**
     * The export as a byte stream. The event is recorded before the first byte; rows are
     * pulled from the database only as fast as the client reads.
     */
    async export(
      ctx: RequestContext,
      filter: AuditFilter,
      format: 'ndjson' | 'csv',
    ): Promise<Readable> {
      caller(ctx, 'audit.read');
      // 429 / 503 before any connection is taken; the slot is held until the stream closes.
      const release = exportGate.admit(actorOf(ctx).userId);
      let opened: Awaited<ReturnType<typeof openAuditExport>>;
      try {
        opened = await openAuditExport(exportPool, filter, format);
      } catch (error) {
        release();
        throw error;
      }
      try {
        await audit.record(ctx, [
          {
            action: 'audit.export',
            outcome: 'success',
            resourceType: 'auditEvent',
            resourceId: format,
          },
        ]);
      } catch (error) {
        opened.cancel();
        release();
        throw error;
      }
      const lines = exportLines(opened.chunks, format, keys);
      // The success event is written before the first byte (fail closed); a stream that then
      // breaks (database gone mid-way) gets a failure event beside it, so the log never
      // claims a complete export that was not.
      async function* watched(): AsyncGenerator<Buffer | string> {
        try {
          yield* lines;
        } catch (error) {
          await audit
            .record(ctx, [
              {
                action: 'audit.export',
                outcome: 'failure',
                resourceType: 'auditEvent',
                resourceId: format,
              },
            ])
            .catch(() => undefined);
          throw error;
        }
      }
      // Object mode: the ndjson chunks are strings, written to the socket as they are (a
      // byte stream would turn each into a Buffer first).
      const stream = Readable.from(watched());
      // A stream destroyed before its first read never runs the generator (nor its finally):
      // the connection is given back here then (a no-op once the export has released it).
      stream.once('close', () => {
        opened.cancel();
        release();
      });
      return stream;
    },

    async verify(
      ctx: RequestContext,
      options: {
        from?: string | undefined;
        to?: string | undefined;
        head?: string | undefined;
        full?: boolean | undefined;
      },
    ): Promise<VerifyResult> {
      caller(ctx, 'audit.read');
      // Each run reads the chain (or its range) through; a few at once per process, no more.
      if (verifying >= MAX_CONCURRENT_VERIFIES) {
        throw new ServiceUnavailable(
          'The audit chain is being verified already; try again shortly.',
          10,
        );
      }
      verifying += 1;
      let result: VerifyResult;
      try {
        await chain.sealNow();
        const [position, hash] = options.head?.split(':') ?? [];
        result = await chain.verify({
          ...(options.from && { from: new Date(options.from) }),
          ...(options.to && { to: new Date(options.to) }),
          ...(position && hash && { expectedHead: { position: Number(position), hash } }),
          ...(options.full && { full: true }),
        });
      } finally {
        verifying -= 1;
      }
      await audit.record(ctx, [
        {
          action: 'audit.verify',
          outcome: result.ok ? 'success' : 'failure',
          resourceType: 'auditChain',
          resourceId: result.head ? String(result.head.position) : null,
        },
      ]);
      return result;
    },

    /**
     * Who read or changed this client's data, newest first; scoped like every client
     * resource (an erased client's log outlives it).
     */
    async accessLog(
      ctx: RequestContext,
      clientId: string,
      page: { limit: number; cursor?: string | undefined },
    ): Promise<Page<AuditEvent>> {
      caller(ctx, 'accessLog.read');
      await scopedClient(db, ctx, clientId, 'client.access_log.read', { includeErased: true });
      const result = await listAuditEvents(
        db,
        { clientId },
        { limit: page.limit, cursor: timeIdCursor.decode(page.cursor) },
      );
      await audit.record(ctx, [
        {
          action: 'client.access_log.read',
          outcome: 'success',
          resourceType: 'client',
          resourceId: clientId,
          clientId,
        },
      ]);
      return {
        items: await openReasons(keys, result.items),
        nextCursor: result.next && timeIdCursor.encode(result.next),
      };
    },
  };
}

export type AuditService = ReturnType<typeof createAuditService>;

/**
 * The export's bytes: COPY's rows rendered as JSON lines (ndjson), or with \r\n ends (csv, cut
 * at whole rows first), with their sealed free-text reasons opened (audit.export-reasons.ts).
 */
async function* exportLines(
  chunks: AsyncIterable<Buffer>,
  format: 'ndjson' | 'csv',
  keys: Pick<ClientKeys<Executor>, 'cipherFor'>,
): AsyncGenerator<Buffer | string> {
  const render = format === 'ndjson' ? ndjsonFromCopy() : crlfRows();
  const rows = format === 'csv' ? csvWholeRows() : undefined;
  const open = reasonOpener(keys, format);
  for await (const chunk of chunks) {
    const out = render(rows ? rows.push(chunk) : chunk);
    if (out.length > 0) yield await open(out);
  }
  const rest = rows?.end();
  if (rest && rest.length > 0) yield await open(render(rest));
}
