import { and, asc, eq, gte, inArray, sql } from 'drizzle-orm';
import type { SealedChunk } from '../../crypto/index.js';
import type { Database, Executor } from '../../db/pool.js';
import { attachmentChunks } from '../../db/schema/index.js';

/**
 * Where attachments' sealed chunks live. Only ciphertext ever reaches a store; what the chunks
 * mean (order, final flag, key) is checked by src/crypto/chunked.ts when they are opened.
 */
export interface AttachmentStore {
  readonly kind: 'postgres' | 's3';
  /**
   * Stores the chunks as they come (constant memory). `tx` is the upload's transaction: a
   * database store writes in it, so the chunks commit with the metadata row or not at all.
   * Returns how many chunks were stored.
   */
  put(tx: Executor, attachmentId: string, chunks: AsyncIterable<SealedChunk>): Promise<number>;
  /** The sealed chunks in index order, a few at a time. */
  get(attachmentId: string): AsyncIterable<Buffer>;
  /**
   * Removes the content of attachments whose rows are gone: after an erasure has committed, or
   * an upload rolled back. Called after the transaction, so a store outside the database never
   * deletes what a rolled-back erasure still needs; a crash before it leaves objects that
   * `sweepOrphans` finds. Removing what is not there is fine.
   */
  discard(attachmentIds: readonly string[]): Promise<void>;
  /**
   * Content with no attachment row, last written before `before` (younger content may belong
   * to an upload still running): counted, and removed when `apply`. Returns the attachments.
   */
  sweepOrphans(db: Executor, before: Date, apply: boolean): Promise<number>;
  /** Releases connections (the app's onClose). */
  close(): Promise<void>;
}

/** How many chunks a download reads per query: 8 × 64 KiB. */
const READ_BATCH = 8;

/** The default store: one `attachment_chunks` row per sealed chunk. */
export function createPostgresStore(db: Database): AttachmentStore {
  return {
    kind: 'postgres',
    async put(tx, attachmentId, chunks) {
      let count = 0;
      for await (const chunk of chunks) {
        await tx
          .insert(attachmentChunks)
          .values({ attachmentId, idx: chunk.index, data: chunk.data });
        count++;
      }
      return count;
    },
    async *get(attachmentId) {
      let next = 0;
      for (;;) {
        const rows = await db
          // base64 rather than bytea's hex text: 87 KiB strings a chunk, not 128 KiB ones,
          // which V8 would put in its large-object space (freed only by a full GC), so a
          // download's garbage stays in the young generation (bench: RSS growth).
          .select({
            idx: attachmentChunks.idx,
            data: sql<string>`encode(${attachmentChunks.data}, 'base64')`,
          })
          .from(attachmentChunks)
          .where(
            and(eq(attachmentChunks.attachmentId, attachmentId), gte(attachmentChunks.idx, next)),
          )
          .orderBy(asc(attachmentChunks.idx))
          .limit(READ_BATCH);
        for (const row of rows) {
          // A gap (a deleted row) is passed on as the next chunk: opening it at the wrong
          // index fails, which is the point.
          yield Buffer.from(row.data, 'base64');
          next = row.idx + 1;
        }
        if (rows.length < READ_BATCH) return;
      }
    },
    // The chunks go with their rows (ON DELETE CASCADE), in the same transaction: this only
    // removes what could be left by a row deleted some other way.
    async discard(attachmentIds) {
      if (attachmentIds.length === 0) return;
      await db
        .delete(attachmentChunks)
        .where(inArray(attachmentChunks.attachmentId, [...attachmentIds]));
    },
    // A chunk row cannot outlive its attachment row (the foreign key), so there are none.
    async sweepOrphans() {
      return Promise.resolve(0);
    },
    async close() {
      return Promise.resolve();
    },
  };
}
