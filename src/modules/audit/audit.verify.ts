import { timingSafeEqual } from 'node:crypto';
import type pg from 'pg';
import { resolveChainKeys, type ChainKeySource } from './audit.chain-keys.js';
import { CANONICAL_COLUMNS, GENESIS, chainLink, type CanonicalEvent } from './audit.chain-link.js';

export interface ChainProblem {
  /** Chain position where the chain stops matching; null for an event that was never sealed. */
  position: number | null;
  eventId: string | null;
  problem: string;
}

export interface VerifyResult {
  ok: boolean;
  /** Links recomputed. */
  checked: number;
  /** The last link checked: keep it outside the database and pass it back to catch a cut tail. */
  head: { position: number; hash: string } | null;
  firstBad: ChainProblem | null;
  /** Events committed and not yet sealed (sealed within a second or so by the background sealer). */
  pending: number;
  /** The verified checkpoint this run continued from (only links after it were recomputed). */
  since: number | null;
}

export interface VerifyOptions {
  /** Only events at or after this time (and the links that chain them). */
  from?: Date;
  /** Only events before this time. */
  to?: Date;
  /** A checkpoint kept outside the database: the chain must still hold this link. */
  expectedHead?: { position: number; hash: string };
  /** Rows read per round trip. */
  pageSize?: number;
  /** The time to judge pending events by (the app's clock); the database's now() if unset. */
  now?: Date;
  /**
   * A verified checkpoint (audit.checkpoints.ts): recompute only the links after it, from its
   * link, after checking that the chain still holds that link. Ignored with from/to.
   */
  since?: { position: number; link: Buffer };
}

/**
 * Events committed but still unsealed after this long make verify answer `ok: false`: an
 * unsealed event can be edited by whoever bypasses the table's guards and would later be
 * sealed as genuine. The background sealer runs every 200 ms; what holds it back is a
 * transaction that has written something and stays open (README, "For auditors").
 */
export const MAX_PENDING_AGE_MS = 60_000;

type ChainRow = Partial<CanonicalEvent> & {
  position: string;
  event_id: string;
  event_xid: string;
  event_seq: string;
  key_id: string;
  link: Buffer;
  present: boolean;
};

async function positionRange(
  pool: pg.Pool,
  from: Date | undefined,
  to: Date | undefined,
): Promise<{ first: bigint; last: bigint } | null> {
  if (!from && !to) {
    const { rows } = await pool.query<{ last: string | null }>(
      'SELECT max(position)::text AS last FROM audit_chain',
    );
    return rows[0]?.last ? { first: 1n, last: BigInt(rows[0].last) } : null;
  }
  const { rows } = await pool.query<{ first: string | null; last: string | null }>(
    `SELECT min(c.position)::text AS first, max(c.position)::text AS last
       FROM audit_events e JOIN audit_chain c ON c.event_id = e.id
      WHERE ($1::timestamptz IS NULL OR e.at >= $1) AND ($2::timestamptz IS NULL OR e.at < $2)`,
    [from ?? null, to ?? null],
  );
  const row = rows[0];
  return row?.first && row.last ? { first: BigInt(row.first), last: BigInt(row.last) } : null;
}

/**
 * Recomputes every link in chain order and names the first position whose event is missing,
 * changed, out of order or keyed by an unknown key; then looks for events older than the
 * chain's watermark that were never sealed (rows inserted behind the chain's back), and
 * compares an expected head kept outside the database. Reads page by page: constant memory.
 */
export async function verifyChain(
  pool: pg.Pool,
  source: ChainKeySource,
  options: VerifyOptions = {},
): Promise<VerifyResult> {
  const keys = await resolveChainKeys(source);
  const pageSize = options.pageSize ?? 5000;
  const since = options.from || options.to ? undefined : options.since;
  let range = await positionRange(pool, options.from, options.to);
  let checked = 0;
  let head: VerifyResult['head'] = null;
  let firstBad: ChainProblem | null = null;

  if (since) {
    // The link that joins the checkpoint to what is new: the chain must still hold it.
    const { rows } = await pool.query<{ link: Buffer }>(
      'SELECT link FROM audit_chain WHERE position = $1',
      [String(since.position)],
    );
    const held = rows[0]?.link;
    if (!held) {
      firstBad = {
        position: since.position,
        eventId: null,
        problem: 'the chain is shorter than the last verified checkpoint (tail cut)',
      };
    } else if (held.length !== since.link.length || !timingSafeEqual(held, since.link)) {
      firstBad = {
        position: since.position,
        eventId: null,
        problem: 'the link at the last verified checkpoint differs',
      };
    } else {
      head = { position: since.position, hash: held.toString('hex') };
    }
    const first = BigInt(since.position) + 1n;
    range = !firstBad && range && range.last >= first ? { first, last: range.last } : null;
  }

  if (range && !firstBad) {
    let previous: Buffer = since ? since.link : GENESIS;
    if (range.first > 1n && !since) {
      const { rows } = await pool.query<{ link: Buffer }>(
        'SELECT link FROM audit_chain WHERE position = $1',
        [(range.first - 1n).toString()],
      );
      if (rows[0]) previous = rows[0].link;
      else
        firstBad = {
          position: Number(range.first - 1n),
          eventId: null,
          problem: 'chain link missing (deleted)',
        };
    }
    // A range that ends before the chain does is closed by the next link, checked too: it
    // must chain from the range's last link, so an event deleted or changed just past the
    // range's end is not passed over.
    const { rows: tail } = await pool.query<{ last: string | null }>(
      'SELECT max(position)::text AS last FROM audit_chain',
    );
    const chainLast = tail[0]?.last ? BigInt(tail[0].last) : range.last;
    const until = chainLast > range.last ? range.last + 1n : range.last;
    let expected = range.first;
    while (!firstBad && expected <= until) {
      const { rows } = await pool.query<ChainRow>(
        `SELECT c.position::text, c.event_id::text, c.event_xid::text, c.event_seq::text,
                c.key_id, c.link, e.id IS NOT NULL AS present, ${CANONICAL_COLUMNS}
           FROM audit_chain c LEFT JOIN audit_events e ON e.id = c.event_id
          WHERE c.position >= $1 AND c.position <= $2
          ORDER BY c.position
          LIMIT $3`,
        [expected.toString(), until.toString(), pageSize],
      );
      if (rows.length === 0) {
        firstBad = {
          position: Number(expected),
          eventId: null,
          problem: 'chain link missing (deleted)',
        };
        break;
      }
      for (const row of rows) {
        const position = BigInt(row.position);
        const at = { position: Number(position), eventId: row.event_id };
        if (position !== expected) {
          firstBad = {
            position: Number(expected),
            eventId: null,
            problem: 'chain link missing (deleted)',
          };
          break;
        }
        const key = keys.byId.get(row.key_id);
        if (!key) {
          firstBad = { ...at, problem: 'sealed by a key this process does not hold' };
          break;
        }
        if (!row.present) {
          firstBad = { ...at, problem: 'event missing (deleted)' };
          break;
        }
        const event = row as CanonicalEvent & ChainRow;
        const link = chainLink(key, position, previous, event);
        if (
          row.link.length !== link.length ||
          !timingSafeEqual(row.link, link) ||
          event.xid !== row.event_xid ||
          event.seq !== row.event_seq
        ) {
          firstBad = { ...at, problem: 'event content or order does not match the chain' };
          break;
        }
        previous = link;
        expected += 1n;
        if (position > range.last) break; // the closing link: checked, not part of the range
        checked += 1;
        head = { position: Number(position), hash: link.toString('hex') };
      }
    }
  }

  if (!firstBad && options.expectedHead) {
    const { position, hash } = options.expectedHead;
    const { rows } = await pool.query<{ link: Buffer }>(
      'SELECT link FROM audit_chain WHERE position = $1',
      [String(position)],
    );
    if (!rows[0]) {
      firstBad = {
        position,
        eventId: null,
        problem: 'the chain is shorter than the saved head (tail cut)',
      };
    } else if (rows[0].link.toString('hex') !== hash.toLowerCase()) {
      firstBad = { position, eventId: null, problem: 'the link at the saved head differs' };
    }
  }

  // Events the sealer has passed (at or below the watermark) but that have no link.
  const { rows: unsealed } = await pool.query<{
    pending: string;
    behind: string | null;
    oldest: string | null;
    oldest_at: Date | null;
    db_now: Date;
  }>(
    `WITH w AS (SELECT event_xid, event_seq FROM audit_chain ORDER BY position DESC LIMIT 1),
     u AS (
       SELECT e.id, e.xid, e.seq, e.at,
              ((e.xid, e.seq) > (SELECT event_xid, event_seq FROM w)) IS NOT FALSE AS pending
         FROM audit_events e
        WHERE NOT EXISTS (SELECT 1 FROM audit_chain c WHERE c.event_id = e.id)
          AND ($1::timestamptz IS NULL OR e.at >= $1) AND ($2::timestamptz IS NULL OR e.at < $2)
     )
     SELECT (SELECT count(*) FROM u WHERE pending)::text AS pending,
            (SELECT id::text FROM u WHERE NOT pending ORDER BY xid, seq LIMIT 1) AS behind,
            (SELECT id::text FROM u WHERE pending ORDER BY at, id LIMIT 1) AS oldest,
            (SELECT min(at) FROM u WHERE pending) AS oldest_at,
            now() AS db_now`,
    [options.from ?? null, options.to ?? null],
  );
  const pending = Number(unsealed[0]?.pending ?? 0);
  const behind = unsealed[0]?.behind ?? null;
  if (!firstBad && behind) {
    firstBad = {
      position: null,
      eventId: behind,
      problem: 'event was never sealed although the chain passed it (inserted behind the chain)',
    };
  }
  const oldestAt = unsealed[0]?.oldest_at ?? null;
  const now = options.now ?? unsealed[0]?.db_now ?? new Date();
  if (!firstBad && oldestAt && now.getTime() - oldestAt.getTime() > MAX_PENDING_AGE_MS) {
    firstBad = {
      position: null,
      eventId: unsealed[0]?.oldest ?? null,
      problem: `events have stayed unsealed for more than ${MAX_PENDING_AGE_MS / 1000} s (a transaction that wrote something is still open and holds the sealer back); until sealed they are not protected by the chain`,
    };
  }

  return {
    ok: firstBad === null,
    checked,
    head,
    firstBad,
    pending,
    since: since?.position ?? null,
  };
}
