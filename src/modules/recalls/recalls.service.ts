import { actorOf, type RequestContext } from '../../access/context.js';
import { isOrganisationWide } from '../../access/roles.js';
import { DataKeyNotFound, type ClientKeys } from '../../crypto/index.js';
import type { Database, Executor } from '../../db/pool.js';
import { BadRequest } from '../../errors.js';
import { idCursor } from '../../schemas/cursor.js';
import type { AuditDoor } from '../audit/audit.types.js';
import { CLIENT_FIELDS } from '../clients/clients.fields.js';
import { recallsRepository as repo } from './recalls.repository.js';
import type { Recall } from './recalls.schemas.js';

export interface RecallsServiceDeps {
  db: Database;
  keys: ClientKeys<Executor>;
  audit: AuditDoor;
}

export function createRecallsService(deps: RecallsServiceDeps) {
  const { db, keys, audit } = deps;

  return {
    /**
     * The clients of the caller's clinics (an admin: of every clinic) treated with a product of the batch, found through
     * the batch's blind index (normalised: case and spaces), one audit event per client.
     */
    async byBatch(
      ctx: RequestContext,
      query: { batchNumber: string; limit: number; cursor?: string | undefined },
    ): Promise<Recall> {
      const after = idCursor.decode(query.cursor);
      let index;
      try {
        index = await keys.blindIndex('batchNumber', query.batchNumber);
      } catch {
        throw new BadRequest('The request is not valid.', [
          { path: 'querystring.batchNumber', message: 'is not a batch number' },
        ]);
      }
      const actor = actorOf(ctx);
      const page = {
        clinicIds: isOrganisationWide(actor.role) ? null : actor.clinicIds,
        batch: index,
        after,
        limit: query.limit,
      };
      const ids = await repo.clientIdsWithBatch(db, page);
      const onPage = ids.slice(0, query.limit);
      const rows = await repo.entriesWithBatch(db, page, onPage);
      const items: Recall['items'] = [];
      // A client erased since the rows were read (its key is gone) is left out.
      const erased = new Set<string>();
      for (const row of rows) {
        if (erased.has(row.client.id)) continue;
        let item = items.at(-1);
        if (item?.clientId !== row.client.id) {
          const client = row.client;
          let cipher;
          try {
            cipher = await keys.cipherFor(db, client.id);
          } catch (error) {
            if (!(error instanceof DataKeyNotFound)) throw error;
            erased.add(client.id);
            continue;
          }
          item = {
            clientId: client.id,
            firstName: cipher.open(CLIENT_FIELDS.firstName, client.id, client.firstName),
            lastName: cipher.open(CLIENT_FIELDS.lastName, client.id, client.lastName),
            email: client.email ? cipher.open(CLIENT_FIELDS.email, client.id, client.email) : null,
            phone: client.phone ? cipher.open(CLIENT_FIELDS.phone, client.id, client.phone) : null,
            entries: [],
          };
          items.push(item);
        }
        if (!item.entries.some((entry) => entry.entryId === row.entryId)) {
          item.entries.push({ entryId: row.entryId, performedAt: row.performedAt.toISOString() });
        }
      }
      await audit.record(
        ctx,
        items.length === 0
          ? [{ action: 'recall.read', outcome: 'success', resourceType: 'recall' }]
          : items.map((item) => ({
              action: 'recall.read',
              outcome: 'success' as const,
              resourceType: 'client',
              resourceId: item.clientId,
              clientId: item.clientId,
            })),
      );
      return {
        items,
        nextCursor: ids.length > query.limit ? idCursor.encode(onPage.at(-1)!) : null,
      };
    },
  };
}
