import type pg from 'pg';
import type { RequestContext } from '../../access/context.js';
import type { ClientCipher } from '../../crypto/index.js';
import type { Database } from '../../db/pool.js';
import { attachmentContent, attachmentsForExport } from '../attachments/attachments.export.js';
import type { AttachmentStore } from '../attachments/attachments.store.js';
import { streamAuditEvents } from '../audit/audit.queries.js';
import { openReasons } from '../audit/audit.reasons.js';
import type { AuditEvent } from '../audit/audit.schemas.js';
import type { AuditDoor, AuditEventInput } from '../audit/audit.types.js';
import type { ClientsService } from '../clients/clients.service.js';
import { presentConsentDetail } from '../consents/consents.present.js';
import { consentsRepository } from '../consents/consents.repository.js';
import type { JournalService } from '../journal/journal.service.js';
import { staffNamesOf } from '../users/users.repository.js';
import type { SubjectExport } from './subjects.schemas.js';
import type { ZipFileEntry } from './subjects.zip.js';

export interface SubjectsServiceDeps {
  db: Database;
  pool: pg.Pool;
  audit: AuditDoor;
  clients: Pick<ClientsService, 'openForExport'>;
  journal: Pick<JournalService, 'entriesFor'>;
  /** Where attachments' sealed chunks live (the zip export reads them). */
  store: AttachmentStore;
  clock: () => Date;
}

/** Data-subject requests that span every domain: the export of everything held. */
export function createSubjectsService(deps: SubjectsServiceDeps) {
  const exported = (clientId: string): AuditEventInput => ({
    action: 'client.export',
    outcome: 'success',
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

  async function build(
    ctx: RequestContext,
    clientId: string,
  ): Promise<{ document: SubjectExport; cipher: ClientCipher }> {
    const opened = await deps.clients.openForExport(ctx, clientId);
    const consents = await consentsRepository.listForClient(deps.db, clientId);
    const journal = await deps.journal.entriesFor(deps.db, clientId, opened.cipher);
    const exportedAt = deps.clock();
    const attachments = await attachmentsForExport(deps.db, clientId, opened.cipher, exportedAt);
    const accessLog: AuditEvent[] = [];
    for await (const event of streamAuditEvents(deps.pool, { clientId })) accessLog.push(event);
    accessLog.reverse();
    const names = await staffNamesOf(deps.db, [
      ...new Set(accessLog.flatMap((event) => (event.actorId === null ? [] : [event.actorId]))),
    ]);
    const openedLog = await openReasons({ cipherFor: async () => opened.cipher }, accessLog);
    const document: SubjectExport = {
      exportedAt: exportedAt.toISOString(),
      client: opened.client,
      legalHold: opened.legalHold,
      marketingHistory: opened.marketingHistory,
      consents: consents.map((row) =>
        presentConsentDetail(opened.cipher, row.consent, row.template),
      ),
      journal,
      attachments,
      accessLog: openedLog.map((event) => ({
        ...event,
        actorDisplayName:
          event.actorId === null ? null : (names.get(event.actorId)?.displayName ?? null),
        // The role the actor acted in, as the event recorded it (it may have changed since).
        actorRole: event.actorRole ?? names.get(event.actorId ?? '')?.role ?? null,
      })),
    };
    return { document, cipher: opened.cipher };
  }

  return {
    async export(ctx: RequestContext, clientId: string): Promise<SubjectExport> {
      const { document } = await build(ctx, clientId);
      await deps.audit.record(ctx, [exported(clientId)]);
      return document;
    },

    /**
     * `?format=zip`: the same document and every attachment's content, to be streamed. The
     * export and each attachment's download are audited before anything is handed out.
     */
    async exportZip(
      ctx: RequestContext,
      clientId: string,
    ): Promise<{ document: SubjectExport; files: ZipFileEntry[] }> {
      const { document, cipher } = await build(ctx, clientId);
      await deps.audit.record(ctx, [
        exported(clientId),
        ...document.attachments.map((a) => download(clientId, a.id, 'success')),
      ]);
      const files = document.attachments.map((attachment) => ({
        attachment,
        content: () => attachmentContent(deps.store, cipher, attachment.id),
      }));
      return { document, files };
    },

    /** An attachment of a zip export failed its integrity check: audited as a failure. */
    async zipContentFailed(ctx: RequestContext, clientId: string, attachmentId: string) {
      await deps.audit.record(ctx, [download(clientId, attachmentId, 'failure')]);
    },
  };
}
