import { and, asc, count, eq, gt, ne, sql, type SQL } from 'drizzle-orm';
import type { AnyPgColumn, PgTable } from 'drizzle-orm/pg-core';
import type { DataKeyCache } from '../crypto/cache.js';
import { createClientKeys, type ClientKeys } from '../crypto/client-keys.js';
import type { KeyStore, RewrapBatch, RootKind, WrappedKind } from '../crypto/key-store.js';
import type { KeyEncryptionKeys, WrappedKey } from '../crypto/keyring.js';
import type { Database, Executor } from './pool.js';
import { auditChainKeys } from './schema/audit-chain-keys.js';
import { blindIndexKeys } from './schema/blind-index-keys.js';
import { clientDataKeys } from './schema/client-data-keys.js';
import { users } from './schema/users.js';

/**
 * Each kind of wrapped value: its table, its columns, and its id (a client id; a blind-index
 * version) as the text the rotation passes around, in the table's own order.
 */
interface WrappedTable {
  table: PgTable;
  kekId: AnyPgColumn;
  wrapped: AnyPgColumn;
  rewrappedAt: AnyPgColumn;
  id: AnyPgColumn;
  is(id: string): SQL;
  after(id: string): SQL;
}

const TABLES: Record<WrappedKind, WrappedTable> = {
  dataKey: {
    table: clientDataKeys,
    ...pick(clientDataKeys),
    id: clientDataKeys.clientId,
    is: (id) => eq(clientDataKeys.clientId, id),
    after: (id) => gt(clientDataKeys.clientId, id),
  },
  indexRoot: {
    table: blindIndexKeys,
    ...pick(blindIndexKeys),
    id: blindIndexKeys.version,
    is: (id) => eq(blindIndexKeys.version, Number(id)),
    after: (id) => gt(blindIndexKeys.version, Number(id)),
  },
  chainKey: {
    table: auditChainKeys,
    ...pick(auditChainKeys),
    id: auditChainKeys.version,
    is: (id) => eq(auditChainKeys.version, Number(id)),
    after: (id) => gt(auditChainKeys.version, Number(id)),
  },
  totpSecret: {
    table: users,
    kekId: users.totpKekId,
    wrapped: users.totpSecret,
    rewrappedAt: users.totpRewrappedAt,
    id: users.id,
    is: (id) => eq(users.id, id),
    after: (id) => gt(users.id, id),
  },
};

const ROOTS = { indexRoot: blindIndexKeys, chainKey: auditChainKeys } satisfies Record<
  RootKind,
  unknown
>;

function pick(table: typeof clientDataKeys | typeof blindIndexKeys | typeof auditChainKeys) {
  return { kekId: table.kekId, wrapped: table.wrapped, rewrappedAt: table.rewrappedAt };
}

/**
 * The encryption door's key store on PostgreSQL: data keys in `client_data_keys` (deleting a
 * row shreds a client), blind-index roots in `blind_index_keys`, the audit chain's key in
 * `audit_chain_keys`, TOTP secrets in `users`
 * (`totp_secret` under `totp_kek_id`; rows without a secret have no version and are skipped).
 */
export function createKeyStore(db: Database): KeyStore<Executor> {
  return {
    async findDataKey(executor, clientId) {
      const [row] = await (executor ?? db)
        .select({ kekId: clientDataKeys.kekId, wrapped: clientDataKeys.wrapped })
        .from(clientDataKeys)
        .where(eq(clientDataKeys.clientId, clientId));
      return row ?? null;
    },

    async insertDataKey(executor, clientId, key) {
      await executor.insert(clientDataKeys).values({ clientId, ...key });
    },

    async deleteDataKey(executor, clientId) {
      const deleted = await executor
        .delete(clientDataKeys)
        .where(eq(clientDataKeys.clientId, clientId))
        .returning({ clientId: clientDataKeys.clientId });
      return deleted.length > 0;
    },

    async findRootKey(kind, version) {
      const table = ROOTS[kind];
      const [row] = await db
        .select({ kekId: table.kekId, wrapped: table.wrapped })
        .from(table)
        .where(eq(table.version, version));
      return row ?? null;
    },

    async insertRootKey(kind, version, key) {
      await db
        .insert(ROOTS[kind])
        .values({ version, ...key })
        .onConflictDoNothing();
    },

    rewrapBatch: (kind, currentKekId, after, limit, rewrap) =>
      db.transaction(async (tx): Promise<RewrapBatch> => {
        const t = TABLES[kind];
        const rows = await tx
          .select({
            id: sql<string>`${t.id}::text`,
            kekId: sql<string>`${t.kekId}`,
            wrapped: sql<Buffer>`${t.wrapped}`,
          })
          .from(t.table)
          .where(and(ne(t.kekId, currentKekId), after === undefined ? undefined : t.after(after)))
          .orderBy(asc(t.id))
          .limit(limit)
          .for('update', { skipLocked: true });
        let rewrapped = 0;
        let unreadable = 0;
        for (const row of rows) {
          const next: WrappedKey | null = await rewrap(row.id, row);
          if (!next) {
            unreadable += 1;
            continue;
          }
          await tx.execute(
            sql`UPDATE ${t.table} SET ${sql.identifier(t.kekId.name)} = ${next.kekId},
                  ${sql.identifier(t.wrapped.name)} = ${next.wrapped},
                  ${sql.identifier(t.rewrappedAt.name)} = now()
                WHERE ${t.is(row.id)}`,
          );
          rewrapped += 1;
        }
        const last = rows.at(-1);
        return { seen: rows.length, last: last?.id, rewrapped, unreadable };
      }),

    async countNotUnder(kind, currentKekId) {
      const t = TABLES[kind];
      const [row] = await db.select({ n: count() }).from(t.table).where(ne(t.kekId, currentKekId));
      return row?.n ?? 0;
    },
  };
}

/** The encryption door over this database: `createClientKeys` with the PostgreSQL key store. */
export function createDatabaseClientKeys(options: {
  db: Database;
  keyring: KeyEncryptionKeys;
  cache?: DataKeyCache;
}): ClientKeys<Executor> {
  return createClientKeys({
    store: createKeyStore(options.db),
    keyring: options.keyring,
    ...(options.cache && { cache: options.cache }),
  });
}
