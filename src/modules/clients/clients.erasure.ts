import { SYSTEM_CONTEXT, type RequestContext } from '../../access/context.js';
import type { ClientKeys } from '../../crypto/index.js';
import { sql } from 'drizzle-orm';
import type { Database, Executor } from '../../db/pool.js';
import { consents, journalProducts } from '../../db/schema/index.js';
import { Conflict } from '../../errors.js';
import type { AuditDoor } from '../audit/audit.types.js';
import { clientsRepository as repo, type ClientRow } from './clients.repository.js';
import { scopedClient } from './clients.scope.js';

/** When the newest journal entry of a client was performed (the retention clock), if any. */
export interface RetentionSource {
  newestEntryAt(executor: Executor, clientId: string): Promise<Date | null>;
  /** Live clients whose newest entry was performed before `cutoff` (and who have one). */
  clientsWithNewestEntryBefore(executor: Executor, cutoff: Date): Promise<string[]>;
}

export interface ErasureDeps {
  db: Database;
  keys: ClientKeys<Executor>;
  audit: AuditDoor;
  retentionYears: number;
  retention: RetentionSource;
  clock: () => Date;
}

/**
 * Erasure by crypto-shredding (API.md "Clients"): refused while on legal hold or inside the
 * retention period (counted from the newest journal entry); otherwise the data key is
 * destroyed, the blind indexes cleared and the client answers 404 from then on. Audit events
 * stay: ids only.
 */
export function createErasure(deps: ErasureDeps) {
  const { db, keys, audit, clock } = deps;

  /** On a row locked by the caller's transaction. */
  async function shred(tx: Executor, ctx: RequestContext, row: ClientRow, reason: string | null) {
    if (row.legalHold) {
      throw Conflict.rule(
        'legal_hold',
        'The client is on legal hold; nothing of theirs may be erased.',
      );
    }
    const newest = await deps.retention.newestEntryAt(tx, row.id);
    if (newest !== null) {
      const retainUntil = new Date(newest);
      retainUntil.setUTCFullYear(retainUntil.getUTCFullYear() + deps.retentionYears);
      if (retainUntil > clock()) {
        throw Conflict.rule(
          'retention',
          'The journal must be kept until the retention period ends.',
          {
            extensions: { retainUntil: retainUntil.toISOString() },
          },
        );
      }
    }
    await keys.destroy(tx, row.id);
    await repo.update(tx, row.id, {
      erasedAt: clock(),
      emailIndex: null,
      phoneIndex: null,
      nationalIdIndex: null,
    });
    // What would still link a row to the person without the key (README, "Erasure"): the
    // batch-number blind indexes (deterministic HMACs) go, and a consent's document hash kept
    // in clear from before migration 0010 is cleared (since then it is sealed). The guards of
    // both tables allow exactly this once the client is marked erased (migration 0010).
    await tx.execute(
      sql`DELETE FROM ${journalProducts} WHERE ${journalProducts.clientId} = ${row.id}`,
    );
    await tx.execute(
      sql`UPDATE ${consents} SET ${sql.identifier(consents.documentHash.name)} = NULL
          WHERE ${consents.clientId} = ${row.id} AND ${consents.documentHash} IS NOT NULL`,
    );
    await audit.write(tx, ctx, [
      {
        action: 'client.erase',
        outcome: 'success',
        resourceType: 'client',
        resourceId: row.id,
        clientId: row.id,
        reason,
      },
    ]);
  }

  return {
    async erase(ctx: RequestContext, id: string): Promise<void> {
      await db.transaction(async (tx) => {
        const { client } = await scopedClient(tx, ctx, id, 'client.erase', { forUpdate: true });
        await shred(tx, ctx, client, null);
      });
    },

    /**
     * For `purge-expired`: erases a client whose retention has run out, with the same checks
     * as the admin route (legal hold, retention) made again under the row lock. Returns
     * whether it erased (false: gone already, on hold, or retained after all).
     */
    async eraseExpired(id: string): Promise<boolean> {
      return db.transaction(async (tx) => {
        const row = await repo.findLive(tx, id, { forUpdate: true });
        if (!row) return false;
        try {
          await shred(tx, SYSTEM_CONTEXT, row, 'retention_expired');
          return true;
        } catch (error) {
          if (error instanceof Conflict) return false;
          throw error;
        }
      });
    },

    /** Ids of live clients whose newest journal entry is older than the retention period. */
    async expiredClientIds(): Promise<string[]> {
      const cutoff = clock();
      cutoff.setUTCFullYear(cutoff.getUTCFullYear() - deps.retentionYears);
      return deps.retention.clientsWithNewestEntryBefore(db, cutoff);
    },
  };
}
