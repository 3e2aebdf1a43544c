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

const SEARCH_KINDS = ['email', 'phone', 'nationalId'] as const;
type SearchKind = (typeof SEARCH_KINDS)[number];
export type SearchIndexes = { [K in SearchKind]?: BlindIndex };
const SEARCH_COLUMNS = {
  email: clients.emailIndex,
  phone: clients.phoneIndex,
  nationalId: clients.nationalIdIndex,
} as const;

function searchQuery(executor: Executor, kinds: readonly SearchKind[]) {
  return executor
    .select()
    .from(clients)
    .where(
      and(
        sql`${clients.clinicId} = ANY(${sql.placeholder('clinicIds')}::uuid[])`,
        live,
        unrestricted,
        ...kinds.map((kind) => eq(SEARCH_COLUMNS[kind], sql.placeholder(kind))),
      ),
    )
    .orderBy(asc(clients.id))
    .limit(sql.placeholder('limit'))
    .prepare(`client_search_${kinds.join('_')}_v1`);
}

type SearchStatement = ReturnType<typeof searchQuery>;
const searchStatements = new WeakMap<Executor, Map<string, SearchStatement>>();
function searchStatement(executor: Executor, kinds: readonly SearchKind[]) {
  let byKinds = searchStatements.get(executor);
  if (!byKinds) searchStatements.set(executor, (byKinds = new Map<string, SearchStatement>()));
  const key = kinds.join(',');
  let statement = byKinds.get(key);
  if (!statement) byKinds.set(key, (statement = searchQuery(executor, kinds)));
  return statement;
}

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

  /**
   * The search (POST /v1/clients/search): exact blind-index matches in the caller's clinics.
   * One named prepared statement per set of fields searched by (seven at most), so each
   * search only fills in its values: parsed and planned once per connection by PostgreSQL.
   */
  async findByIndexes(
    executor: Executor,
    clinicIds: readonly string[],
    indexes: SearchIndexes,
    limit: number,
  ): Promise<ClientRow[]> {
    const kinds = SEARCH_KINDS.filter((kind) => indexes[kind] !== undefined);
    return searchStatement(executor, kinds).execute({
      clinicIds,
      limit,
      email: indexes.email ?? null,
      phone: indexes.phone ?? null,
      nationalId: indexes.nationalId ?? null,
    });
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
