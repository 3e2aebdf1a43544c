import { SYSTEM_CONTEXT, type RequestContext } from '../../access/context.js';
import type { ClientKeys } from '../../crypto/index.js';
import { sql } from 'drizzle-orm';
import type { Database, Executor } from '../../db/pool.js';
import { attachments, consents, journalDrafts, journalProducts } from '../../db/schema/index.js';
import { Conflict } from '../../errors.js';
import type { AuditDoor } from '../audit/audit.types.js';
import { forgetClient } from '../idempotency/idempotency.repository.js';
import { clientsRepository as repo, type ClientRow } from './clients.repository.js';
import { scopedClient } from './clients.scope.js';

/**
 * The retention clock of a client: each journal entry is kept for its template's
 * `retentionYears` (else `defaultYears`, RETENTION_YEARS) after it was performed.
 */
export interface RetentionSource {
  /** The latest end of any entry's retention, or null when the client has no entry. */
  retainUntil(executor: Executor, clientId: string, defaultYears: number): Promise<Date | null>;
  /** Live clients not on legal hold, with entries, whose every entry's retention ended by `now`. */
  clientsPastRetention(executor: Executor, now: Date, defaultYears: number): Promise<string[]>;
}

export interface ErasureDeps {
  db: Database;
  keys: ClientKeys<Executor>;
  audit: AuditDoor;
  retentionYears: number;
  retention: RetentionSource;
  clock: () => Date;
  /**
   * Removes erased attachments' content from a store outside the database (S3), after the
   * erasure has committed. Unset: only the rows go (the PostgreSQL store's chunks with them).
   */
  attachmentContent?: AttachmentContentRemover;
}

/** What erasure needs of the attachment store (src/modules/attachments, `discard`). */
export interface AttachmentContentRemover {
  discard(attachmentIds: readonly string[]): Promise<void>;
}

/**
 * Erasure by crypto-shredding (API.md "Clients"): refused while on legal hold or inside the
 * retention period (the latest end of any entry's, under its template); otherwise the data key is
 * destroyed, the blind indexes cleared and the client answers 404 from then on. Audit events
 * stay: ids only.
 */
export function createErasure(deps: ErasureDeps) {
  const { db, keys, audit, clock } = deps;

  /** On a row locked by the caller's transaction. */
  /** Returns the ids of the attachments whose rows went, for the store to remove. */
  async function shred(
    tx: Executor,
    ctx: RequestContext,
    row: ClientRow,
    reason: string | null,
  ): Promise<string[]> {
    // A refused erasure is audited too (API.md "What is audited": 409 refusals).
    const refusal = (rule: 'legal_hold' | 'retention') => ({
      action: 'client.erase',
      outcome: 'denied' as const,
      resourceType: 'client',
      resourceId: row.id,
      clientId: row.id,
      reason: rule,
    });
    if (row.legalHold) {
      throw Conflict.rule(
        'legal_hold',
        'The client is on legal hold; nothing of theirs may be erased.',
        { audit: refusal('legal_hold') },
      );
    }
    const retainUntil = await deps.retention.retainUntil(tx, row.id, deps.retentionYears);
    if (retainUntil !== null) {
      if (retainUntil > clock()) {
        throw Conflict.rule(
          'retention',
          'The journal must be kept until the retention period ends.',
          {
            extensions: { retainUntil: retainUntil.toISOString() },
            audit: refusal('retention'),
          },
        );
      }
    }
    await keys.destroy(tx, row.id);
    // What was remembered for retries goes with the key: those keys answer as never used.
    await forgetClient(tx, row.id);
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
    // Attachments: their chunks are noise without the key, and their rows go too (the chunks
    // with them, ON DELETE CASCADE), so nothing says a photo of this person was ever stored.
    // An S3 store's objects go after the commit (`removeContent`): deleting them here would
    // lose them if this transaction rolled back.
    const { rows: erased } = await tx.execute<{ id: string }>(
      sql`DELETE FROM ${attachments} WHERE ${attachments.clientId} = ${row.id}
          RETURNING ${sql.identifier(attachments.id.name)}`,
    );
    // Unsigned drafts are not part of the record: their rows (author, client, times) go too.
    await tx.execute(sql`DELETE FROM ${journalDrafts} WHERE ${journalDrafts.clientId} = ${row.id}`);
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
    return erased.map((attachment) => attachment.id);
  }

  /**
   * After the commit; a crash (or a store error) before it is done leaves objects without
   * rows, which `purge-expired` sweeps (they are noise anyway: the key is gone).
   */
  async function removeContent(attachmentIds: string[]): Promise<void> {
    if (attachmentIds.length > 0) await deps.attachmentContent?.discard(attachmentIds);
  }

  return {
    async erase(ctx: RequestContext, id: string): Promise<void> {
      const attachmentIds = await db.transaction(async (tx) => {
        const { client } = await scopedClient(tx, ctx, id, 'client.erase', { forUpdate: true });
        const ids = await shred(tx, ctx, client, null);
        // The erasure's own answer (204, no body) is kept apart from the client's.
        await ctx.idempotency?.remember(tx, { clientId: null, body: null });
        return ids;
      });
      await removeContent(attachmentIds);
    },

    /**
     * For `purge-expired`: erases a client whose retention has run out, with the same checks
     * as the admin route (legal hold, retention) made again under the row lock. Returns
     * whether it erased (false: gone already, on hold, or retained after all).
     */
    async eraseExpired(id: string): Promise<boolean> {
      const attachmentIds = await db.transaction(async (tx) => {
        const row = await repo.findLive(tx, id, { forUpdate: true });
        if (!row) return null;
        try {
          return await shred(tx, SYSTEM_CONTEXT, row, 'retention_expired');
        } catch (error) {
          if (error instanceof Conflict) return null;
          throw error;
        }
      });
      if (attachmentIds === null) return false;
      await removeContent(attachmentIds);
      return true;
    },

    /** Ids of live clients whose every journal entry is past its retention period. */
    async expiredClientIds(): Promise<string[]> {
      return deps.retention.clientsPastRetention(db, clock(), deps.retentionYears);
    },
  };
}
