import { and, asc, eq, gt, sql, type SQL } from 'drizzle-orm';
import type { Executor } from '../../db/pool.js';
import { consentTemplates } from '../../db/schema/consent-templates.js';

export type TemplateRow = typeof consentTemplates.$inferSelect;
export type NewTemplateRow = typeof consentTemplates.$inferInsert;

/** Data access for consent templates (global, plaintext, append-only). */
export const templatesRepository = {
  /** Serialises publishes of one key until the transaction ends (other keys go on). */
  async lockKey(executor: Executor, key: string): Promise<void> {
    await executor.execute(
      sql`SELECT pg_advisory_xact_lock(hashtextextended(${`consent_template:${key}`}, 0))`,
    );
  },

  async latestVersion(executor: Executor, key: string): Promise<number> {
    const [row] = await executor
      .select({ version: sql<number | null>`max(${consentTemplates.version})` })
      .from(consentTemplates)
      .where(eq(consentTemplates.key, key));
    return Number(row?.version ?? 0);
  },

  async insert(executor: Executor, row: NewTemplateRow): Promise<TemplateRow> {
    const [inserted] = await executor.insert(consentTemplates).values(row).returning();
    return inserted!;
  },

  async find(executor: Executor, id: string): Promise<TemplateRow | undefined> {
    const [row] = await executor.select().from(consentTemplates).where(eq(consentTemplates.id, id));
    return row;
  },

  /** The newest version of each key, in id order. */
  async pageLatest(executor: Executor, after: string | undefined, limit: number) {
    const conditions: SQL[] = [
      sql`NOT EXISTS (SELECT 1 FROM consent_templates newer
            WHERE newer.key = ${consentTemplates.key} AND newer.version > ${consentTemplates.version})`,
    ];
    if (after !== undefined) conditions.push(gt(consentTemplates.id, after));
    return executor
      .select()
      .from(consentTemplates)
      .where(and(...conditions))
      .orderBy(asc(consentTemplates.id))
      .limit(limit);
  },
};
