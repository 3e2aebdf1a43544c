import { asc, eq, gt, inArray, sql } from 'drizzle-orm';
import type { Role } from '../../access/roles.js';
import type { Executor } from '../../db/pool.js';
import { userClinics, users } from '../../db/schema/index.js';
import type { UserRow, UserWithClinics } from '../../schemas/user.js';
import { clinicIdsOf } from '../auth/auth.repository.js';

export { findUserById } from '../auth/auth.repository.js';

export async function insertUser(
  db: Executor,
  user: {
    id: string;
    username: string;
    displayName: string;
    role: Role;
    passwordHash: string;
    authorisationId?: string | null;
    profession?: string | null;
    now: Date;
  },
) {
  await db.insert(users).values({
    id: user.id,
    username: user.username,
    displayName: user.displayName,
    role: user.role,
    passwordHash: user.passwordHash,
    authorisationId: user.authorisationId ?? null,
    profession: user.profession ?? null,
    createdAt: user.now,
    updatedAt: user.now,
  });
}

export async function replaceUserClinics(db: Executor, userId: string, clinicIds: string[]) {
  await db.delete(userClinics).where(eq(userClinics.userId, userId));
  if (clinicIds.length > 0) {
    await db.insert(userClinics).values(clinicIds.map((clinicId) => ({ userId, clinicId })));
  }
}

export async function listUsers(
  db: Executor,
  page: { limit: number; after: string | undefined },
): Promise<UserWithClinics[]> {
  const rows = await db
    .select({ user: users, clinicIds: clinicIdsOf })
    .from(users)
    .where(page.after ? gt(users.id, page.after) : undefined)
    .orderBy(asc(users.id))
    .limit(page.limit);
  return rows.map((row) => ({ ...row.user, clinicIds: row.clinicIds }));
}

export async function updateUser(
  db: Executor,
  id: string,
  patch: Partial<
    Pick<UserRow, 'role' | 'displayName' | 'disabled' | 'authorisationId' | 'profession'>
  > & {
    updatedAt: Date;
  },
) {
  await db
    .update(users)
    .set({ ...patch, version: sql`${users.version} + 1` })
    .where(eq(users.id, id));
}

/** The user's version, the row locked until the transaction ends (If-Match); null if none. */
export async function lockUserVersion(db: Executor, id: string): Promise<number | null> {
  const rows = await db
    .select({ version: users.version })
    .from(users)
    .where(eq(users.id, id))
    .for('update');
  return rows[0]?.version ?? null;
}

export async function anyUserExists(db: Executor): Promise<boolean> {
  const rows = await db.select({ id: users.id }).from(users).limit(1);
  return rows.length > 0;
}

/** Display names and roles of these users (for an access log a person can read). */
export async function staffNamesOf(
  db: Executor,
  ids: readonly string[],
): Promise<Map<string, { displayName: string; role: Role }>> {
  if (ids.length === 0) return new Map();
  const rows = await db
    .select({ id: users.id, displayName: users.displayName, role: users.role })
    .from(users)
    .where(inArray(users.id, [...ids]));
  return new Map(rows.map((row) => [row.id, { displayName: row.displayName, role: row.role }]));
}
