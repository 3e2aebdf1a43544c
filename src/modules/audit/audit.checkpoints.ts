import { createHmac, timingSafeEqual } from 'node:crypto';
import type pg from 'pg';
import { resolveChainKeys, type ChainKeyring, type ChainKeySource } from './audit.chain-keys.js';
import { verifyChain, type VerifyOptions, type VerifyResult } from './audit.verify.js';

/**
 * Incremental verify (API.md "Audit", README "For auditors"). A whole-chain verify that finds
 * nothing wrong leaves a checkpoint: the head it reached (position and link), sealed with an
 * HMAC under the chain key. The next default verify recomputes only the links after the
 * newest checkpoint, starting from its link, and checks that the chain still holds that link
 * (so a cut tail or a rewritten chain past it is caught). What it does not do is recompute the
 * links before the checkpoint again: an event changed there, by someone who bypasses the
 * table's guards, is found by `?full=true` (and by `npm run cli -- verify-audit`, which is
 * always full), and by a ranged verify over it. Everything else verify checks (events never
 * sealed, events left unsealed too long, a saved `head`) it checks on every run.
 */
const INFO = 'audit-verify-checkpoint/v1';

export function checkpointMac(key: Buffer, position: number, link: Buffer): Buffer {
  return createHmac('sha256', key).update(`${INFO}\n${position}\n`).update(link).digest();
}

type Checkpoint = { position: number; link: Buffer };

/**
 * The newest checkpoint sealed by a key this process holds; `forged` when its seal does not
 * match (a row written without the key). Checkpoints of keys no longer configured are passed
 * over, older ones then count.
 */
async function latestCheckpoint(
  pool: pg.Pool,
  keys: ChainKeyring,
): Promise<{ checkpoint: Checkpoint } | { forged: number } | null> {
  const { rows } = await pool.query<{
    position: string;
    link: Buffer;
    key_id: string;
    mac: Buffer;
  }>(
    `SELECT k.position::text AS position, k.link, k.key_id, k.mac
       FROM audit_verify_checkpoints k
      WHERE k.key_id = ANY($1::text[]) ORDER BY k.position DESC LIMIT 1`,
    [[...keys.byId.keys()]],
  );
  const row = rows[0];
  if (!row) return null;
  const position = Number(row.position);
  const mac = checkpointMac(keys.byId.get(row.key_id)!, position, row.link);
  if (row.mac.length !== mac.length || !timingSafeEqual(row.mac, mac)) return { forged: position };
  return { checkpoint: { position, link: row.link } };
}

async function saveCheckpoint(
  pool: pg.Pool,
  keys: ChainKeyring,
  head: { position: number; hash: string },
  at: Date,
): Promise<void> {
  const link = Buffer.from(head.hash, 'hex');
  await pool.query(
    `INSERT INTO audit_verify_checkpoints (position, link, key_id, mac, verified_at)
     VALUES ($1, $2, $3, $4, $5) ON CONFLICT (position) DO NOTHING`,
    [
      String(head.position),
      link,
      keys.current.id,
      checkpointMac(keys.current.key, head.position, link),
      at,
    ],
  );
}

/**
 * The service's verify: incremental from the newest checkpoint unless `full` (or a range is
 * given); a run over the whole chain (or from a checkpoint) that finds nothing wrong leaves a
 * new checkpoint at its head.
 */
export async function verifyIncremental(
  pool: pg.Pool,
  source: ChainKeySource,
  options: VerifyOptions & { full?: boolean } = {},
): Promise<VerifyResult> {
  const { full, ...rest } = options;
  const keys = await resolveChainKeys(source);
  const ranged = Boolean(options.from ?? options.to);
  const latest = full || ranged ? null : await latestCheckpoint(pool, keys);
  const since = latest && 'checkpoint' in latest ? latest.checkpoint : undefined;
  const result = await verifyChain(pool, keys, { ...rest, ...(since && { since }) });
  if (latest && 'forged' in latest && result.ok) {
    return {
      ...result,
      ok: false,
      firstBad: {
        position: latest.forged,
        eventId: null,
        problem: 'a verification checkpoint does not carry a valid seal (forged)',
      },
    };
  }
  if (!ranged && result.ok && result.head) {
    await saveCheckpoint(pool, keys, result.head, options.now ?? new Date());
  }
  return result;
}
