import { sql } from 'drizzle-orm';
import type { Executor } from '../../db/pool.js';

/** How long spent credentials are kept after they can no longer be used (for forensics). */
const KEEP_AFTER_END = sql`interval '1 day'`;

export interface CredentialLeftovers {
  sessions: number;
  throttleCounters: number;
  usedTotpCodes: number;
}

const QUERIES = {
  // Ended sessions (expired or revoked); their refresh tokens go with them (ON DELETE CASCADE).
  sessions: (now: Date) =>
    sql`FROM sessions WHERE coalesce(revoked_at, expires_at) < ${now.toISOString()}::timestamptz - ${KEEP_AFTER_END}`,
  // Login throttles count over 15-minute windows.
  throttleCounters: (now: Date) =>
    sql`FROM throttle_counters WHERE window_started_at < ${now.toISOString()}::timestamptz - ${KEEP_AFTER_END}`,
  // A TOTP code is accepted within one 30-second step of drift; after that replay is impossible.
  usedTotpCodes: (now: Date) =>
    sql`FROM used_totp_codes WHERE used_at < ${now.toISOString()}::timestamptz - ${KEEP_AFTER_END}`,
};

/**
 * Sessions, login throttles and spent TOTP codes that can no longer matter: counted (dry run)
 * or deleted. None of them is personal data beyond ids, but none should grow forever either.
 */
export async function pruneCredentials(
  executor: Executor,
  now: Date,
  apply: boolean,
): Promise<CredentialLeftovers> {
  const counts: CredentialLeftovers = { sessions: 0, throttleCounters: 0, usedTotpCodes: 0 };
  for (const key of Object.keys(QUERIES) as (keyof CredentialLeftovers)[]) {
    const from = QUERIES[key](now);
    const { rows } = apply
      ? await executor.execute<{ n: number }>(
          sql`WITH gone AS (DELETE ${from} RETURNING 1) SELECT count(*)::int AS n FROM gone`,
        )
      : await executor.execute<{ n: number }>(sql`SELECT count(*)::int AS n ${from}`);
    counts[key] = rows[0]?.n ?? 0;
  }
  return counts;
}
