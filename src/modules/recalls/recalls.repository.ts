import { and, asc, eq, gt, inArray, isNull, type SQL } from 'drizzle-orm';
import type { BlindIndex } from '../../crypto/index.js';
import type { Executor } from '../../db/pool.js';
import { clients } from '../../db/schema/clients.js';
import { journalProducts } from '../../db/schema/journal.js';

export interface RecallPageQuery {
  /** The caller's clinics, or null for every clinic (an organisation-wide role). */
  clinicIds: readonly string[] | null;
  batch: BlindIndex;
  /** The last client id of the previous page. */
  after: string | undefined;
  limit: number;
}

function matching(query: RecallPageQuery): SQL | undefined {
  return and(
    eq(journalProducts.batchIndex, query.batch),
    query.clinicIds === null ? undefined : inArray(journalProducts.clinicId, query.clinicIds),
    isNull(clients.erasedAt),
    // Restriction of processing (GDPR Art. 18) leaves the client out of recalls.
    eq(clients.restricted, false),
  );
}

export const recallsRepository = {
  /**
   * One page of the live, unrestricted clients (of the query's clinics) treated with a product of the batch,
   * in id order: up to `limit + 1` ids, so the caller knows whether another page follows.
   */
  async clientIdsWithBatch(executor: Executor, query: RecallPageQuery): Promise<string[]> {
    const rows = await executor
      .selectDistinct({ id: clients.id })
      .from(journalProducts)
      .innerJoin(clients, eq(clients.id, journalProducts.clientId))
      .where(and(matching(query), query.after ? gt(clients.id, query.after) : undefined))
      .orderBy(asc(clients.id))
      .limit(query.limit + 1);
    return rows.map((row) => row.id);
  },

  /** Those clients' entries that used a product of the batch, per client oldest first. */
  async entriesWithBatch(executor: Executor, query: RecallPageQuery, clientIds: string[]) {
    if (clientIds.length === 0) return [];
    return executor
      .select({
        client: clients,
        entryId: journalProducts.entryId,
        performedAt: journalProducts.performedAt,
      })
      .from(journalProducts)
      .innerJoin(clients, eq(clients.id, journalProducts.clientId))
      .where(and(matching(query), inArray(clients.id, clientIds)))
      .orderBy(asc(clients.id), asc(journalProducts.performedAt), asc(journalProducts.entryId));
  },
};
