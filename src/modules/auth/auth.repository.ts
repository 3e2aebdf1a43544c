import { and, eq, inArray, isNull, lt, sql } from 'drizzle-orm';
import type { Role } from '../../access/roles.js';
import type { Database, Executor } from '../../db/pool.js';
import {
  refreshTokens,
  sessions,
  throttleCounters,
  usedTotpCodes,
  userClinics,
  users,
} from '../../db/schema/index.js';
import type { UserRow, UserWithClinics } from '../../schemas/user.js';
import type { SessionKind } from './session.js';

/** A user's clinic ids, sorted, as one column of a query over `users`. */
export const clinicIdsOf = sql<
  string[]
>`coalesce((SELECT array_agg(${userClinics.clinicId}::text ORDER BY ${userClinics.clinicId}) FROM ${userClinics} WHERE ${userClinics.userId} = ${users.id}), '{}')`;

export async function findUserById(db: Executor, id: string): Promise<UserWithClinics | null> {
  const rows = await db
    .select({ user: users, clinicIds: clinicIdsOf })
    .from(users)
    .where(eq(users.id, id))
    .limit(1);
  const row = rows[0];
  return row ? { ...row.user, clinicIds: row.clinicIds } : null;
}

/**
 * Usernames match regardless of case, as the unique index does: `canonical` is the name as
 * throttle.ts `canonicalUsername` made it (the one normalisation of lookup and throttle).
 */
export async function findUserByUsername(
  db: Executor,
  canonical: string,
): Promise<UserWithClinics | null> {
  const rows = await db
    .select({ user: users, clinicIds: clinicIdsOf })
    .from(users)
    .where(sql`lower(${users.username}) = ${canonical}`)
    .limit(1);
  const row = rows[0];
  return row ? { ...row.user, clinicIds: row.clinicIds } : null;
}

/** The credential columns of a user, which only this module writes. */
export async function updateCredentials(
  db: Executor,
  id: string,
  patch: Partial<Pick<UserRow, 'passwordHash' | 'totpSecret' | 'totpKekId' | 'totpConfirmedAt'>> & {
    updatedAt: Date;
  },
) {
  // A second factor's change shows on the user (mfaEnabled): a new version, a new ETag.
  await db
    .update(users)
    .set({ ...patch, version: sql`${users.version} + 1` })
    .where(eq(users.id, id));
}

/** When a session was opened (its login), or null when there is no such session. */
export async function sessionOpenedAt(db: Executor, sessionId: string): Promise<Date | null> {
  const rows = await db
    .select({ createdAt: sessions.createdAt })
    .from(sessions)
    .where(eq(sessions.id, sessionId))
    .limit(1);
  return rows[0]?.createdAt ?? null;
}

export interface SessionState {
  id: string;
  kind: SessionKind;
  lastSeenAt: Date;
  expiresAt: Date;
  revokedAt: Date | null;
  user: { id: string; username: string; role: Role; disabled: boolean; clinicIds: string[] };
}

function sessionStateSelect(db: Executor) {
  return db
    .select({
      id: sessions.id,
      kind: sessions.kind,
      lastSeenAt: sessions.lastSeenAt,
      expiresAt: sessions.expiresAt,
      revokedAt: sessions.revokedAt,
      userId: users.id,
      username: users.username,
      role: users.role,
      disabled: users.disabled,
      clinicIds: clinicIdsOf,
    })
    .from(sessions)
    .innerJoin(users, eq(users.id, sessions.userId));
}

type SessionStateRow = Awaited<
  ReturnType<ReturnType<typeof sessionStateSelect>['execute']>
>[number];

function toSessionState(row: SessionStateRow | undefined): SessionState | null {
  if (!row) return null;
  return {
    id: row.id,
    kind: row.kind,
    lastSeenAt: row.lastSeenAt,
    expiresAt: row.expiresAt,
    revokedAt: row.revokedAt,
    user: {
      id: row.userId,
      username: row.username,
      role: row.role,
      disabled: row.disabled,
      clinicIds: row.clinicIds,
    },
  };
}

/** The session, its user and the user's clinics in one query (no cache). */
export async function findSessionState(
  db: Executor,
  sessionId: string,
): Promise<SessionState | null> {
  const rows = await sessionStateSelect(db).where(eq(sessions.id, sessionId)).limit(1);
  return toSessionState(rows[0]);
}

/**
 * The same query for every authenticated request, as a prepared statement: built once here
 * and parsed and planned once per connection by PostgreSQL (still read fresh every request,
 * so logout, disabling and a change of rights act on the next one).
 */
export function sessionStateReader(
  db: Database,
): (sessionId: string) => Promise<SessionState | null> {
  const prepared = sessionStateSelect(db)
    .where(eq(sessions.id, sql.placeholder('sessionId')))
    .limit(1)
    .prepare('session_state_v1');
  return async (sessionId) => toSessionState((await prepared.execute({ sessionId }))[0]);
}

export async function insertSession(
  db: Executor,
  session: { id: string; userId: string; kind: SessionKind; now: Date; expiresAt: Date },
) {
  await db.insert(sessions).values({
    id: session.id,
    userId: session.userId,
    kind: session.kind,
    createdAt: session.now,
    lastSeenAt: session.now,
    expiresAt: session.expiresAt,
  });
}

/** Records activity at most once a minute per session, so reads stay reads. */
export async function touchSession(db: Executor, sessionId: string, now: Date) {
  await db
    .update(sessions)
    .set({ lastSeenAt: now })
    .where(
      and(eq(sessions.id, sessionId), lt(sessions.lastSeenAt, new Date(now.getTime() - 60_000))),
    );
}

export async function revokeSession(db: Executor, sessionId: string, reason: string, now: Date) {
  await db
    .update(sessions)
    .set({ revokedAt: now, revokedReason: reason })
    .where(and(eq(sessions.id, sessionId), isNull(sessions.revokedAt)));
}

export async function revokeUserSessions(db: Executor, userId: string, reason: string, now: Date) {
  await db
    .update(sessions)
    .set({ revokedAt: now, revokedReason: reason })
    .where(and(eq(sessions.userId, userId), isNull(sessions.revokedAt)));
}

export async function insertRefreshToken(db: Executor, hash: Buffer, sessionId: string, now: Date) {
  await db.insert(refreshTokens).values({ tokenHash: hash, sessionId, createdAt: now });
}

/** Locks the token's row so that two concurrent uses of one token cannot both rotate it. */
export async function lockRefreshToken(db: Executor, hash: Buffer) {
  const rows = await db
    .select()
    .from(refreshTokens)
    .where(eq(refreshTokens.tokenHash, hash))
    .for('update')
    .limit(1);
  return rows[0] ?? null;
}

export async function markRefreshTokenUsed(db: Executor, hash: Buffer, now: Date) {
  await db.update(refreshTokens).set({ usedAt: now }).where(eq(refreshTokens.tokenHash, hash));
}

export async function setSessionLastSeen(db: Executor, sessionId: string, now: Date) {
  await db.update(sessions).set({ lastSeenAt: now }).where(eq(sessions.id, sessionId));
}

export interface Counter {
  key: string;
  count: number;
  windowStartedAt: Date;
}

export async function readCounters(db: Executor, keys: string[]): Promise<Counter[]> {
  if (keys.length === 0) return [];
  return db.select().from(throttleCounters).where(inArray(throttleCounters.key, keys));
}

/**
 * Adds one to a fixed-window counter, starting a new window when the old one has run out,
 * atomically in one statement (safe across processes).
 */
export async function bumpCounter(
  db: Executor,
  key: string,
  now: Date,
  windowMs: number,
): Promise<Counter> {
  const windowStart = new Date(now.getTime() - windowMs);
  const rows = await db
    .insert(throttleCounters)
    .values({ key, count: 1, windowStartedAt: now })
    .onConflictDoUpdate({
      target: throttleCounters.key,
      set: {
        count: sql`CASE WHEN ${throttleCounters.windowStartedAt} <= ${windowStart} THEN 1 ELSE ${throttleCounters.count} + 1 END`,
        windowStartedAt: sql`CASE WHEN ${throttleCounters.windowStartedAt} <= ${windowStart} THEN ${now} ELSE ${throttleCounters.windowStartedAt} END`,
      },
    })
    .returning();
  return rows[0]!;
}

export async function deleteCounter(db: Executor, key: string) {
  await db.delete(throttleCounters).where(eq(throttleCounters.key, key));
}

/** False when this code's time step was already used by this user (a replay). */
export async function claimTotpCounter(
  db: Executor,
  userId: string,
  counter: number,
  now: Date,
): Promise<boolean> {
  const rows = await db
    .insert(usedTotpCodes)
    .values({ userId, counter, usedAt: now })
    .onConflictDoNothing()
    .returning({ counter: usedTotpCodes.counter });
  return rows.length === 1;
}
