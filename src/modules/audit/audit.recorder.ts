import type { FastifyBaseLogger, FastifyRequest } from 'fastify';
import { sql, type SQL } from 'drizzle-orm';
import type pg from 'pg';
import type { Executor } from '../../db/pool.js';
import { AuditUnavailable, InvalidAuditEvent } from './audit.errors.js';
import { buildAuditRow, type AuditRow } from './audit.event.js';
import type { AuditEventInput, AuditRecorder } from './audit.types.js';

/** Columns the door writes, with their array type for `unnest` (seq and xid are defaults). */
const COLUMNS: readonly [string, string, (row: AuditRow) => unknown][] = [
  ['id', 'uuid', (row) => row.id],
  ['at', 'timestamptz', (row) => row.at.toISOString()],
  ['actor_id', 'uuid', (row) => row.actorId],
  ['actor_role', 'text', (row) => row.actorRole],
  ['action', 'text', (row) => row.action],
  ['outcome', 'text', (row) => row.outcome],
  ['resource_type', 'text', (row) => row.resourceType],
  ['resource_id', 'text', (row) => row.resourceId],
  ['client_id', 'uuid', (row) => row.clientId],
  ['request_id', 'text', (row) => row.requestId],
  ['ip', 'text', (row) => row.ip],
  ['user_agent', 'text', (row) => row.userAgent],
  ['break_glass', 'boolean', (row) => row.breakGlass],
  ['reason', 'text', (row) => row.reason],
  ['purpose_of_use', 'text', (row) => row.purposeOfUse],
];

const COLUMN_LIST = COLUMNS.map(([name]) => name).join(', ');

/**
 * One statement for any number of rows: `INSERT ... SELECT * FROM unnest($1::uuid[], ...)`.
 * Its text never changes with the batch size, so PostgreSQL parses it the same way each time.
 */
export const INSERT_AUDIT_EVENTS = `INSERT INTO audit_events (${COLUMN_LIST}) SELECT * FROM unnest(${COLUMNS.map(
  ([, type], index) => `$${index + 1}::${type}[]`,
).join(', ')})`;

export function insertValues(rows: readonly AuditRow[]): unknown[][] {
  return COLUMNS.map(([, , get]) => rows.map(get));
}

/**
 * The door's INSERT as the last part of a caller's data-modifying statement: one copy of the
 * events per row of `source` (a CTE of that statement, e.g. the RETURNING of the row being
 * written; none when nothing was written). The column arrays are parameters `$first`, ... in
 * COLUMNS order, filled by `statementValues()`.
 */
export function auditInsertFrom(source: string, first: number): string {
  const arrays = COLUMNS.map(([, type], index) => `$${first + index}::${type}[]`).join(', ');
  return `INSERT INTO audit_events (${COLUMN_LIST}) SELECT u.* FROM ${source} CROSS JOIN unnest(${arrays}) AS u`;
}

/** The same statement for a drizzle executor (a transaction), built from the same columns. */
function insertSql(rows: readonly AuditRow[]): SQL {
  const arrays = COLUMNS.map(
    ([, type, get]) => sql`${sql.param(rows.map(get))}::${sql.raw(type)}[]`,
  );
  return sql`INSERT INTO audit_events (${sql.raw(COLUMN_LIST)}) SELECT * FROM unnest(${sql.join(arrays, sql`, `)})`;
}

export interface AuditRecorderOptions {
  pool: pg.Pool;
  log?: FastifyBaseLogger;
  /** Flush at once when this many events are queued. */
  maxBatchEvents?: number;
  /** Longest a queued event waits for company while another batch is being written. */
  maxWaitMs?: number;
  /** Batches written at the same time (each holds one pool connection while it commits). */
  maxInFlight?: number;
}

export interface BatchingAuditRecorder extends AuditRecorder {
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
 * The audit door. `record()` is group commit: the events of concurrent requests are queued,
 * written by one multi-row INSERT in one autocommit transaction, and only then are all their
 * promises resolved; if that statement fails, every promise of the batch rejects with
 * AuditUnavailable (fail closed). A batch starts at once when nothing is being written (no
 * added latency when idle), otherwise after at most `maxWaitMs` or when `maxBatchEvents`
 * are queued, whichever comes first.
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
      await pool.query(INSERT_AUDIT_EVENTS, insertValues(rows));
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

  function rowsOf(request: FastifyRequest | null, events: AuditEventInput[]): AuditRow[] {
    const at = new Date();
    return events.map((event) => buildAuditRow(request, event, at));
  }

  return {
    stats,
    record(request, events) {
      let rows: AuditRow[];
      try {
        rows = rowsOf(request, events);
      } catch (error) {
        return Promise.reject(
          error instanceof Error ? error : new InvalidAuditEvent(String(error)),
        );
      }
      if (rows.length === 0) return Promise.resolve();
      if (closed) return Promise.reject(new AuditUnavailable());
      return new Promise<void>((resolve, reject) => {
        queue.push({ rows, resolve, reject });
        queuedEvents += rows.length;
        schedule();
      });
    },

    async recordInTransaction(executor: Executor, request, events) {
      const rows = rowsOf(request, events);
      if (rows.length === 0) return;
      try {
        await executor.execute(insertSql(rows));
      } catch (error) {
        throw new AuditUnavailable({ cause: error });
      }
    },

    statementValues(request, events) {
      const rows = rowsOf(request, events);
      if (rows.length === 0) throw new InvalidAuditEvent('a write must record at least one event');
      return insertValues(rows);
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
