import { createHash } from 'node:crypto';
import type { Database } from '../../db/pool.js';
import { bumpCounter, deleteCounter, readCounters } from './auth.repository.js';
import { KnownRefusals } from './known-refusals.js';

/**
 * Throttling: fixed windows counted in PostgreSQL, so every process sees the same count.
 * Per username (hashed, so the table holds no names) and per address; an address is shared
 * by a clinic's tablets, so its limit is higher.
 */
export const THROTTLE = {
  windowMs: 15 * 60 * 1000,
  loginPerUsername: 10,
  loginPerAddress: 50,
  refreshPerAddress: 30,
} as const;

/** A counter key and the count at which it refuses. */
export type Limit = readonly [key: string, limit: number];

export function usernameKey(username: string): string {
  return `login:user:${createHash('sha256').update(username.toLowerCase(), 'utf8').digest('hex')}`;
}

export interface Throttle {
  /**
   * Seconds until the caller may try again, or null. A key this process already knows to be
   * over its limit is refused without a counter read (KnownRefusals); otherwise PostgreSQL's
   * counters decide, and a refusal there is remembered until its window ends.
   */
  retryAfter(limits: readonly Limit[]): Promise<number | null>;
  /** Whether this process already knows one of the keys to be refused (no database). */
  knownRefused(limits: readonly Limit[]): number | null;
  countFailure(limits: readonly Limit[]): Promise<void>;
  reset(key: string): Promise<void>;
}

export function createThrottle(deps: {
  db: Database;
  clock: () => Date;
  /** Throttle keys this process knows PostgreSQL refuses; one per app (default 10,000 keys). */
  knownRefusals?: KnownRefusals;
}): Throttle {
  const { db, clock } = deps;
  const refusals = deps.knownRefusals ?? new KnownRefusals();

  function knownRefused(limits: readonly Limit[]): number | null {
    const ms = refusals.retryAfterMs(
      limits.map(([key]) => key),
      clock().getTime(),
    );
    return ms === null ? null : ms / 1000;
  }

  return {
    knownRefused,

    async retryAfter(limits) {
      const known = knownRefused(limits);
      if (known !== null) return known;
      const at = clock().getTime();
      const counters = await readCounters(
        db,
        limits.map(([key]) => key),
      );
      let retryAfterMs = 0;
      for (const counter of counters) {
        const limit = limits.find(([key]) => key === counter.key)?.[1] ?? Infinity;
        const windowEnd = counter.windowStartedAt.getTime() + THROTTLE.windowMs;
        if (counter.count >= limit && windowEnd > at) {
          retryAfterMs = Math.max(retryAfterMs, windowEnd - at);
          refusals.remember(counter.key, windowEnd, at);
        }
      }
      return retryAfterMs > 0 ? retryAfterMs / 1000 : null;
    },

    async countFailure(limits) {
      for (const [key, limit] of limits) {
        const at = clock();
        const counter = await bumpCounter(db, key, at, THROTTLE.windowMs);
        // This failure took the shared counter to its limit: every process's next check refuses.
        if (counter.count >= limit) {
          refusals.remember(
            key,
            counter.windowStartedAt.getTime() + THROTTLE.windowMs,
            at.getTime(),
          );
        }
      }
    },

    async reset(key) {
      await deleteCounter(db, key);
      // Only a race (failures reaching the limit while this attempt was hashing) can have taught
      // this process a refusal for the name; another process that learnt it keeps refusing the
      // name until the window ends, as if the success had come a moment later.
      refusals.forget(key);
    },
  };
}
