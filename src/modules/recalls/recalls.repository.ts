import { and, asc, eq, inArray, isNull } from 'drizzle-orm';
import type { BlindIndex } from '../../crypto/index.js';
import type { Executor } from '../../db/pool.js';
import { clients } from '../../db/schema/clients.js';
import { journalProducts } from '../../db/schema/journal.js';

export const recallsRepository = {
  /** Entries of live, unrestricted clients of `clinicIds` that used a product of the batch, oldest first. */
  async entriesWithBatch(executor: Executor, clinicIds: readonly string[], batch: BlindIndex) {
    return executor
      .select({
        client: clients,
        entryId: journalProducts.entryId,
        performedAt: journalProducts.performedAt,
      })
      .from(journalProducts)
      .innerJoin(clients, eq(clients.id, journalProducts.clientId))
      .where(
        and(
          eq(journalProducts.batchIndex, batch),
          inArray(journalProducts.clinicId, clinicIds),
          isNull(clients.erasedAt),
          // Restriction of processing (GDPR Art. 18) leaves the client out of recalls.
          eq(clients.restricted, false),
        ),
      )
      .orderBy(asc(clients.id), asc(journalProducts.performedAt), asc(journalProducts.entryId));
  },
};
