import { and, asc, eq, gt, inArray, max, or, type SQL } from 'drizzle-orm';
import type { Executor } from '../../db/pool.js';
import { journalAmendments, journalEntries } from '../../db/schema/journal.js';

export type EntryRow = typeof journalEntries.$inferSelect;
export type AmendmentRow = typeof journalAmendments.$inferSelect;
export type NewAmendmentRow = typeof journalAmendments.$inferInsert;

/** Where a page of a client's journal (oldest first) continues. */
export interface EntryCursor {
  performedAt: Date;
  id: string;
}

/** Data access for the journal: inserts and reads only (the tables are append-only). */
export const journalRepository = {
  async insertAmendment(executor: Executor, row: NewAmendmentRow): Promise<AmendmentRow> {
    const [inserted] = await executor.insert(journalAmendments).values(row).returning();
    return inserted!;
  },

  async findEntry(executor: Executor, clientId: string, id: string) {
    const [row] = await executor
      .select()
      .from(journalEntries)
      .where(and(eq(journalEntries.id, id), eq(journalEntries.clientId, clientId)));
    return row;
  },

  async pageEntries(
    executor: Executor,
    clientId: string,
    after: EntryCursor | undefined,
    limit: number,
  ) {
    const conditions: (SQL | undefined)[] = [eq(journalEntries.clientId, clientId)];
    if (after !== undefined) {
      conditions.push(
        or(
          gt(journalEntries.performedAt, after.performedAt),
          and(eq(journalEntries.performedAt, after.performedAt), gt(journalEntries.id, after.id)),
        ),
      );
    }
    return executor
      .select()
      .from(journalEntries)
      .where(and(...conditions))
      .orderBy(asc(journalEntries.performedAt), asc(journalEntries.id))
      .limit(limit);
  },

  async amendmentsOf(executor: Executor, entryIds: string[]) {
    if (entryIds.length === 0) return [];
    return executor
      .select()
      .from(journalAmendments)
      .where(inArray(journalAmendments.entryId, entryIds))
      .orderBy(asc(journalAmendments.createdAt), asc(journalAmendments.id));
  },

  async newestPerformedAt(executor: Executor, clientId: string): Promise<Date | null> {
    const [row] = await executor
      .select({ newest: max(journalEntries.performedAt) })
      .from(journalEntries)
      .where(eq(journalEntries.clientId, clientId));
    return row?.newest ?? null;
  },
};
