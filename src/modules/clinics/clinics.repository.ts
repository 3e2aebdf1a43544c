import { asc, eq, gt, inArray } from 'drizzle-orm';
import type { Executor } from '../../db/pool.js';
import { clinics } from '../../db/schema/index.js';

export type ClinicRow = typeof clinics.$inferSelect;

export async function insertClinic(db: Executor, clinic: { id: string; name: string; now: Date }) {
  const rows = await db
    .insert(clinics)
    .values({ id: clinic.id, name: clinic.name, createdAt: clinic.now })
    .returning();
  return rows[0]!;
}

export async function findClinic(db: Executor, id: string): Promise<ClinicRow | undefined> {
  const [row] = await db.select().from(clinics).where(eq(clinics.id, id));
  return row;
}

export async function listClinics(
  db: Executor,
  page: { limit: number; after: string | undefined },
): Promise<ClinicRow[]> {
  return db
    .select()
    .from(clinics)
    .where(page.after ? gt(clinics.id, page.after) : undefined)
    .orderBy(asc(clinics.id))
    .limit(page.limit);
}

export async function findClinicIds(db: Executor, ids: string[]): Promise<string[]> {
  if (ids.length === 0) return [];
  const rows = await db.select({ id: clinics.id }).from(clinics).where(inArray(clinics.id, ids));
  return rows.map((row) => row.id);
}
