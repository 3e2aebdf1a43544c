import { sql, type SQL } from 'drizzle-orm';
import type { IdempotencyRowValues } from '../../access/context.js';
import { placeholders } from '../../db/prepared.js';
import { idempotencyKeys } from '../../db/schema/idempotency-keys.js';

/**
 * The Idempotency-Key row of a write done in one statement (journal.write.ts), as a CTE of
 * that statement: the key row commits with the write and its audit event, or not at all.
 */
const CLAIM_COLUMNS = [
  'id',
  'actorId',
  'keyHash',
  'requestHash',
  'clientId',
  'status',
  'responseEnc',
  'createdAt',
  'expiresAt',
] as const satisfies readonly (keyof IdempotencyRowValues)[];

/** The statement's values of the key row, prefixed `claim_` beside the write's own. */
export type ClaimParams = { [K in (typeof CLAIM_COLUMNS)[number] as `claim_${K}`]: unknown };

const k = placeholders<ClaimParams>();

/**
 * The key's row, inserted (or taking over an expired one) only when `writable` holds; it
 * returns nothing when a live row holds the key, and a concurrent insert of the same key
 * waits for the other statement's transaction. The write goes on only if it returned a row
 * (`EXISTS (SELECT 1 FROM claim)`).
 */
export function claimInsert(writable: SQL): SQL {
  const columns = CLAIM_COLUMNS.map((key) => idempotencyKeys[key]);
  const excluded = (name: string) => sql.raw(`${name} = excluded.${name}`);
  return sql`INSERT INTO ${idempotencyKeys} (${sql.join(
    columns.map((column) => sql.identifier(column.name)),
    sql`, `,
  )})
    SELECT ${sql.join(
      CLAIM_COLUMNS.map(
        (key) => sql`${k[`claim_${key}`]}::${sql.raw(idempotencyKeys[key].getSQLType())}`,
      ),
      sql`, `,
    )}
    WHERE ${writable}
    ON CONFLICT (${sql.identifier(idempotencyKeys.actorId.name)}, ${sql.identifier(idempotencyKeys.keyHash.name)})
    DO UPDATE SET ${sql.join(
      columns
        .filter((column) => column !== idempotencyKeys.actorId)
        .map((column) => excluded(column.name)),
      sql`, `,
    )}
    WHERE ${idempotencyKeys.expiresAt} <= excluded.${sql.identifier(idempotencyKeys.createdAt.name)}
    RETURNING ${idempotencyKeys.id}`;
}

/** The key row's values for the statement (times as ISO text). */
export function claimParams(claim: IdempotencyRowValues): ClaimParams {
  return Object.fromEntries(
    CLAIM_COLUMNS.map((key) => {
      const value = claim[key];
      return [`claim_${key}`, value instanceof Date ? value.toISOString() : value];
    }),
  ) as ClaimParams;
}
