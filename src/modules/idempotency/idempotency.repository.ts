import { and, eq, gt, lte, sql } from 'drizzle-orm';
import type pg from 'pg';
import { jsonField, type ClientKeys } from '../../crypto/index.js';
import type { Executor } from '../../db/pool.js';
import { placeholders, prepareStatement } from '../../db/prepared.js';
import { idempotencyKeys } from '../../db/schema/idempotency-keys.js';

/** How long a 2xx answer is remembered (API.md "Conventions"; README states it). */
export const IDEMPOTENCY_WINDOW_MS = 24 * 60 * 60 * 1000;

/** Where a remembered answer's body is sealed (bound to this table, column and row id). */
export const RESPONSE_FIELD = jsonField<unknown>('idempotency_keys', 'response_enc');

export type IdempotencyRow = typeof idempotencyKeys.$inferSelect;

/** The caller's live row for a key (not yet expired at `now`), if any. */
export async function findLive(
  executor: Executor,
  actorId: string,
  keyHash: Buffer,
  now: Date,
): Promise<IdempotencyRow | undefined> {
  const [row] = await executor
    .select()
    .from(idempotencyKeys)
    .where(
      and(
        eq(idempotencyKeys.actorId, actorId),
        eq(idempotencyKeys.keyHash, keyHash),
        gt(idempotencyKeys.expiresAt, now),
      ),
    );
  return row;
}

export type LiveKey = Pick<
  IdempotencyRow,
  'id' | 'requestHash' | 'clientId' | 'resourceId' | 'status' | 'responseEnc'
>;

const live = placeholders<{ actorId: string; keyHash: Buffer; now: string }>();
const k = idempotencyKeys;
/** findLive for every keyed request before its handler: prepared, since it runs on each one. */
const FIND_LIVE = prepareStatement(
  'idempotency_find_live',
  sql`SELECT ${k.id} AS "id", ${k.requestHash} AS "requestHash", ${k.clientId} AS "clientId",
        ${k.resourceId} AS "resourceId", ${k.status} AS "status", ${k.responseEnc} AS "responseEnc"
      FROM ${k}
      WHERE ${k.actorId} = ${live.actorId}::uuid AND ${k.keyHash} = ${live.keyHash}::bytea
        AND ${k.expiresAt} > ${live.now}::timestamptz`,
);

/** The same as findLive, on the pool, as a named prepared statement. */
export async function findLiveKey(
  pool: pg.Pool,
  actorId: string,
  keyHash: Buffer,
  now: Date,
): Promise<LiveKey | undefined> {
  const result = await FIND_LIVE.run(pool, { actorId, keyHash, now: now.toISOString() });
  return (result.rows as LiveKey[])[0];
}

/**
 * Inserts the key's row, or takes over an expired one; false when a live row holds the key
 * (a concurrent duplicate committed first: the caller's transaction must roll back). A
 * concurrent insert of the same key waits here until the other transaction ends.
 */
export async function claim(
  executor: Executor,
  keys: ClientKeys<Executor>,
  row: Omit<IdempotencyRow, 'responseEnc'> & { body: unknown },
): Promise<boolean> {
  const { body, ...values } = row;
  let responseEnc: Buffer | null = null;
  if (body !== null && body !== undefined) {
    if (row.clientId === null)
      throw new Error('idempotency: a body is kept only sealed under a client key');
    const cipher = await keys.cipherFor(executor, row.clientId);
    responseEnc = cipher.seal(RESPONSE_FIELD, row.id, body);
  }
  const excluded = (column: string) => sql.raw(`excluded.${column}`);
  const inserted = await executor
    .insert(idempotencyKeys)
    .values({ ...values, responseEnc })
    .onConflictDoUpdate({
      target: [idempotencyKeys.actorId, idempotencyKeys.keyHash],
      set: {
        id: excluded('id'),
        requestHash: excluded('request_hash'),
        clientId: excluded('client_id'),
        status: excluded('status'),
        responseEnc: excluded('response_enc'),
        createdAt: excluded('created_at'),
        expiresAt: excluded('expires_at'),
      },
      setWhere: lte(idempotencyKeys.expiresAt, values.createdAt),
    })
    .returning({ id: idempotencyKeys.id });
  return inserted.length > 0;
}

/** Erasure: the client's remembered answers go with its data key (the keys answer as unused). */
export async function forgetClient(executor: Executor, clientId: string): Promise<number> {
  const rows = await executor
    .delete(idempotencyKeys)
    .where(eq(idempotencyKeys.clientId, clientId))
    .returning({ id: idempotencyKeys.id });
  return rows.length;
}

/** purge-expired: rows past their window (only counted unless `apply`). */
export async function purgeExpired(executor: Executor, now: Date, apply: boolean): Promise<number> {
  if (!apply) return executor.$count(idempotencyKeys, lte(idempotencyKeys.expiresAt, now));
  const rows = await executor
    .delete(idempotencyKeys)
    .where(lte(idempotencyKeys.expiresAt, now))
    .returning({ id: idempotencyKeys.id });
  return rows.length;
}
