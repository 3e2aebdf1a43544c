import { sql } from 'drizzle-orm';
import { uuidv7 } from '../../db/ids.js';
import type { Database } from '../../db/pool.js';
import { SYSTEM_CONTEXT } from '../../access/context.js';
import type { AuditDoor } from '../audit/audit.types.js';
import type { PasswordHasher } from '../auth/password.js';
import { anyUserExists, insertUser } from './users.repository.js';
import { USERNAME_PATTERN } from './users.schemas.js';

/** Any constant will do; it only has to be the same for every process of this service. */
const BOOTSTRAP_LOCK = 7_318_201_102;

/**
 * BOOTSTRAP_ADMIN_*: creates this admin when the database has no user at all, so a fresh
 * installation can be reached; once any user exists it does nothing (an existing account,
 * its password included, is never overwritten). Several processes starting together
 * create it once (an advisory lock held for the transaction).
 */
export async function bootstrapAdmin(
  deps: { db: Database; passwords: PasswordHasher; audit: AuditDoor; now?: () => Date },
  admin: { username: string; password: string },
): Promise<'created' | 'exists'> {
  if (!USERNAME_PATTERN.test(admin.username)) {
    throw new Error('BOOTSTRAP_ADMIN_USERNAME must be 3 to 64 of letters, digits and . _ @ -');
  }
  const passwordHash = await deps.passwords.hash(admin.password);
  return deps.db.transaction(async (tx) => {
    await tx.execute(sql`SELECT pg_advisory_xact_lock(${BOOTSTRAP_LOCK})`);
    if (await anyUserExists(tx)) return 'exists' as const;
    const id = uuidv7();
    await insertUser(tx, {
      id,
      username: admin.username,
      displayName: 'Administrator',
      role: 'admin',
      passwordHash,
      now: deps.now?.() ?? new Date(),
    });
    await deps.audit.write(tx, SYSTEM_CONTEXT, [
      {
        action: 'user.create',
        outcome: 'success',
        resourceType: 'user',
        resourceId: id,
        reason: 'bootstrap',
      },
    ]);
    return 'created' as const;
  });
}
