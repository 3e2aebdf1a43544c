import type { FastifyBaseLogger } from 'fastify';
import type pg from 'pg';
import type { RequestContext } from '../../access/context.js';
import type { Executor } from '../../db/pool.js';
import { AuditUnavailable, InvalidAuditEvent } from './audit.errors.js';
import { buildAuditRow, type AuditRow } from './audit.event.js';
import { columnArrays, INSERT_AUDIT_EVENTS, insertSql } from './audit.insert.js';
import type { ReasonSealer } from './audit.reasons.js';
import type { AuditDoor, AuditEventInput } from './audit.types.js';

export interface AuditRecorderOptions {
  pool: pg.Pool;
  log?: FastifyBaseLogger;
  /** Flush at once when this many events are queued. */
  maxBatchEvents?: number;
  /** Longest a queued event waits for company while another batch is being written. */
  maxWaitMs?: number;
  /** Batches written at the same time (each holds one pool connection while it commits). */
  maxInFlight?: number;
  /**
   * Seals free-text reasons under the client's data key (audit.reasons.ts). Without one, a
   * free-text reason is not stored at all.
   */
  sealReasons?: ReasonSealer;
}

export interface BatchingAuditRecorder extends AuditDoor {
  /** Writes whatever is queued now and resolves when it is committed (or failed). */
  flush(): Promise<void>;
  /** Flushes, then refuses further events (they reject with AuditUnavailable). */
  close(): Promise<void>;
  /** Counters for tests and the benchmark. */
  readonly stats: { batches: number; events: number; failedBatches: number };
}

interface Pending {
  rows: AuditRow[];
  resolve: () => void;
  reject: (error: unknown) => void;
}

/**
 * The audit door (audit.types.ts). `record()` is group commit: the events of concurrent requests are queued,
 * written by one multi-row INSERT in one autocommit transaction, and only then are all their
 * promises resolved; if that statement fails, every promise of the batch rejects with
 * AuditUnavailable (fail closed). A batch starts at once when nothing is being written (no
 * added latency when idle), otherwise after at most `maxWaitMs` or when `maxBatchEvents`
 * are queued, whichever comes first. `write()` runs in the caller's transaction instead.
 */
export function createAuditRecorder(options: AuditRecorderOptions): BatchingAuditRecorder {
  const { pool, log } = options;
  const maxBatchEvents = options.maxBatchEvents ?? 500;
  const maxWaitMs = options.maxWaitMs ?? 2;
  const maxInFlight = options.maxInFlight ?? 2;
  const stats = { batches: 0, events: 0, failedBatches: 0 };

  let queue: Pending[] = [];
  let queuedEvents = 0;
  let inFlight = 0;
  let timer: NodeJS.Timeout | undefined;
  let immediate: NodeJS.Immediate | undefined;
  let closed = false;
  const writing = new Set<Promise<void>>();

  function takeBatch(): Pending[] {
    const batch: Pending[] = [];
    let events = 0;
    while (queue.length > 0 && (events === 0 || events + queue[0]!.rows.length <= maxBatchEvents)) {
      const next = queue.shift()!;
      events += next.rows.length;
      batch.push(next);
    }
    queuedEvents -= events;
    return batch;
  }

  async function write(batch: Pending[]): Promise<void> {
    const rows = batch.flatMap((pending) => pending.rows);
    try {
      await pool.query(INSERT_AUDIT_EVENTS, columnArrays(rows));
      stats.batches += 1;
      stats.events += rows.length;
      for (const pending of batch) pending.resolve();
    } catch (error) {
      stats.failedBatches += 1;
      log?.error(
        { err: { code: (error as { code?: string }).code }, events: rows.length },
        'audit batch could not be written; failing its requests closed',
      );
      const failure = new AuditUnavailable({ cause: error });
      for (const pending of batch) pending.reject(failure);
    }
  }

  function kick(): void {
    if (timer) clearTimeout(timer);
    if (immediate) clearImmediate(immediate);
    timer = undefined;
    immediate = undefined;
    while (queue.length > 0 && inFlight < maxInFlight) {
      const batch = takeBatch();
      inFlight += 1;
      const done = write(batch).finally(() => {
        inFlight -= 1;
        writing.delete(done);
        // Whatever queued up meanwhile has waited long enough: write it now.
        if (queue.length > 0) kick();
      });
      writing.add(done);
    }
  }

  function schedule(): void {
    if (queuedEvents >= maxBatchEvents) return kick();
    if (inFlight === 0) {
      immediate ??= setImmediate(kick);
    } else {
      timer ??= setTimeout(kick, maxWaitMs);
    }
  }

  function rowsOf(ctx: RequestContext, events: AuditEventInput[]): AuditRow[] {
    const at = new Date();
    return events.map((event) => buildAuditRow(ctx, event, at));
  }

  /** Free text never reaches the table in clear: sealed, or dropped without a sealer. */
  async function sealReasons(executor: Executor | undefined, rows: AuditRow[]): Promise<void> {
    if (!rows.some((row) => row.freeTextReason)) return;
    if (options.sealReasons) {
      try {
        await options.sealReasons(executor, rows);
      } catch (error) {
        throw new AuditUnavailable({ cause: error });
      }
    }
    for (const row of rows) {
      if (row.freeTextReason) row.reason = null;
      delete row.freeTextReason;
    }
  }

  function enqueue(rows: AuditRow[]): Promise<void> {
    if (closed) return Promise.reject(new AuditUnavailable());
    return new Promise<void>((resolve, reject) => {
      queue.push({ rows, resolve, reject });
      queuedEvents += rows.length;
      schedule();
    });
  }

  return {
    stats,
    record(ctx, events) {
      let rows: AuditRow[];
      try {
        rows = rowsOf(ctx, events);
      } catch (error) {
        return Promise.reject(
          error instanceof Error ? error : new InvalidAuditEvent(String(error)),
        );
      }
      if (rows.length === 0) return Promise.resolve();
      if (!rows.some((row) => row.freeTextReason)) return enqueue(rows);
      return sealReasons(undefined, rows).then(() => enqueue(rows));
    },

    async write(executor, ctx, events) {
      const rows = rowsOf(ctx, events);
      if (rows.length === 0) throw new InvalidAuditEvent('a write must record at least one event');
      await sealReasons(executor, rows);
      try {
        await executor.execute(insertSql(rows));
      } catch (error) {
        throw new AuditUnavailable({ cause: error });
      }
    },

    async flush() {
      kick();
      while (writing.size > 0) await Promise.all([...writing]);
    },

    async close() {
      closed = true;
      await this.flush();
      const rest = queue;
      queue = [];
      queuedEvents = 0;
      for (const pending of rest) pending.reject(new AuditUnavailable());
    },
  };
}
