import { ServiceUnavailable, TooManyRequests } from '../../errors.js';

/**
 * How much of this process audit exports may take (API.md "Audit": exports never starve other
 * requests). Each running export holds one connection of the export pool (sized `capacity`,
 * beside the main pool, so normal traffic never waits behind an export) for as long as its
 * reader reads.
 */
export interface ExportLimits {
  /** Exports running at once in this process; the export pool has exactly this many connections. */
  capacity: number;
  /** Exports one user may run at once. */
  perUser: number;
  /** A reader that takes nothing for this long is cut off (ms). */
  idleMs: number;
}

export const DEFAULT_EXPORT_LIMITS: ExportLimits = { capacity: 3, perUser: 2, idleMs: 60_000 };

/** Seconds a refused caller is told to wait: about one idle period, when a slot frees at worst. */
const RETRY_AFTER_SECONDS = 30;

export interface ExportGate {
  /** A slot for `userId`, released by calling the returned function (idempotent). */
  admit(userId: string): () => void;
  readonly running: number;
}

/**
 * Admission to the export pool: `429` once the user runs `perUser` exports, `503` once the
 * process runs `capacity`, both with `Retry-After`, decided before any connection is taken.
 */
export function createExportGate(limits: Pick<ExportLimits, 'capacity' | 'perUser'>): ExportGate {
  const byUser = new Map<string, number>();
  let running = 0;
  return {
    get running() {
      return running;
    },
    admit(userId) {
      const mine = byUser.get(userId) ?? 0;
      if (mine >= limits.perUser) {
        throw new TooManyRequests(
          `You are running ${mine} audit export${mine === 1 ? '' : 's'} already; wait for it to end.`,
          RETRY_AFTER_SECONDS,
        );
      }
      if (running >= limits.capacity) {
        throw new ServiceUnavailable(
          'The service is running as many audit exports as it can; try again shortly.',
          RETRY_AFTER_SECONDS,
        );
      }
      byUser.set(userId, mine + 1);
      running += 1;
      let released = false;
      return () => {
        if (released) return;
        released = true;
        running -= 1;
        const left = (byUser.get(userId) ?? 1) - 1;
        if (left > 0) byUser.set(userId, left);
        else byUser.delete(userId);
      };
    },
  };
}
