import { and, asc, eq, gt, inArray, isNull, sql, type SQL } from 'drizzle-orm';
import type { Executor } from '../../db/pool.js';
import { clientMarketingEvents } from '../../db/schema/client-marketing-events.js';
import { clients } from '../../db/schema/clients.js';
import type { BlindIndex } from '../../crypto/index.js';
import { uuidv7 } from '../../db/ids.js';

export type ClientRow = typeof clients.$inferSelect;
export type NewClientRow = typeof clients.$inferInsert;

const live = isNull(clients.erasedAt);
/** Restricted clients (GDPR Art. 18) are left out of lists and searches. */
const unrestricted = eq(clients.restricted, false);

/** Data access for clients; every function takes the executor so a service owns the transaction. */
export const clientsRepository = {
  async insert(executor: Executor, row: NewClientRow): Promise<ClientRow> {
    const [inserted] = await executor.insert(clients).values(row).returning();
    return inserted!;
  },

  /**
   * A client that has not been erased (or, with `includeErased`, one that has: its access log
   * outlives it), whatever its clinic: the scope gate (clients.scope.ts) checks that.
   */
  async findLive(
    executor: Executor,
    id: string,
    options: { forUpdate?: boolean; forShare?: boolean; includeErased?: boolean } = {},
  ) {
    const query = executor
      .select()
      .from(clients)
      .where(and(eq(clients.id, id), options.includeErased ? undefined : live));
    const [row] = options.forUpdate
      ? await query.for('update')
      : options.forShare
        ? await query.for('share')
        : await query;
    return row;
  },

  async page(
    executor: Executor,
    clinicIds: readonly string[],
    after: string | undefined,
    limit: number,
  ) {
    const conditions: SQL[] = [inArray(clients.clinicId, clinicIds), live, unrestricted];
    if (after !== undefined) conditions.push(gt(clients.id, after));
    return executor
      .select()
      .from(clients)
      .where(and(...conditions))
      .orderBy(asc(clients.id))
      .limit(limit);
  },

  async findByIndexes(
    executor: Executor,
    clinicIds: readonly string[],
    indexes: { email?: BlindIndex; phone?: BlindIndex; nationalId?: BlindIndex },
    limit: number,
  ) {
    const conditions: SQL[] = [inArray(clients.clinicId, clinicIds), live, unrestricted];
    if (indexes.email) conditions.push(eq(clients.emailIndex, indexes.email));
    if (indexes.phone) conditions.push(eq(clients.phoneIndex, indexes.phone));
    if (indexes.nationalId) conditions.push(eq(clients.nationalIdIndex, indexes.nationalId));
    return executor
      .select()
      .from(clients)
      .where(and(...conditions))
      .orderBy(asc(clients.id))
      .limit(limit);
  },

  async update(executor: Executor, id: string, changes: Partial<NewClientRow>): Promise<ClientRow> {
    const [row] = await executor
      .update(clients)
      .set({ ...changes, updatedAt: new Date(), version: sql`${clients.version} + 1` })
      .where(eq(clients.id, id))
      .returning();
    return row!;
  },

  async recordMarketingChange(
    executor: Executor,
    clientId: string,
    optIn: boolean,
    actorId: string | null,
  ) {
    await executor.insert(clientMarketingEvents).values({ id: uuidv7(), clientId, optIn, actorId });
  },

  async marketingHistory(executor: Executor, clientId: string) {
    return executor
      .select()
      .from(clientMarketingEvents)
      .where(eq(clientMarketingEvents.clientId, clientId))
      .orderBy(asc(clientMarketingEvents.at), asc(clientMarketingEvents.id));
  },
};
