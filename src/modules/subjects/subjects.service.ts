import type pg from 'pg';
import type { RequestContext } from '../../access/context.js';
import type { Database } from '../../db/pool.js';
import { streamAuditEvents } from '../audit/audit.queries.js';
import { openReasons } from '../audit/audit.reasons.js';
import type { AuditEvent } from '../audit/audit.schemas.js';
import type { AuditDoor } from '../audit/audit.types.js';
import type { ClientsService } from '../clients/clients.service.js';
import { presentConsentDetail } from '../consents/consents.present.js';
import { consentsRepository } from '../consents/consents.repository.js';
import type { JournalService } from '../journal/journal.service.js';
import { staffNamesOf } from '../users/users.repository.js';
import type { SubjectExport } from './subjects.schemas.js';

export interface SubjectsServiceDeps {
  db: Database;
  pool: pg.Pool;
  audit: AuditDoor;
  clients: Pick<ClientsService, 'openForExport'>;
  journal: Pick<JournalService, 'entriesFor'>;
  clock: () => Date;
}

/** Data-subject requests that span every domain: the export of everything held. */
export function createSubjectsService(deps: SubjectsServiceDeps) {
  return {
    async export(ctx: RequestContext, clientId: string): Promise<SubjectExport> {
      const opened = await deps.clients.openForExport(ctx, clientId);
      const consents = await consentsRepository.listForClient(deps.db, clientId);
      const journal = await deps.journal.entriesFor(deps.db, clientId, opened.cipher);
      const accessLog: AuditEvent[] = [];
      for await (const event of streamAuditEvents(deps.pool, { clientId })) accessLog.push(event);
      accessLog.reverse();
      const names = await staffNamesOf(deps.db, [
        ...new Set(accessLog.flatMap((event) => (event.actorId === null ? [] : [event.actorId]))),
      ]);
      const openedLog = await openReasons({ cipherFor: async () => opened.cipher }, accessLog);
      const document: SubjectExport = {
        exportedAt: deps.clock().toISOString(),
        client: opened.client,
        legalHold: opened.legalHold,
        marketingHistory: opened.marketingHistory,
        consents: consents.map((row) =>
          presentConsentDetail(opened.cipher, row.consent, row.template),
        ),
        journal,
        accessLog: openedLog.map((event) => ({
          ...event,
          actorDisplayName:
            event.actorId === null ? null : (names.get(event.actorId)?.displayName ?? null),
          // The role the actor acted in, as the event recorded it (it may have changed since).
          actorRole: event.actorRole ?? names.get(event.actorId ?? '')?.role ?? null,
        })),
      };
      await deps.audit.record(ctx, [
        {
          action: 'client.export',
          outcome: 'success',
          resourceType: 'client',
          resourceId: clientId,
          clientId,
          reason: 'data_subject_access',
        },
      ]);
      return document;
    },
  };
}
