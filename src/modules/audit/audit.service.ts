import { Readable } from 'node:stream';
import type { FastifyRequest } from 'fastify';
import type pg from 'pg';
import { allows, type Permission } from '../../access/permissions.js';
import type { AuthContext } from '../../access/types.js';
import type { Database } from '../../db/pool.js';
import { BadRequest, Forbidden, Unauthorized } from '../../errors.js';
import type { VerifyOptions, VerifyResult } from './audit.verify.js';
import { crlfRows } from './audit.csv.js';
import {
  openAuditExport,
  listAuditEvents,
  ndjsonFromCopy,
  type AuditCursor,
  type AuditFilter,
} from './audit.repository.js';
import type { AuditEvent } from './audit.schemas.js';
import type { AuditRecorder } from './audit.types.js';

export interface AuditServiceDeps {
  db: Database;
  pool: pg.Pool;
  audit: AuditRecorder;
  chain: {
    sealNow(): Promise<number>;
    verify(options?: VerifyOptions): Promise<VerifyResult>;
  };
}

export interface Page<T> {
  items: T[];
  nextCursor: string | null;
}

const CURSOR = /^(\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{6}Z)\|([0-9a-f-]{36})$/;

export function encodeCursor(cursor: AuditCursor): string {
  return Buffer.from(`${cursor.at}|${cursor.id}`, 'utf8').toString('base64url');
}

export function decodeCursor(cursor: string | undefined): AuditCursor | undefined {
  if (cursor === undefined) return undefined;
  const match = CURSOR.exec(Buffer.from(cursor, 'base64url').toString('utf8'));
  if (!match) {
    throw new BadRequest('The cursor is not valid.', [
      { path: 'querystring.cursor', message: 'is not a cursor this list returned' },
    ]);
  }
  return { at: match[1]!, id: match[2]! };
}

/**
 * Defence in depth behind the auth hook: these reads need a signed-in caller whose role
 * holds the permission, whether or not the hook ran.
 */
function caller(request: FastifyRequest, permission: Permission): AuthContext {
  const auth = request.auth as AuthContext | null | undefined;
  if (!auth) throw new Unauthorized('Sign in to read the audit log.');
  if (!allows(permission, auth.role)) throw new Forbidden('Your role does not allow this action.');
  return auth;
}

/**
 * Reading the audit log, itself audited: every query, export, verification and access-log
 * read records an event before anything is returned (and fails closed with 503 when it
 * cannot).
 */
export function createAuditService(deps: AuditServiceDeps) {
  const { db, pool, audit, chain } = deps;

  return {
    async query(
      request: FastifyRequest,
      filter: AuditFilter,
      page: { limit: number; cursor?: string | undefined },
    ): Promise<Page<AuditEvent>> {
      caller(request, 'audit.read');
      const result = await listAuditEvents(db, filter, {
        limit: page.limit,
        cursor: decodeCursor(page.cursor),
      });
      await audit.record(request, [
        {
          action: 'audit.query',
          outcome: 'success',
          resourceType: 'auditEvent',
          clientId: filter.clientId ?? null,
        },
      ]);
      return { items: result.items, nextCursor: result.next && encodeCursor(result.next) };
    },

    /**
     * The export as a byte stream. The event is recorded before the first byte; rows are
     * pulled from the database only as fast as the client reads.
     */
    async export(
      request: FastifyRequest,
      filter: AuditFilter,
      format: 'ndjson' | 'csv',
    ): Promise<Readable> {
      caller(request, 'audit.read');
      const opened = await openAuditExport(pool, filter, format);
      try {
        await audit.record(request, [
          {
            action: 'audit.export',
            outcome: 'success',
            resourceType: 'auditEvent',
            resourceId: format,
          },
        ]);
      } catch (error) {
        opened.cancel();
        throw error;
      }
      const lines = exportLines(opened.chunks, format);
      // The success event is written before the first byte (fail closed); a stream that then
      // breaks (database gone mid-way) gets a failure event beside it, so the log never
      // claims a complete export that was not.
      async function* watched(): AsyncGenerator<Buffer | string> {
        try {
          yield* lines;
        } catch (error) {
          await audit
            .record(request, [
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
      stream.once('close', opened.cancel);
      return stream;
    },

    async verify(
      request: FastifyRequest,
      options: { from?: string | undefined; to?: string | undefined; head?: string | undefined },
    ): Promise<VerifyResult> {
      caller(request, 'audit.read');
      await chain.sealNow();
      const [position, hash] = options.head?.split(':') ?? [];
      const result = await chain.verify({
        ...(options.from && { from: new Date(options.from) }),
        ...(options.to && { to: new Date(options.to) }),
        ...(position && hash && { expectedHead: { position: Number(position), hash } }),
      });
      await audit.record(request, [
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
     * Who read or changed this client's data, newest first. The route has already checked
     * that the client exists and belongs to one of the caller's clinics.
     */
    async accessLog(
      request: FastifyRequest,
      clientId: string,
      page: { limit: number; cursor?: string | undefined },
    ): Promise<Page<AuditEvent>> {
      caller(request, 'accessLog.read');
      const result = await listAuditEvents(
        db,
        { clientId },
        { limit: page.limit, cursor: decodeCursor(page.cursor) },
      );
      await audit.record(request, [
        {
          action: 'client.access_log.read',
          outcome: 'success',
          resourceType: 'client',
          resourceId: clientId,
          clientId,
        },
      ]);
      return { items: result.items, nextCursor: result.next && encodeCursor(result.next) };
    },
  };
}

export type AuditService = ReturnType<typeof createAuditService>;

/** The export's bytes: COPY's rows rendered as JSON lines (ndjson), or with \r\n ends (csv). */
async function* exportLines(
  chunks: AsyncIterable<Buffer>,
  format: 'ndjson' | 'csv',
): AsyncGenerator<Buffer | string> {
  const render = format === 'ndjson' ? ndjsonFromCopy() : crlfRows();
  for await (const chunk of chunks) {
    const out = render(chunk);
    if (out.length > 0) yield out;
  }
}
