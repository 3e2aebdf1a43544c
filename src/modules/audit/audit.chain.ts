import type { FastifyBaseLogger } from 'fastify';
import type pg from 'pg';
import { resolveChainKeys, type ChainKeySource } from './audit.chain-keys.js';
import { CANONICAL_COLUMNS, chainLink, GENESIS, type CanonicalEvent } from './audit.chain-link.js';

/**
 * The tamper-evident chain over audit_events (DESIGN.md "Audit log").
 *
 * The sealer gives every event a chain position in its own order and stores
 *   link[p] = HMAC-SHA-256(chainKey, "audit-chain/v1" | p | link[p-1] | canonical(event))
 * in audit_chain. The key is a random key the keyring owns (`app.keys.chainKey()`, stored only
 * wrapped under the master key, re-wrapped by rotate-master-key), so whoever can write the
 * database but holds no master key cannot forge a consistent chain. Links sealed before the
 * keyring owned it were made with a key derived from a master key (HKDF, info
 * `audit-chain/v1`); verify still derives those from MASTER_KEY and MASTER_KEYS_OLD.
 *
 * Sequence numbers commit out of order, so the sealer never chains by seq alone: it seals,
 * in (xid, seq) order, only events whose inserting transaction is certainly finished (xid below
 * the horizon, SEAL_HORIZON). Every transaction still running, or yet to start, that could insert
 * an event has a larger xid, so nothing can later appear below the chain's watermark; an event
 * that commits late is sealed by a later batch. One leader at a time (a transaction-level
 * advisory lock) seals; requests never wait on it. The link itself is audit.chain-link.ts, its
 * keys audit.chain-keys.ts.
 */

/** Any constant; the same in every process of this service. */
const SEAL_LOCK = 7_318_201_104;

/**
 * The sealing horizon (xid8, as text): below it, every transaction that could have inserted an
 * audit event has finished, and is visible to the next statement. Not the snapshot's xmin, which
 * any writing transaction anywhere in the cluster holds back (another database's batch job, an
 * operator's open psql session): only the in-progress transactions of backends that can insert
 * into audit_events count, i.e. connected to this database as a role that has (or is a member of
 * a role that has) INSERT on it (the service's runtime role, the owner, superusers), plus
 * prepared transactions of this database. A transaction that ends between the snapshot and the
 * read of pg_stat_activity has committed before the next statement's snapshot, so the events
 * below the horizon are all visible there; an xid not yet assigned will be above the snapshot's
 * xmax. backend_xid is shown for every backend, whoever asks. pg_stat_activity is read once per
 * transaction (stats_fetch_consistency), so this runs once per sealing transaction.
 */
export const SEAL_HORIZON = `
  SELECT least(
    pg_snapshot_xmax(s),
    (SELECT min(x) FROM pg_snapshot_xip(s) AS x
      WHERE x::xid IN (
        SELECT a.backend_xid FROM pg_stat_activity a
         WHERE a.backend_xid IS NOT NULL
           AND (a.datid IS NULL
                OR a.datid = (SELECT d.oid FROM pg_database d WHERE d.datname = current_database()))
           AND (a.usesysid IS NULL OR EXISTS (
                 SELECT 1 FROM pg_roles r
                  WHERE pg_has_role(a.usesysid, r.oid, 'MEMBER')
                    AND has_table_privilege(r.oid, 'audit_events', 'INSERT')))
        UNION ALL
        SELECT p.transaction FROM pg_prepared_xacts p WHERE p.database = current_database()))
  )::text AS horizon
  FROM pg_current_snapshot() AS s`;

export interface SealerOptions {
  pool: pg.Pool;
  keys: ChainKeySource;
  log?: FastifyBaseLogger;
  /** Events sealed per transaction. */
  batchSize?: number;
}

export interface AuditSealer {
  /**
   * Seals what is sealable now. With `wait`, it queues for the leader lock; without, it gives
   * way when another process is sealing. Returns how many events it sealed.
   */
  sealOnce(options?: { wait?: boolean }): Promise<number>;
  /**
   * Seals every event committed before the call (waiting, if need be, for writing transactions
   * that were running at the call to finish, up to `timeoutMs`). For tests, verify and the CLI.
   */
  sealNow(options?: { timeoutMs?: number }): Promise<number>;
  /** The background sealer of this process: every `intervalMs`, timer unref'd. */
  start(intervalMs?: number): void;
  stop(): Promise<void>;
}

interface ChainHead {
  position: bigint;
  link: Buffer;
  xid: string;
  seq: string;
}

async function readHead(client: pg.ClientBase): Promise<ChainHead> {
  const { rows } = await client.query<{
    position: string;
    link: Buffer;
    event_xid: string;
    event_seq: string;
  }>(
    'SELECT c.position::text AS position, c.link, c.event_xid::text AS event_xid, c.event_seq::text AS event_seq FROM audit_chain c ORDER BY c.position DESC LIMIT 1',
  );
  const head = rows[0];
  return head
    ? {
        position: BigInt(head.position),
        link: head.link,
        xid: head.event_xid,
        seq: head.event_seq,
      }
    : { position: 0n, link: GENESIS, xid: '0', seq: '0' };
}

export function createAuditSealer(options: SealerOptions): AuditSealer {
  const { pool, log } = options;
  const batchSize = options.batchSize ?? 5000;
  let interval: NodeJS.Timeout | undefined;
  let running: Promise<unknown> | undefined;

  /** One transaction: under the leader lock, chain the next sealable events. */
  async function sealBatch(client: pg.ClientBase, wait: boolean): Promise<number | null> {
    const keys = await resolveChainKeys(options.keys);
    await client.query('BEGIN');
    try {
      const { rows: lock } = await client.query<{ locked: boolean }>(
        wait
          ? 'SELECT true AS locked FROM pg_advisory_xact_lock($1)'
          : 'SELECT pg_try_advisory_xact_lock($1) AS locked',
        [SEAL_LOCK],
      );
      if (!lock[0]?.locked) {
        await client.query('ROLLBACK');
        return null;
      }
      const head = await readHead(client);
      const { rows: horizon } = await client.query<{ horizon: string }>(SEAL_HORIZON);
      const { rows: events } = await client.query<CanonicalEvent>(
        `SELECT ${CANONICAL_COLUMNS} FROM audit_events e
          WHERE (e.xid, e.seq) > ($1::xid8, $2::bigint)
            AND e.xid < $4::xid8
          ORDER BY e.xid, e.seq
          LIMIT $3`,
        [head.xid, head.seq, batchSize, horizon[0]!.horizon],
      );
      if (events.length === 0) {
        await client.query('ROLLBACK');
        return 0;
      }
      const positions: string[] = [];
      const links: Buffer[] = [];
      let previous: Buffer = head.link;
      let position = head.position;
      for (const event of events) {
        position += 1n;
        previous = chainLink(keys.current.key, position, previous, event);
        positions.push(position.toString());
        links.push(previous);
      }
      await client.query(
        `INSERT INTO audit_chain (position, event_id, event_xid, event_seq, key_id, link)
         SELECT p, e, x, s, $5, l FROM unnest($1::bigint[], $2::uuid[], $3::xid8[], $4::bigint[], $6::bytea[])
           AS t(p, e, x, s, l)`,
        [
          positions,
          events.map((event) => event.id),
          events.map((event) => event.xid),
          events.map((event) => event.seq),
          keys.current.id,
          links,
        ],
      );
      await client.query('COMMIT');
      return events.length;
    } catch (error) {
      await client.query('ROLLBACK').catch(() => undefined);
      throw error;
    }
  }

  async function sealOnce({ wait = false }: { wait?: boolean } = {}): Promise<number> {
    const client = await pool.connect();
    let total = 0;
    try {
      for (;;) {
        const sealed = await sealBatch(client, wait);
        if (sealed === null) return total;
        total += sealed;
        if (sealed < batchSize) return total;
      }
    } finally {
      client.release();
    }
  }

  async function sealNow({ timeoutMs = 10_000 }: { timeoutMs?: number } = {}): Promise<number> {
    // Every transaction that committed before this call has an xid below `target`.
    const { rows } = await pool.query<{ target: string }>(
      'SELECT pg_snapshot_xmax(pg_current_snapshot())::text AS target',
    );
    const target = BigInt(rows[0]!.target);
    const deadline = Date.now() + timeoutMs;
    let total = 0;
    for (;;) {
      total += await sealOnce({ wait: true });
      const { rows: now } = await pool.query<{ horizon: string }>(SEAL_HORIZON);
      if (BigInt(now[0]!.horizon) >= target) {
        return total + (await sealOnce({ wait: true }));
      }
      if (Date.now() > deadline) return total;
      await new Promise((resolve) => setTimeout(resolve, 5));
    }
  }

  return {
    sealOnce,
    sealNow,
    start(intervalMs = 200) {
      if (interval) return;
      interval = setInterval(() => {
        if (running) return;
        running = sealOnce()
          .catch((error: unknown) => {
            log?.warn(
              { err: { code: (error as { code?: string }).code } },
              'audit sealer: batch failed; retrying on the next tick',
            );
          })
          .finally(() => {
            running = undefined;
          });
      }, intervalMs);
      interval.unref();
    },
    async stop() {
      if (interval) clearInterval(interval);
      interval = undefined;
      await running;
    },
  };
}
