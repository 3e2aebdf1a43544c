import { and, asc, eq, gt, type SQL } from 'drizzle-orm';
import type { Executor } from '../../db/pool.js';
import { attachments } from '../../db/schema/attachments.js';
import { consents } from '../../db/schema/consents.js';
import { journalEntries } from '../../db/schema/journal.js';

export type AttachmentRow = typeof attachments.$inferSelect;
export type NewAttachmentRow = typeof attachments.$inferInsert;

export interface AttachmentFilter {
  entryId?: string | undefined;
  consentId?: string | undefined;
  /** Reception: consent scans only. */
  consentScansOnly: boolean;
  after?: string | undefined;
}

export const attachmentsRepository = {
  async insert(executor: Executor, row: NewAttachmentRow): Promise<AttachmentRow> {
    const [inserted] = await executor.insert(attachments).values(row).returning();
    return inserted!;
  },

  async find(executor: Executor, clientId: string, id: string): Promise<AttachmentRow | undefined> {
    const [row] = await executor
      .select()
      .from(attachments)
      .where(and(eq(attachments.id, id), eq(attachments.clientId, clientId)));
    return row;
  },

  async list(executor: Executor, clientId: string, filter: AttachmentFilter, limit: number) {
    const conditions: SQL[] = [eq(attachments.clientId, clientId)];
    if (filter.entryId) conditions.push(eq(attachments.entryId, filter.entryId));
    if (filter.consentId) conditions.push(eq(attachments.consentId, filter.consentId));
    if (filter.consentScansOnly) conditions.push(eq(attachments.kind, 'consent-scan'));
    if (filter.after) conditions.push(gt(attachments.id, filter.after));
    return executor
      .select()
      .from(attachments)
      .where(and(...conditions))
      .orderBy(asc(attachments.id))
      .limit(limit);
  },

  async entryExists(executor: Executor, clientId: string, entryId: string): Promise<boolean> {
    const [row] = await executor
      .select({ id: journalEntries.id })
      .from(journalEntries)
      .where(and(eq(journalEntries.id, entryId), eq(journalEntries.clientId, clientId)));
    return row !== undefined;
  },

  async consentExists(executor: Executor, clientId: string, consentId: string): Promise<boolean> {
    const [row] = await executor
      .select({ id: consents.id })
      .from(consents)
      .where(and(eq(consents.id, consentId), eq(consents.clientId, clientId)));
    return row !== undefined;
  },
};
