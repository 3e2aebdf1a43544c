import { Readable } from 'node:stream';
import type pg from 'pg';
import { actorOf, type RequestContext } from '../../access/context.js';
import type { Database } from '../../db/pool.js';
import { openClientAccessLog } from '../audit/audit.access-log-stream.js';
import type { AuditExports } from '../audit/audit.exports.js';
import type { AuditDoor } from '../audit/audit.types.js';
import type { ClientsService } from '../clients/clients.service.js';
import { presentConsentDetail } from '../consents/consents.present.js';
import { consentsRepository } from '../consents/consents.repository.js';
import type { JournalService } from '../journal/journal.service.js';
import { exportDocument } from './subjects.document.js';

export interface SubjectsServiceDeps {
  db: Database;
  /** The main pool: a short access log is read there in one query. */
  pool: pg.Pool;
  /** The export pool and its gate: a long access log streams there, never on the main pool. */
  exports: Pick<AuditExports, 'pool' | 'gate'>;
  audit: AuditDoor;
  clients: Pick<ClientsService, 'openForExport'>;
  journal: Pick<JournalService, 'entriesFor'>;
  clock: () => Date;
}

/** Data-subject requests that span every domain: the export of everything held. */
export function createSubjectsService(deps: SubjectsServiceDeps) {
  const { db, exports, audit } = deps;
  const event = (outcome: 'success' | 'failure', clientId: string) => ({
    action: 'client.export',
    outcome,
    resourceType: 'client',
    resourceId: clientId,
    clientId,
    reason: 'data_subject_access',
  });

  return {
    /**
     * The export as a JSON byte stream. The client, consents and journal are read first (a
     * client's own records); the access log, which grows with every read of the client, comes
     * in batches (audit.access-log-stream.ts `openClientAccessLog`): a long one streams from a
     * cursor on the export pool behind the export gate (429 / 503 with Retry-After), so memory
     * stays flat and a slow reader holds none of the main pool. The
     * event is recorded after the access log's snapshot is taken (it is not in its own log)
     * and before the first byte (fail closed).
     */
    async export(ctx: RequestContext, clientId: string): Promise<Readable> {
      const opened = await deps.clients.openForExport(ctx, clientId);
      const consents = await consentsRepository.listForClient(db, clientId);
      const journal = await deps.journal.entriesFor(db, clientId, opened.cipher);
      const head = {
        exportedAt: deps.clock().toISOString(),
        client: opened.client,
        legalHold: opened.legalHold,
        marketingHistory: opened.marketingHistory,
        consents: consents.map((row) =>
          presentConsentDetail(opened.cipher, row.consent, row.template),
        ),
        journal,
      };
      const log = await openClientAccessLog(
        { pool: deps.pool, exports, keys: { cipherFor: async () => opened.cipher } },
        clientId,
        actorOf(ctx).userId,
      );
      try {
        await audit.record(ctx, [event('success', clientId)]);
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
          await audit.record(ctx, [event('failure', clientId)]).catch(() => undefined);
          throw error;
        }
      }
      const stream = Readable.from(watched());
      stream.once('close', () => log.cancel());
      return stream;
    },
  };
}
