import { and, asc, eq, gt, inArray, max, or, type SQL } from 'drizzle-orm';
import type { Executor } from '../../db/pool.js';
import {
  journalAmendments,
  journalCountersignatures,
  journalEntries,
  journalEntryErrors,
  journalStatements,
} from '../../db/schema/journal.js';

export type EntryRow = typeof journalEntries.$inferSelect;
export type StatementRow = typeof journalStatements.$inferSelect;
export type CountersignatureRow = typeof journalCountersignatures.$inferSelect;
export type EntryErrorRow = typeof journalEntryErrors.$inferSelect;
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

  async findEntry(
    executor: Executor,
    clientId: string,
    id: string,
    options: { forUpdate?: boolean } = {},
  ): Promise<EntryRow | undefined> {
    const query = executor
      .select()
      .from(journalEntries)
      .where(and(eq(journalEntries.id, id), eq(journalEntries.clientId, clientId)));
    // FOR KEY SHARE: serialises additions to one entry without blocking its readers; the
    // unique key on each addition is the backstop.
    const [row] = options.forUpdate ? await query.for('key share') : await query;
    return row;
  },

  async countersignatureOf(executor: Executor, entryId: string) {
    const [row] = await executor
      .select()
      .from(journalCountersignatures)
      .where(eq(journalCountersignatures.entryId, entryId));
    return row;
  },

  async insertCountersignature(executor: Executor, row: CountersignatureRow) {
    await executor.insert(journalCountersignatures).values(row);
  },

  async errorOf(executor: Executor, entryId: string) {
    const [row] = await executor
      .select()
      .from(journalEntryErrors)
      .where(eq(journalEntryErrors.entryId, entryId));
    return row;
  },

  async insertError(executor: Executor, row: EntryErrorRow) {
    await executor.insert(journalEntryErrors).values(row);
  },

  async insertStatement(executor: Executor, row: StatementRow): Promise<StatementRow> {
    const [inserted] = await executor.insert(journalStatements).values(row).returning();
    return inserted!;
  },

  /** Everything added beside these entries, oldest first. */
  async additionsOf(executor: Executor, entryIds: string[]) {
    if (entryIds.length === 0) {
      return { amendments: [], statements: [], countersignatures: [], errors: [] };
    }
    const [amendments, statements, countersignatures, errors] = await Promise.all([
      this.amendmentsOf(executor, entryIds),
      executor
        .select()
        .from(journalStatements)
        .where(inArray(journalStatements.entryId, entryIds))
        .orderBy(asc(journalStatements.createdAt), asc(journalStatements.id)),
      executor
        .select()
        .from(journalCountersignatures)
        .where(inArray(journalCountersignatures.entryId, entryIds)),
      executor
        .select()
        .from(journalEntryErrors)
        .where(inArray(journalEntryErrors.entryId, entryIds)),
    ]);
    return { amendments, statements, countersignatures, errors };
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
