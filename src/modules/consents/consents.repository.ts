import { and, asc, eq } from 'drizzle-orm';
import type { Executor } from '../../db/pool.js';
import { consentTemplates } from '../../db/schema/consent-templates.js';
import { consents } from '../../db/schema/consents.js';

export type ConsentRow = typeof consents.$inferSelect;
export type NewConsentRow = typeof consents.$inferInsert;
export type TemplateRow = typeof consentTemplates.$inferSelect;

/** Data access for consents; a consent row always comes with its template. */
export const consentsRepository = {
  async insert(executor: Executor, row: NewConsentRow): Promise<ConsentRow> {
    const [inserted] = await executor.insert(consents).values(row).returning();
    return inserted!;
  },

  async find(
    executor: Executor,
    clientId: string,
    id: string,
    options: { forUpdate?: boolean } = {},
  ) {
    const query = executor
      .select({ consent: consents, template: consentTemplates })
      .from(consents)
      .innerJoin(consentTemplates, eq(consentTemplates.id, consents.templateId))
      .where(and(eq(consents.id, id), eq(consents.clientId, clientId)));
    const [row] = options.forUpdate ? await query.for('update', { of: consents }) : await query;
    return row;
  },

  async listForClient(executor: Executor, clientId: string) {
    return executor
      .select({ consent: consents, template: consentTemplates })
      .from(consents)
      .innerJoin(consentTemplates, eq(consentTemplates.id, consents.templateId))
      .where(eq(consents.clientId, clientId))
      .orderBy(asc(consents.id));
  },

  async withdraw(
    executor: Executor,
    id: string,
    changes: Pick<NewConsentRow, 'withdrawnAt' | 'withdrawnBy' | 'withdrawalReason'>,
  ): Promise<ConsentRow> {
    const [row] = await executor
      .update(consents)
      .set({ ...changes, status: 'withdrawn' })
      .where(eq(consents.id, id))
      .returning();
    return row!;
  },
};
