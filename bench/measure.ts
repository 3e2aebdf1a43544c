/** What run.ts and ab.ts both measure with: a process's CPU time and the audit chain's lag. */
import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { setTimeout as sleep } from 'node:timers/promises';
import type pg from 'pg';

/**
 * CPU seconds a process has used (user + system), from /proc (Linux); undefined elsewhere.
 * Throughput ratios move with whatever else the machine runs; CPU time per request of a
 * CPU-bound server barely does, so the tables show both.
 */
const CLOCK_TICKS = (() => {
  try {
    return Number(execFileSync('getconf', ['CLK_TCK'], { encoding: 'utf8' }).trim()) || 100;
  } catch {
    return 100;
  }
})();
export function cpuSeconds(pid: number | undefined): number | undefined {
  if (pid === undefined) return undefined;
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    return (Number(fields[11]) + Number(fields[12])) / CLOCK_TICKS;
  } catch {
    return undefined;
  }
}

/**
 * Waits until the audit chain has sealed every event written so far; false if it has not
 * within `timeoutMs`. The services' sealers chain every process's events, so a backlog left
 * by one run would otherwise be sealed, and charged, during the next; each run starts caught
 * up and pays for sealing its own events only, as in production.
 */
export async function chainCaughtUp(pool: pg.Pool, timeoutMs = 120_000): Promise<boolean> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    const { rows } = await pool.query<{ behind: boolean }>(
      `SELECT EXISTS (SELECT 1 FROM audit_events e
         WHERE (e.xid, e.seq) > (SELECT c.event_xid, c.event_seq FROM audit_chain c
                                  ORDER BY c.position DESC LIMIT 1)) AS behind`,
    );
    if (!rows[0]!.behind) return true;
    await sleep(50);
  }
  return false;
}
