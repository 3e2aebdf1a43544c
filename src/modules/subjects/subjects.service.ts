import { Readable } from 'node:stream';
import type pg from 'pg';
import { actorOf, type RequestContext } from '../../access/context.js';
import type { ClientCipher } from '../../crypto/index.js';
import type { Database } from '../../db/pool.js';
import { attachmentContent, attachmentsForExport } from '../attachments/attachments.export.js';
import type { AttachmentStore } from '../attachments/attachments.store.js';
import { openClientAccessLog, type AccessLogStream } from '../audit/audit.access-log-stream.js';
import type { AuditExports } from '../audit/audit.exports.js';
import type { AuditDoor, AuditEventInput } from '../audit/audit.types.js';
import type { ClientsService } from '../clients/clients.service.js';
import { presentConsentDetail } from '../consents/consents.present.js';
import { consentsRepository } from '../consents/consents.repository.js';
import type { JournalService } from '../journal/journal.service.js';
import { exportDocument, type ExportHead } from './subjects.document.js';
import type { SubjectExport } from './subjects.schemas.js';
import type { ZipFileEntry } from './subjects.zip.js';

export interface SubjectsServiceDeps {
  db: Database;
  /** The main pool: a short access log is read there in one query. */
  pool: pg.Pool;
  /** The export pool and its gate: a long access log streams there, never on the main pool. */
  exports: Pick<AuditExports, 'pool' | 'gate'>;
  audit: AuditDoor;
  clients: Pick<ClientsService, 'openForExport'>;
  journal: Pick<JournalService, 'entriesFor'>;
  /** Where attachments' sealed chunks live (the zip export reads them). */
  store: AttachmentStore;
  clock: () => Date;
}

/** Data-subject requests that span every domain: the export of everything held. */
export function createSubjectsService(deps: SubjectsServiceDeps) {
  const { db, exports, audit } = deps;
  const exported = (outcome: 'success' | 'failure', clientId: string): AuditEventInput => ({
    action: 'client.export',
    outcome,
    resourceType: 'client',
    resourceId: clientId,
    clientId,
    reason: 'data_subject_access',
  });
  const download = (
    clientId: string,
    attachmentId: string,
    outcome: AuditEventInput['outcome'],
  ): AuditEventInput => ({
    action: 'attachment.download',
    outcome,
    resourceType: 'attachment',
    resourceId: attachmentId,
    clientId,
    reason: outcome === 'success' ? 'data_subject_access' : 'integrity',
  });

  /**
   * The client's own records (read first), and the access log opened in batches
   * (audit.access-log-stream.ts): a long one streams from a cursor on the export pool behind
   * the export gate (429 / 503 with Retry-After), so memory stays flat and a slow reader holds
   * none of the main pool. The caller records its event after this (the log's snapshot is
   * taken, so the event is not in its own log) and before the first byte (fail closed).
   */
  async function prepare(
    ctx: RequestContext,
    clientId: string,
  ): Promise<{ head: ExportHead; log: AccessLogStream; cipher: ClientCipher }> {
    const opened = await deps.clients.openForExport(ctx, clientId);
    const consents = await consentsRepository.listForClient(db, clientId);
    const journal = await deps.journal.entriesFor(db, clientId, opened.cipher);
    const exportedAt = deps.clock();
    const attachments = await attachmentsForExport(db, clientId, opened.cipher, exportedAt);
    const head: ExportHead = {
      exportedAt: exportedAt.toISOString(),
      client: opened.client,
      legalHold: opened.legalHold,
      marketingHistory: opened.marketingHistory,
      consents: consents.map((row) =>
        presentConsentDetail(opened.cipher, row.consent, row.template),
      ),
      journal,
      attachments,
    };
    const log = await openClientAccessLog(
      { pool: deps.pool, exports, keys: { cipherFor: async () => opened.cipher } },
      clientId,
      actorOf(ctx).userId,
    );
    return { head, log, cipher: opened.cipher };
  }

  return {
    /** The export as a JSON byte stream (subjects.document.ts writes what the schema would). */
    async export(ctx: RequestContext, clientId: string): Promise<Readable> {
      const { head, log } = await prepare(ctx, clientId);
      try {
        await audit.record(ctx, [exported('success', clientId)]);
      } catch (error) {
        log.cancel();
        throw error;
      }
      const body = exportDocument(db, head, log.batches);
      // A stream that breaks after its 200 gets a failure event beside the success one.
      async function* watched(): AsyncGenerator<string> {
        try {
          yield* body;
        } catch (error) {
          await audit.record(ctx, [exported('failure', clientId)]).catch(() => undefined);
          throw error;
        }
      }
      const stream = Readable.from(watched());
      stream.once('close', () => log.cancel());
      return stream;
    },

    /**
     * `?format=zip`: the same document and every attachment's content, to be streamed. The
     * archive's exact Content-Length needs export.json's size before the first byte, so here
     * the document (access log included) is built in memory; the attachments stream. The export
     * and each attachment's download are audited before anything is handed out.
     */
    async exportZip(
      ctx: RequestContext,
      clientId: string,
    ): Promise<{ document: SubjectExport; files: ZipFileEntry[] }> {
      const { head, log, cipher } = await prepare(ctx, clientId);
      let text = '';
      try {
        for await (const piece of exportDocument(db, head, log.batches)) text += piece;
      } finally {
        log.cancel();
      }
      const document = JSON.parse(text) as SubjectExport;
      await audit.record(ctx, [
        exported('success', clientId),
        ...head.attachments.map((a) => download(clientId, a.id, 'success')),
      ]);
      const files = head.attachments.map((attachment) => ({
        attachment,
        content: () => attachmentContent(deps.store, cipher, attachment.id),
      }));
      return { document, files };
    },

    /** An attachment of a zip export failed its integrity check: audited as a failure. */
    async zipContentFailed(ctx: RequestContext, clientId: string, attachmentId: string) {
      await audit.record(ctx, [download(clientId, attachmentId, 'failure')]);
    },
  };
}
